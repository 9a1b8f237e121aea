package health_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/backstop-go/backstop/health"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a
// benchmark counts the handler's own allocations only.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func fiveChecks(tb testing.TB, opts health.Options, co health.CheckOptions) *health.Registry {
	opts.Logger = quiet
	reg := health.New(opts)
	tb.Cleanup(reg.Close)
	for i := range 5 {
		reg.Register("check"+strconv.Itoa(i), pass, co)
	}
	return reg
}

func serveDiscard(b *testing.B, h http.Handler, target string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", target, nil)
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

// The handler alone, without httptest's recorder; bench/ compares whole
// requests with the peers.
func BenchmarkReadyz(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		serveDiscard(b, fiveChecks(b, health.Options{}, health.CheckOptions{}).Handler(health.Ready), "/readyz")
	})
	b.Run("cached-verbose-text", func(b *testing.B) {
		serveDiscard(b, fiveChecks(b, health.Options{}, health.CheckOptions{}).Handler(health.Ready), "/readyz?verbose")
	})
	b.Run("every-request", func(b *testing.B) {
		serveDiscard(b, fiveChecks(b, health.Options{TTL: -1}, health.CheckOptions{}).Handler(health.Ready), "/readyz")
	})
}

func BenchmarkCheck(b *testing.B) {
	reg := fiveChecks(b, health.Options{}, health.CheckOptions{})
	b.ReportAllocs()
	for b.Loop() {
		reg.Check(context.Background(), health.Ready)
	}
}

// Serving a probe from fresh results allocates nothing and so starts no
// goroutine.
func TestCachedProbeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	reg := fiveChecks(t, health.Options{}, health.CheckOptions{TTL: 1 << 62})
	h := reg.Handler(health.Ready)
	req := httptest.NewRequest("GET", "/readyz", nil)
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, req) // first results
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); n != 0 {
		t.Errorf("%v allocations per cached probe, want 0", n)
	}
}
