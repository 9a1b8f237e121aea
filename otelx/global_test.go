package otelx

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// inChild runs the calling test alone in a new process of the test
// binary, where the OTel globals have never been set (other tests of this
// package set them, and a global can be set only once from its initial
// state), and reports whether this is that process.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv("OTELX_TEST_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "OTELX_TEST_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	return false
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func TestGlobalProvidersCostNothingUntilAnSDKIsInstalled(t *testing.T) {
	if !inChild(t) {
		return
	}
	mw := NewMiddleware(WithPropagators(w3c))
	var got trace.SpanContext
	var gotW http.ResponseWriter
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
		gotW = w
		w.WriteHeader(http.StatusOK)
	}))

	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/items/1", nil)
	r.Header.Set("User-Agent", "test")
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("no SDK: %v allocations per request, want 0", n)
	}
	if gotW != http.ResponseWriter(w) {
		t.Errorf("no SDK: the handler got %T, want the server's writer", gotW)
	}
	r.Header.Set("Traceparent", incomingTraceparent)
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > 3 {
		t.Errorf("no SDK, caller's traceparent: %v allocations per request, want at most 3", n)
	}
	if got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("no SDK: the handler's trace id is %s, want the caller's", got.TraceID())
	}

	// Installing an SDK later takes effect at once.
	s := newSDK(t, sdktrace.AlwaysSample())
	otel.SetTracerProvider(s.tp)
	otel.SetMeterProvider(s.mp)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/1", nil))
	if n := len(s.ended()); n != 1 {
		t.Errorf("after SetTracerProvider: %d spans, want 1", n)
	}
	if _, ok := s.collect(t)["http.server.request.duration"]; !ok {
		t.Error("after SetMeterProvider: no duration metric")
	}
	if !got.Equal(s.ended()[0].SpanContext()) {
		t.Errorf("after SetTracerProvider: the handler's span context is not the span's")
	}
}
