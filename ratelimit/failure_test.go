package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
)

type shortDecision struct{ ratelimit.Limiter }

func (s shortDecision) AllowN(context.Context, string, int64) (ratelimit.Decision, error) {
	two := []ratelimit.Policy{ratelimit.PerMinute("a", 1), ratelimit.PerMinute("b", 1)}
	d, _ := ratelimit.NewDecision(two, []ratelimit.Result{{Allowed: true}, {Allowed: true}})
	return d, nil
}

type emptyDecision struct{ ratelimit.Limiter }

func (emptyDecision) AllowN(context.Context, string, int64) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, nil
}

// A Decision with more results than policies must not panic at request
// time (index out of range), nor an empty one give a 429 claiming the
// request costs more than the quota: both are limiter failures.
func TestMismatchedDecisionIsALimiterFailure(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("a", 1)}, ratelimit.MemoryOptions{})
	for name, l := range map[string]ratelimit.Limiter{"more results": shortDecision{inner}, "no results": emptyDecision{inner}} {
		t.Run(name, func(t *testing.T) {
			m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{
				OnError: ratelimit.FailClosed, Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems,
			})
			rec := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != 503 {
				t.Fatalf("status %d, want 503 (FailClosed)", rec.Code)
			}
		})
	}
}

// Under FailClosed the default ErrorHandler must not log every 503 of an
// outage (as problem.Write does), which would defeat Options.Logger's one
// record per second.
func TestDefaultErrorHandlerDoesNotLogEach503(t *testing.T) {
	var global bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&global, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	f.down.Store(true)
	var logs bytes.Buffer
	m := ratelimit.New(f, func(*http.Request) string { return "k" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, Logger: slog.New(slog.NewTextHandler(&logs, nil)), RetryStoreAfter: -1,
	})
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

// A request whose context deadline passed (a request budget set by an outer
// middleware) must get an answer, not an empty 200 for a request that was
// neither limited nor served: the failure policy applies, and the Limiter
// is not paused for other requests.
func TestExpiredDeadlineIsNotAnEmpty200(t *testing.T) {
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

// Every 429 and 503 hands ErrorHandler a problem of its own: a handler that
// decorates it (a member, a header, the violated-policies slice) from many
// goroutines at once races with nothing, and no request's decoration
// reaches another's response. Run under -race.
func TestErrorHandlerMayMutateItsProblem(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	handler := func(w http.ResponseWriter, r *http.Request, err error) {
		var p *problem.Problem
		if !errors.As(err, &p) {
			t.Errorf("ErrorHandler got %v, not a *problem.Problem", err)
			return
		}
		id := r.Header.Get("X-Request-Id")
		p.With("requestId", id).WithHeader("X-Request-Id", id)
		if v, ok := p.Extensions["violated-policies"].([]string); ok {
			v[0] = id
		}
		quietProblems(w, r, p)
	}
	for _, tc := range []struct {
		name string
		down bool
		code int
	}{{"429", false, 429}, {"503", true, 503}} {
		t.Run(tc.name, func(t *testing.T) {
			f.down.Store(tc.down)
			m := ratelimit.New(f, func(*http.Request) string { return "k" }, ratelimit.Options{
				OnError: ratelimit.FailClosed, RetryStoreAfter: -1, ErrorHandler: handler, Logger: slog.New(slog.DiscardHandler),
			})
			h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) // use the quota
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 200; i++ {
						id := fmt.Sprint(g, "-", i)
						req := httptest.NewRequest("GET", "/", nil)
						req.Header.Set("X-Request-Id", id)
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						var body map[string]any
						if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.code {
							t.Errorf("%d %s: %v", rec.Code, rec.Body, err)
							return
						}
						if body["requestId"] != id || rec.Header().Values("X-Request-Id")[0] != id || len(rec.Header().Values("X-Request-Id")) != 1 {
							t.Errorf("request %s got another request's decoration: %s %v", id, rec.Body, rec.Header())
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// Under FailLocal a request whose deadline passed is decided by the
// Fallback, as OnError says, not let through unlimited because the
// in-memory Fallback refuses the same expired context: otherwise every
// request arriving after its budget ran out (behind http.TimeoutHandler, a
// slow outer middleware) skips the limit, and without RateLimit headers.
func TestExpiredDeadlineFailLocalUsesFallback(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{
		OnError: ratelimit.FailLocal, Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var codes []int
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		req.Header.Set("Key", "budget")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
		if rec.Header().Get("RateLimit") == "" {
			t.Errorf("request %d: %d without a RateLimit header: not decided by the Fallback", i, rec.Code)
		}
	}
	if codes[0] != 200 || codes[1] != 429 || codes[2] != 429 {
		t.Fatalf("expired deadlines under FailLocal: statuses %v, next called %d times; want [200 429 429], 1", codes, e.calls.Load())
	}
}
