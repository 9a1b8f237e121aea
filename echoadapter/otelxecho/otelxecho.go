// Package otelxecho runs otelx's HTTP telemetry in echo (v4) as echo
// middleware, with span names and http.route taken from echo's route
// template:
//
//	e := echo.New()
//	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
//	e.Use(otelxecho.Middleware(otelx.NewMiddleware()), middleware.Recover())
//	e.GET("/orders/:id", getOrder) // spans "GET /orders/:id"
//
// It is a module of its own (github.com/backstop-go/backstop/echoadapter/otelxecho)
// because otelx brings the OpenTelemetry SDK and its exporters (gRPC,
// Prometheus): programs that use echoadapter without otelx do not have
// them in their module graph.
package otelxecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/otelx"
)

// Middleware returns m as echo middleware. Register it first with e.Use,
// which echo runs once it has routed the request, and put echo's Recover
// after it:
//
//	e.Use(otelxecho.Middleware(tel), middleware.Recover())
//
// The span of a request is named "{method} {route}", with http.route set
// to the route, where route is the template of the route echo matched
// (c.Path(), "/orders/:id"), recorded as the request's Pattern in
// http.ServeMux's form ("GET /orders/:id") so that m names it as it names
// ServeMux routes; a request that matches no route is named by its method
// alone. The other conventions are otelx's: m's filter (by default, no
// span and no metrics for the health and metrics paths /livez, /readyz,
// /healthz, /startupz, /metrics and the paths under them), its metrics and
// its options.
//
// The status recorded is the one the client gets: an error the rest of
// the chain returns is rendered inside m, by the Echo's HTTPErrorHandler,
// as [echoadapter.Wrap] does, so a handler returning
// echo.NewHTTPError(404) or a *problem.Problem is recorded with its
// status, and a plain error as echo's handler renders it (a 500). Echo's
// own 404 and 405 are errors too, and recorded as such.
//
// Inside the chain, c.Request() carries the span in its context (so
// problem's traceId and otelx's log handler line up) and c.Response()
// writes through m's ResponseWriter. It panics if m is nil or was not
// made by otelx.NewMiddleware.
func Middleware(m *otelx.Middleware) echo.MiddlewareFunc {
	if m == nil {
		panic("otelxecho: Middleware of a nil *otelx.Middleware")
	}
	_ = m.Handler(http.NotFoundHandler()) // panics unless m was made by NewMiddleware
	wrapped := echoadapter.Wrap(m.Handler)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := wrapped(next)
		return func(c echo.Context) error {
			if p := c.Path(); p != "" {
				r := c.Request()
				r.Pattern = r.Method + " " + p
			}
			return h(c)
		}
	}
}
