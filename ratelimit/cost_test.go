package ratelimit_test

import (
	"bytes"
	"context"
	"fmt"
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

// A negative cost is a bug in Options.Cost (Content-Length is -1 for a
// chunked body), not a store outage: whatever the failure policy, the
// request is answered 500 without calling next or the Limiter, counted
// and logged, and the Limiter is not paused for other requests. Only
// DryRun lets it through, since it never rejects.
func TestNegativeCostIsA500WhateverTheFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy ratelimit.FailurePolicy
		dry    bool
		code   int
	}{
		{ratelimit.FailOpen, false, 500},
		{ratelimit.FailClosed, false, 500},
		{ratelimit.FailLocal, false, 500},
		{ratelimit.FailOpen, true, 200},
	} {
		t.Run(fmt.Sprintf("%v/dry=%v", tc.policy, tc.dry), func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{
				Cost: func(r *http.Request) int64 {
					if r.Header.Get("Neg") != "" {
						return -1
					}
					return 1
				},
				OnError: tc.policy, DryRun: tc.dry,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			start := time.Now()
			for i := 0; i < 3; i++ {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Key", "attacker")
				req.Header.Set("Neg", "1")
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				if rec.Code != tc.code {
					t.Fatalf("negative cost: status %d, want %d", rec.Code, tc.code)
				}
				if tc.code == 500 && (strings.Contains(rec.Body.String(), "Cost") || rec.Header().Get("RateLimit") != "") {
					t.Fatalf("500 answer leaks the error or claims a state: %v %s", rec.Header(), rec.Body)
				}
			}
			if want := int64(0); tc.dry {
				want = 3
				if e.calls.Load() != want {
					t.Fatalf("next called %d times, want %d", e.calls.Load(), want)
				}
			} else if e.calls.Load() != want {
				t.Fatalf("next called %d times for requests with a negative cost", e.calls.Load())
			}
			d := strconv.FormatBool(tc.dry)
			if got := e.meter.get("backstop.ratelimit.dry_run=" + d + ",backstop.ratelimit.result=error,error.type=invalid_cost"); got != 3 {
				t.Fatalf("invalid-cost count %d, want 3 (%v)", got, e.meter.counts)
			}
			if n := strings.Count(logs.String(), "\n"); n < 1 || n > 1+int(time.Since(start)/time.Second) {
				t.Fatalf("%d log records, want 1 a second:\n%s", n, logs.String())
			}
			if a, b := e.do("victim").Code, e.do("victim").Code; a != 200 || (b != 429) != tc.dry {
				t.Fatalf("after negative costs: %d %d, want 200 then a denial (limiting still on)", a, b)
			}
		})
	}
}

// A client-controlled cost (say Content-Length) can be huge; the middleware
// clamps it so no limiter counter can overflow into admitting everything.
func TestHugeCostNeverAdmitted(t *testing.T) {
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
func TestNoRetryAfterWhenOnePolicyCanNeverAdmit(t *testing.T) {
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

// A Middleware without a Logger logs to the slog default of the moment,
// not of New: one built in a package-level var logs where main sends it,
// with its level and attributes. (Not parallel: it sets the process's
// default logger.)
func TestNilLoggerIsTheDefaultAtLogTime(t *testing.T) {
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{
		Cost:         func(*http.Request) int64 { return -1 },
		ErrorHandler: quietProblems,
	})
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	m.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// The default of New's time would reach the new one too, through the
	// log package, but as an INFO line with the record flattened into it.
	if !strings.Contains(logs.String(), `level=ERROR msg="ratelimit: Options.Cost returned a negative cost"`) {
		t.Fatalf("the default set after New got %q, want the record itself", logs.String())
	}
}
