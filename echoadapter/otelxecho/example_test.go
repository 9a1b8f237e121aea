package otelxecho_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/echoadapter/otelxecho"
	"github.com/backstop-go/backstop/otelx"
)

// Spans are named by echo's route template, and a returned error is
// recorded with the status echo's error handler gave it.
func ExampleMiddleware() {
	spans := tracetest.NewSpanRecorder() // a program calls otelx.Setup instead
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	e.Use(otelxecho.Middleware(otelx.NewMiddleware(otelx.WithTracerProvider(tp))), middleware.Recover())
	e.GET("/orders/:id", func(c echo.Context) error {
		if c.Param("id") == "7" {
			return echo.NewHTTPError(http.StatusNotFound, "No order 7.")
		}
		return c.JSON(http.StatusOK, map[string]string{"id": c.Param("id")})
	})

	for _, path := range []string{"/orders/1", "/orders/7", "/readyz"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	for _, s := range spans.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.status_code" {
				fmt.Println(s.Name(), kv.Value.AsInt64())
			}
		}
	}
	// Output:
	// GET /orders/:id 200
	// GET /orders/:id 404
}
