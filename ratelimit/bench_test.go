package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
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
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, req)
	}
}

// BenchmarkSlidingWindowParallelOwnKeys has each goroutine decide for its
// own 1024 keys, spread over all shards: run it with -cpu 1,2 to see how
// decisions scale across cores. (Decisions for one hot key serialise on
// that key's own lock.)
func BenchmarkSlidingWindowParallelOwnKeys(b *testing.B) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{{Name: "d", Limit: 1 << 50, Window: time.Hour}}, ratelimit.MemoryOptions{})
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := seq.Add(1)
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "g" + strconv.FormatInt(g, 10) + "-" + strconv.Itoa(i)
		}
		for i := 0; pb.Next(); i++ {
			if d, _ := l.AllowN(ctx, keys[i&1023], 1); !d.Allowed {
				b.Error("denied")
				return
			}
		}
	})
}
