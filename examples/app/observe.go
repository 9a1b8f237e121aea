package app

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/backstop-go/backstop/otelx"
	"github.com/backstop-go/backstop/problem"
)

// Observe returns the outermost middleware: an OpenTelemetry server span
// and metrics per request (probes excluded), the trace id in a Trace-Id
// response header, one JSON log line per request carrying that trace id,
// and problem.Recover so that a panic is a logged 500 problem inside the
// span. route names the matched route template for routers that do not
// set http.Request.Pattern (nil: the ServeMux pattern).
//
// Callers on the Internet cannot choose our trace ids: their traceparent
// only becomes a link of a new trace.
func (a *App) Observe(route func(*http.Request) string) func(http.Handler) http.Handler {
	opts := []otelx.MiddlewareOption{
		otelx.WithTraceIDHeader("Trace-Id"),
		otelx.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelx.WithTracerProvider(a.Telemetry.TracerProvider()),
		otelx.WithMeterProvider(a.Telemetry.MeterProvider()),
	}
	if route != nil {
		opts = append(opts, otelx.WithRouteFunc(route))
	}
	tel := otelx.NewMiddleware(opts...)
	return func(next http.Handler) http.Handler {
		logged := a.accessLog(problem.Recover(next), route)
		return tel.Handler(logged)
	}
}

// accessLog writes one line per request: method, route template (never the
// raw path or query, which carry what clients typed), status and duration.
// The trace id comes from the context, through otelx's log handler.
func (a *App) accessLog(next http.Handler, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !otelx.DefaultFilter(r) {
			next.ServeHTTP(w, r) // probes: no span, no line
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		name := r.Pattern
		if route != nil {
			if rt := route(r); rt != "" {
				name = rt
			}
		}
		if _, path, found := strings.Cut(name, " "); found {
			name = path // "GET /v1/orders" → "/v1/orders"
		}
		if name == "" {
			name = "unmatched"
		}
		a.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", knownMethod(r.Method)),
			slog.String("route", name),
			slog.Int("status", sw.status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
	})
}

// knownMethod keeps method names bounded in logs, as the HTTP semantic
// conventions do for metrics.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter remembers the status written through it. Unwrap keeps
// http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
