//go:build unix

package redisstore

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/ratelimit"
)

// probing counts the Limiter's calls, and those in progress. Its first
// call gets a deadline of its own, short, so that the outage is noticed
// quickly; later calls run under the Limiter's (long) Timeout.
type probing struct {
	ratelimit.Limiter
	calls, inFlight atomic.Int64
}

func (p *probing) AllowN(ctx context.Context, key string, n int64) (ratelimit.Decision, error) {
	if p.calls.Add(1) == 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
	}
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	return p.Limiter.AllowN(ctx, key, n)
}

// Once RetryStoreAfter has passed after a failure, one request tries the
// store again while the others keep applying OnError: an outage of a hung
// Redis costs one timeout per interval, as Options.RetryStoreAfter says,
// not one per request that arrives while the store is being tried again.
func TestHungRedisCostsOneTimeoutPerInterval(t *testing.T) {
	srv := redistest.NewServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	policies := []ratelimit.Policy{ratelimit.PerHour("h", 100)}
	l, err := New(client, policies, Options{Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AllowN(context.Background(), "warm", 1); err != nil {
		t.Fatal(err) // a pooled connection and the script in the server's cache
	}
	p := &probing{Limiter: l}
	const retryAfter = 2 * time.Second
	m := ratelimit.New(p, func(*http.Request) string { return "k" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, RetryStoreAfter: retryAfter,
		Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems,
	})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code
	}
	resume := srv.Pause(t)
	if c := do(); c != 503 {
		t.Fatalf("first request to a hung Redis: %d, want 503", c)
	}
	failed := time.Now()
	for time.Since(failed) <= retryAfter {
		time.Sleep(10 * time.Millisecond)
	}
	// The interval has passed: this request tries Redis again, and hangs
	// with it until the Limiter's Timeout (a minute) or the resume.
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(resume) // runs before wg.Wait
	wg.Go(func() { do() })
	waitUntil(t, "the retry to reach the Limiter", func() bool { return p.inFlight.Load() == 1 })
	// Requests that arrive meanwhile apply OnError at once.
	var answered atomic.Int64
	for range 4 {
		wg.Go(func() {
			if c := do(); c != 503 {
				t.Errorf("request during the retry: %d, want 503", c)
			}
			answered.Add(1)
		})
	}
	waitUntil(t, "the requests that arrived during the retry to be answered", func() bool {
		if n := p.inFlight.Load(); n > 1 {
			t.Fatalf("%d requests wait for the hung Redis at once (Limiter calls: %d); want one retry per RetryStoreAfter, the others answered by OnError", n, p.calls.Load())
		}
		return answered.Load() == 4
	})
	resume()
	if n := p.calls.Load(); n != 2 {
		t.Fatalf("Limiter called %d times, want 2 (the failure, one retry)", n)
	}
}

// waitUntil polls cond, failing t after a bound generous for a loaded
// machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
