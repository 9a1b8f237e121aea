// Package otelxgin runs otelx's HTTP telemetry in gin as gin middleware,
// with span names and http.route taken from gin's route template:
//
//	r := gin.New()
//	r.Use(otelxgin.Middleware(otelx.NewMiddleware()), ginadapter.Problems(nil), gin.Recovery())
//	r.GET("/orders/:id", getOrder) // spans "GET /orders/:id"
//
// It is a module of its own (github.com/backstop-go/backstop/ginadapter/otelxgin)
// because otelx brings the OpenTelemetry SDK and its exporters (gRPC,
// Prometheus): programs that use ginadapter without otelx do not have
// them in their module graph.
package otelxgin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/otelx"
)

// Middleware returns m as gin middleware. Use it first on the engine, so
// that its span covers the rest, with gin.Recovery after it:
//
//	r.Use(otelxgin.Middleware(tel), ginadapter.Problems(nil), gin.Recovery())
//
// The span of a request is named "{method} {route}", with http.route set
// to the route, where route is the template of the route gin matched
// (c.FullPath(), "/orders/:id"), recorded as the request's Pattern in
// http.ServeMux's form ("GET /orders/:id") so that m names it as it names
// ServeMux routes; a request that matches no route is named by its method
// alone. The other conventions are otelx's: m's filter (by default, no
// span and no metrics for the health and metrics paths /livez, /readyz,
// /healthz, /startupz, /metrics and the paths under them), its metrics and
// its options.
//
// The status recorded is the one the client gets: handlers write to
// c.Writer, which writes through m's ResponseWriter for the rest of the
// chain (see [ginadapter.Wrap]), so c.JSON, c.Status and
// c.AbortWithStatus are recorded with their status, and under
// ginadapter.Problems so are the problems it writes for c.Errors. gin
// writes the body of its own 404 and 405 after the chain has returned;
// their status is recorded, their body size is not.
//
// Inside the chain, c.Request carries the span in its context (so
// problem's traceId and otelx's log handler line up). It panics if m is
// nil or was not made by otelx.NewMiddleware.
func Middleware(m *otelx.Middleware) gin.HandlerFunc {
	if m == nil {
		panic("otelxgin: Middleware of a nil *otelx.Middleware")
	}
	_ = m.Handler(http.NotFoundHandler()) // panics unless m was made by NewMiddleware
	wrapped := ginadapter.Wrap(func(next http.Handler) http.Handler {
		return m.Handler(pendingStatus{next})
	})
	return func(c *gin.Context) {
		if p := c.FullPath(); p != "" {
			c.Request.Pattern = c.Request.Method + " " + p
		}
		wrapped(c)
	}
}

// pendingStatus is the rest of the chain, after which a status gin keeps
// pending without a body is passed to m's writer. gin answers a request
// that matches no route (404) or no method (405) by setting the status
// before the chain runs and writing the body once it has returned, after
// m has seen the end of the response; a status set on gin's writer is not
// written yet, so setting it again sends nothing early and changes
// nothing the client gets.
type pendingStatus struct{ next http.Handler }

func (p pendingStatus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.next.ServeHTTP(w, r)
	if gw := ginWriter(w); gw != nil && !gw.Written() && gw.Status() != http.StatusOK {
		w.WriteHeader(gw.Status())
	}
}

// ginWriter returns the gin.ResponseWriter under w, or nil.
func ginWriter(w http.ResponseWriter) gin.ResponseWriter {
	for range 8 {
		if gw, ok := w.(gin.ResponseWriter); ok {
			return gw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}
