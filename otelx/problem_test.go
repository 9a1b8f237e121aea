package otelx

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backstop-go/backstop/problem"
)

// A problem written behind the middleware carries, as its traceId member,
// the trace id of the request's span, which the trace id header repeats:
// a client quoting either finds the trace. That holds for a problem the
// handler returns, a generic 500, a recovered panic, and a request that
// continues its caller's trace.
func TestProblemTraceIDIsTheSpansTraceID(t *testing.T) {
	quiet := problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})
	outOfCredit := problem.Type{URI: "https://example.com/probs/out-of-credit", Title: "You do not have enough credit.", Status: http.StatusPaymentRequired}
	for _, tc := range []struct {
		name        string
		handler     http.Handler
		traceparent string
		status      int
	}{
		{name: "returned problem", status: http.StatusPaymentRequired, handler: quiet.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return outOfCredit.New("Your balance is 30.")
		})},
		{name: "generic 500", status: http.StatusInternalServerError, handler: quiet.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return errors.New("database down")
		})},
		{name: "recovered panic", status: http.StatusInternalServerError, handler: quiet.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("boom")
		}))},
		{name: "caller's trace", status: http.StatusPaymentRequired, traceparent: incomingTraceparent, handler: quiet.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return outOfCredit.New("")
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSDK(t, sdktrace.AlwaysSample())
			mux := http.NewServeMux()
			mux.Handle("GET /orders/{id}", tc.handler)
			r := httptest.NewRequest("GET", "/orders/7", nil)
			if tc.traceparent != "" {
				r.Header.Set("Traceparent", tc.traceparent)
			}
			w := serve(s.middleware(WithTraceIDHeader("Trace-Id")).Handler(mux), r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			var body struct {
				TraceID string `json:"traceId"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			spans := s.ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			want := spans[0].SpanContext().TraceID().String()
			if body.TraceID != want {
				t.Errorf("traceId %q, want the span's %q", body.TraceID, want)
			}
			if got := w.Header().Get("Trace-Id"); got != want {
				t.Errorf("Trace-Id header %q, want %q", got, want)
			}
			if tc.traceparent != "" && want != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("span's trace %s is not the caller's", want)
			}
		})
	}
}
