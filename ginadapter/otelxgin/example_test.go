package otelxgin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/ginadapter/otelxgin"
	"github.com/backstop-go/backstop/otelx"
)

// Spans are named by gin's route template, with the status the handler
// wrote to c.Writer.
func ExampleMiddleware() {
	spans := tracetest.NewSpanRecorder() // a program calls otelx.Setup instead
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	r := gin.New()
	r.Use(otelxgin.Middleware(otelx.NewMiddleware(otelx.WithTracerProvider(tp))), ginadapter.Problems(nil), gin.Recovery())
	r.GET("/orders/:id", func(c *gin.Context) {
		if c.Param("id") == "7" {
			c.JSON(http.StatusNotFound, gin.H{"error": "No order 7."})
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": c.Param("id")})
	})

	for _, path := range []string{"/orders/1", "/orders/7", "/readyz"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
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
