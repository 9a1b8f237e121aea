package otelx_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/otelx"
)

func ExampleSetup() {
	ctx := context.Background()
	// What is exported, and where, comes from the OTEL_* variables, for
	// instance OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318. With none
	// set, nothing is exported and the middleware costs nothing.
	tel, err := otelx.Setup(ctx, otelx.WithServiceName("orders"), otelx.WithServiceVersion("1.4.0"))
	if err != nil {
		log.Fatal(err) // an OTEL_* variable names something unknown
	}
	defer func() {
		// Last, once the server has stopped, so that its final spans and
		// logs go out; bounded (5 s by default).
		if err := tel.Shutdown(context.Background()); err != nil {
			slog.Warn("telemetry was not flushed", "error", err)
		}
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "order", r.PathValue("id"))
	})
	srv := &http.Server{Addr: ":8080", Handler: otelx.NewMiddleware().Handler(mux)}
	_ = srv // srv.ListenAndServe(), then srv.Shutdown(ctx) on SIGTERM
	fmt.Println("ready")
	// Output: ready
}

func ExampleMiddleware_Handler() {
	// An in-memory SDK, to show what the middleware records.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such order", http.StatusNotFound)
	})
	mw := otelx.NewMiddleware(otelx.WithTracerProvider(tp), otelx.WithTraceIDHeader("Trace-Id"))
	handler := mw.Handler(mux) // outside the mux: the route is read after routing

	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest("GET", "/orders/42", nil))

	span := spans.Ended()[0]
	fmt.Println(span.Name())
	fmt.Println(w.Header().Get("Trace-Id") == span.SpanContext().TraceID().String())
	for _, kv := range span.Attributes() {
		switch kv.Key {
		case "http.route", "http.response.status_code":
			fmt.Println(kv.Key, kv.Value.String())
		}
	}
	// Output:
	// GET /orders/{id}
	// true
	// http.route /orders/{id}
	// http.response.status_code 404
}

func ExampleNewLogHandler() {
	logger := slog.New(otelx.NewLogHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: dropTime, // for a stable example output
	})))

	// In a handler behind the middleware, r.Context() holds the span.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
	logger.InfoContext(ctx, "order read", "order", 42)
	logger.Info("no context, no trace")
	// Output:
	// {"level":"INFO","msg":"order read","order":42,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}
	// {"level":"INFO","msg":"no context, no trace"}
}

// Logs to stdout with trace ids and, when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_LOGS_EXPORTER) says so, over OTLP through the otelslog bridge,
// which carries the trace context in the OTLP record itself.
func ExampleNewLogHandler_otelslog() {
	tel, err := otelx.Setup(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer tel.Shutdown(context.Background())

	logger := slog.New(slog.NewMultiHandler(
		otelx.NewLogHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		otelslog.NewHandler("orders", otelslog.WithLoggerProvider(tel.LoggerProvider())),
	))
	logger.InfoContext(context.Background(), "started")
	// Output:
	// {"level":"INFO","msg":"started"}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
