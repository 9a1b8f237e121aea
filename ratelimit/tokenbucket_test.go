package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

// A bucket's refill rate is rarely exact in floating point (5 per 19s is
// 0.263157… tokens a second), so the wait computed from it can fall short
// of the moment x/time/rate's own arithmetic has the tokens. RetryAfter,
// and the Retry-After header made from it, must never be that moment's
// predecessor: a client that waits exactly as long is denied again.
func TestTokenBucketRetryAfterIsNotEarly(t *testing.T) {
	ctx := context.Background()
	policies := []ratelimit.Policy{{Name: "slow", Limit: 5, Window: 19 * time.Second}}
	t.Run("limiter", func(t *testing.T) {
		clock := limitertest.NewClock()
		l, err := ratelimit.NewTokenBucket(policies, ratelimit.MemoryOptions{Clock: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := l.AllowN(ctx, "k", 5); !d.Allowed {
			t.Fatalf("first burst denied: %+v", d)
		}
		d, _ := l.AllowN(ctx, "k", 1)
		if d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("want a denial with a wait: %+v", d)
		}
		clock.Advance(d.RetryAfter)
		if again, _ := l.AllowN(ctx, "k", 1); !again.Allowed {
			t.Fatalf("denied again once RetryAfter %v passed: %+v", d.RetryAfter, again)
		}
	})
	t.Run("middleware", func(t *testing.T) {
		clock := limitertest.NewClock()
		l, err := ratelimit.NewTokenBucket(policies, ratelimit.MemoryOptions{Clock: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		h := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{ErrorHandler: quietProblems}).
			Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		do := func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			return rec
		}
		for range 5 {
			do()
		}
		clock.Advance(800 * time.Millisecond) // the wait is then 3s to the nanosecond, in real numbers
		rec := do()
		secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != http.StatusTooManyRequests || err != nil {
			t.Fatalf("got %d with Retry-After %q, want 429 with delay-seconds", rec.Code, rec.Header().Get("Retry-After"))
		}
		clock.Advance(time.Duration(secs) * time.Second)
		if again := do(); again.Code != http.StatusOK {
			t.Fatalf("denied again %ds later, as Retry-After said: %d, RateLimit %q", secs, again.Code, again.Header().Get("RateLimit"))
		}
	})
}

// A denied request consumes nothing, so a bucket that admitted it on its
// own reports the state it is really in: the same Remaining and Reset (the
// time until it is full) as a request of cost 0 sees, and the 429's
// RateLimit field says so.
func TestTokenBucketDenialReportsUnconsumedBuckets(t *testing.T) {
	ctx := context.Background()
	clock := limitertest.NewClock()
	l, err := ratelimit.NewTokenBucket([]ratelimit.Policy{
		{Name: "a", Limit: 1, Window: 10 * time.Second},
		{Name: "b", Limit: 10, Window: 10 * time.Second}, // refills a unit a second
	}, ratelimit.MemoryOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{ErrorHandler: quietProblems}).
		Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got, want := rec.Header().Get("RateLimit"), `"a";r=0;t=10, "b";r=9;t=1`; rec.Code != http.StatusTooManyRequests || got != want {
		t.Errorf("second request: %d with RateLimit %q, want 429 with %q", rec.Code, got, want)
	}
	denied, _ := l.AllowN(ctx, "k", 1)
	probe, _ := l.AllowN(ctx, "k", 0)
	if denied.Allowed || denied.Result(1) != probe.Result(1) {
		t.Errorf("b in a denial: %+v; as it is: %+v", denied.Result(1), probe.Result(1))
	}
}
