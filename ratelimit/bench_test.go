package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
)

// Peer comparisons live in the bench module; these track this package alone.
func BenchmarkSlidingWindowAllow(b *testing.B) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{{Name: "d", Limit: 1 << 50, Window: time.Hour}}, ratelimit.MemoryOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := l.AllowN(ctx, "k", 1); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{{Name: "d", Limit: 1 << 50, Window: time.Hour}}, ratelimit.MemoryOptions{})
	m, _ := ratelimit.NewMiddleware(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, req)
	}
}
