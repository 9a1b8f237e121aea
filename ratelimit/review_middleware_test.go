package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
)

// A negative cost (a Cost function bug, e.g. Content-Length of -1 for a
// chunked body) must not pause the Limiter for every other request: before
// the fix one such request opened the circuit and all requests failed open
// for RetryStoreAfter.
func TestReviewNegativeCostDoesNotDisableLimiting(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{
		Cost: func(r *http.Request) int64 {
			if r.Header.Get("Neg") != "" {
				return -1
			}
			return 1
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Key", "attacker")
	req.Header.Set("Neg", "1")
	e.h.ServeHTTP(httptest.NewRecorder(), req)
	if got := e.meter.get("ratelimit.dry_run=false,ratelimit.failure_policy=open,ratelimit.result=error"); got != 1 {
		t.Fatalf("negative cost: error count %d, want 1 (%v)", got, e.meter.counts)
	}
	if a, b := e.do("victim").Code, e.do("victim").Code; a != 200 || b != 429 {
		t.Fatalf("after a negative cost: %d %d, want 200 429 (limiting still on)", a, b)
	}
}

// A client-controlled cost (say Content-Length) can be huge; the middleware
// clamps it so no limiter counter can overflow into admitting everything.
func TestReviewHugeCostNeverAdmitted(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.Options{
		Cost: func(r *http.Request) int64 {
			if c := r.Header.Get("Cost"); c != "" {
				n, _ := strconv.ParseInt(c, 10, 64)
				return n
			}
			return 1
		},
	})
	if c := e.do("k").Code; c != 200 {
		t.Fatalf("first: %d", c)
	}
	for _, cost := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Key", "k")
		req.Header.Set("Cost", strconv.FormatInt(cost, 10))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "" {
			t.Fatalf("cost %d: %d Retry-After %q, want 429 without Retry-After", cost, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if a, b := e.do("k").Code, e.do("k").Code; a != 200 || b != 429 {
		t.Fatalf("after huge costs: %d %d, want 200 429", a, b)
	}
}

// A request whose cost exceeds one policy's quota can never succeed, even if
// another violated policy would free capacity later: no Retry-After, and the
// binding policy is the one it can never satisfy.
func TestReviewNoRetryAfterWhenOnePolicyCanNeverAdmit(t *testing.T) {
	policies := []ratelimit.Policy{ratelimit.PerSecond("short", 5), ratelimit.PerHour("long", 8)}
	e := newEnv(t, policies, ratelimit.Options{
		Cost: func(r *http.Request) int64 {
			n, _ := strconv.ParseInt(r.Header.Get("Cost"), 10, 64)
			return n
		},
	})
	do := func(cost int) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Key", "k")
		req.Header.Set("Cost", strconv.Itoa(cost))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec
	}
	if c := do(4).Code; c != 200 {
		t.Fatalf("cost 4: %d", c)
	}
	rec := do(6) // short: 6 > 5, never; long: 4+6 > 8, later
	if rec.Code != 429 {
		t.Fatalf("cost 6: %d", rec.Code)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "" {
		t.Fatalf("Retry-After %q for a request that can never succeed", ra)
	}
	if !strings.Contains(rec.Body.String(), `"violated-policies":["short","long"]`) {
		t.Fatalf("body %s", rec.Body)
	}

	l, _ := ratelimit.NewSlidingWindow(policies, ratelimit.MemoryOptions{})
	ctx := context.Background()
	_, _ = l.AllowN(ctx, "k", 4)
	d, _ := l.AllowN(ctx, "k", 6)
	if d.Allowed || d.RetryAfter != 0 || d.Binding() != 0 || d.Limit != 5 || d.Result(1).RetryAfter <= 0 {
		t.Fatalf("decision %+v: want denied, RetryAfter 0, binding short", d)
	}
}

// shortDecision is a Limiter whose decisions have the wrong number of
// results (a buggy third-party Limiter, or one whose Policies changed).
type shortDecision struct{ ratelimit.Limiter }

func (s shortDecision) AllowN(context.Context, string, int64) (ratelimit.Decision, error) {
	two := []ratelimit.Policy{ratelimit.PerMinute("a", 1), ratelimit.PerMinute("b", 1)}
	return ratelimit.NewDecision(two, []ratelimit.Result{{Allowed: true}, {Allowed: true}}), nil
}

type emptyDecision struct{ ratelimit.Limiter }

func (emptyDecision) AllowN(context.Context, string, int64) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, nil
}

// Before the fix a Decision with more results than policies panicked at
// request time (index out of range), and an empty one gave a 429 claiming
// the request costs more than the quota.
func TestReviewMismatchedDecisionIsALimiterFailure(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("a", 1)}, ratelimit.MemoryOptions{})
	for name, l := range map[string]ratelimit.Limiter{"more results": shortDecision{inner}, "no results": emptyDecision{inner}} {
		t.Run(name, func(t *testing.T) {
			m, err := ratelimit.NewMiddleware(l, func(*http.Request) string { return "k" }, ratelimit.Options{
				OnError: ratelimit.FailClosed, Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems,
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != 503 {
				t.Fatalf("status %d, want 503 (FailClosed)", rec.Code)
			}
		})
	}
}

// Under FailClosed the default ErrorHandler used to log every 503 of an
// outage through problem.Write, defeating Options.Logger's one record per
// second.
func TestReviewDefaultErrorHandlerDoesNotLogEach503(t *testing.T) {
	var global bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&global, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	f.down.Store(true)
	var logs bytes.Buffer
	m, err := ratelimit.NewMiddleware(f, func(*http.Request) string { return "k" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, Logger: slog.New(slog.NewTextHandler(&logs, nil)), RetryStoreAfter: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	start := time.Now()
	for i := 0; i < 5; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "ErrUnavailable") {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	// The middleware logs at most one record per second of wall time: on a
	// machine so loaded that the five requests spanned seconds, more
	// records are right.
	n := strings.Count(logs.String(), "\n")
	if n < 1 || n > 1+int(time.Since(start)/time.Second) {
		t.Fatalf("middleware logged %d records in %v, want 1 per second:\n%s", n, time.Since(start), logs.String())
	}
	if global.Len() != 0 {
		t.Fatalf("the default ErrorHandler logged the 503s:\n%s", global.String())
	}
}

// Quotas beyond the structured-field integer range are advertised as its
// maximum, so parsers do not reject the whole field; limits that would
// overflow or lose float precision are rejected.
func TestReviewHeaderIntegersStayInRange(t *testing.T) {
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{{Name: "big", Limit: 1 << 52, Window: time.Hour}}, ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ratelimit.NewMiddleware(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("RateLimit-Policy"); got != `"big";q=999999999999999;w=3600` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	if got := rec.Header().Get("RateLimit"); got != `"big";r=999999999999999;t=3600` { // r = 2^52-1
		t.Fatalf("RateLimit %q", got)
	}
	for name, p := range map[string]ratelimit.Policy{
		"limit beyond 2^52": {Name: "a", Limit: 1<<52 + 1, Window: time.Second},
		"max int64":         {Name: "a", Limit: math.MaxInt64, Window: time.Second},
		"window overflows":  {Name: "a", Limit: 1, Window: 200 * 365 * 24 * time.Hour},
	} {
		if err := ratelimit.ValidatePolicies([]ratelimit.Policy{p}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ratelimit.ValidatePolicies([]ratelimit.Policy{{Name: "a", Limit: 1 << 52, Window: ratelimit.MaxWindowLength}}); err != nil {
		t.Errorf("largest policy rejected: %v", err)
	}
}

// The legacy reset must be the Unix time of the window's end, not just any
// ten-digit number (the original test could not fail on its value).
func TestReviewLegacyResetIsEpochOfWindowEnd(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 5)}, ratelimit.MemoryOptions{})
	m, _ := ratelimit.NewMiddleware(l, func(*http.Request) string { return "k" }, ratelimit.Options{LegacyHeaders: true})
	before := time.Now().Unix()
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	after := time.Now().Unix()
	reset, err := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < before+59 || reset > after+61 {
		t.Fatalf("X-RateLimit-Reset %q, want about %d", rec.Header().Get("X-RateLimit-Reset"), before+60)
	}
}

// Header keys are bounded: a megabyte header value must not become a
// megabyte key in the limiter's table or in Redis.
func TestReviewHeaderKeyBounded(t *testing.T) {
	key := ratelimit.Header("X-Api-Key", nil)
	req := httptest.NewRequest("GET", "/", nil)
	long := strings.Repeat("x", 1<<20)
	req.Header.Set("X-Api-Key", long)
	k1 := key(req)
	req.Header.Set("X-Api-Key", long+"y")
	k2 := key(req)
	if len(k1) > 80 || len(k2) > 80 || k1 == k2 || !strings.HasPrefix(k1, "h#") {
		t.Fatalf("long values: keys %.40q (%d bytes) and %.40q", k1, len(k1), k2)
	}
	req.Header.Set("X-Api-Key", strings.Repeat("y", 64))
	if got := key(req); got != "h:"+strings.Repeat("y", 64) {
		t.Fatalf("64-byte value: %q", got)
	}
}

// A request whose context deadline passed (a request budget set by an outer
// middleware) used to get nothing written at all, so net/http sent an empty
// 200 for a request that was neither limited nor served. It must be handled
// by the failure policy, and must not pause the Limiter for other requests.
func TestReviewExpiredDeadlineIsNotAnEmpty200(t *testing.T) {
	for _, tc := range []struct {
		policy ratelimit.FailurePolicy
		code   int
		calls  int64
	}{
		{ratelimit.FailOpen, 200, 1},
		{ratelimit.FailClosed, 503, 0},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{
				OnError: tc.policy, Logger: slog.New(slog.DiscardHandler),
			})
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
			req.Header.Set("Key", "budget")
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != tc.code || e.calls.Load() != tc.calls || (tc.code == 503 && rec.Body.Len() == 0) {
				t.Fatalf("expired deadline: status %d, next called %d times, body %q; want %d, %d",
					rec.Code, e.calls.Load(), rec.Body, tc.code, tc.calls)
			}
			if a, b := e.do("other").Code, e.do("other").Code; a != 200 || b != 429 {
				t.Fatalf("after an expired deadline: %d %d, want 200 429 (Limiter not paused)", a, b)
			}
		})
	}
}
