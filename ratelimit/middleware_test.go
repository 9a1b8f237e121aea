package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

var quietWriter = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

func quietProblems(w http.ResponseWriter, r *http.Request, err error) { quietWriter.Write(w, r, err) }

// fakeMeter records counter increments by their attribute sets.
type fakeMeter struct {
	metricnoop.MeterProvider
	meter  metricnoop.Meter
	mu     sync.Mutex
	counts map[string]int
}

func (m *fakeMeter) Meter(string, ...metric.MeterOption) metric.Meter {
	return fakeMeterInst{m.meter, m}
}

type fakeMeterInst struct {
	metricnoop.Meter
	m *fakeMeter
}

func (m fakeMeterInst) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return fakeCounter{m: m.m}, nil
}

type fakeCounter struct {
	metricnoop.Int64Counter
	m *fakeMeter
}

func (c fakeCounter) Add(_ context.Context, v int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.m.counts == nil {
		c.m.counts = map[string]int{}
	}
	c.m.counts[strings.Join(parts, ",")] += int(v)
}

func (m *fakeMeter) get(s string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[s]
}

// fakeSpan is a recording span that keeps its events.
type fakeSpan struct {
	tracenoop.Span
	mu     sync.Mutex
	events []string
	attrs  []attribute.KeyValue
}

func (s *fakeSpan) IsRecording() bool { return true }
func (s *fakeSpan) AddEvent(name string, opts ...trace.EventOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, name)
	cfg := trace.NewEventConfig(opts...)
	s.attrs = append(s.attrs, cfg.Attributes()...)
}

type env struct {
	clock *limitertest.Clock
	meter *fakeMeter
	calls atomic.Int64
	h     http.Handler
}

func newEnv(t *testing.T, policies []ratelimit.Policy, opts ratelimit.Options) *env {
	t.Helper()
	e := &env{clock: limitertest.NewClock(), meter: &fakeMeter{}}
	l, err := ratelimit.NewSlidingWindow(policies, ratelimit.MemoryOptions{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts.MeterProvider = e.meter
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = quietProblems
	}
	m := ratelimit.New(l, func(r *http.Request) string { return r.Header.Get("Key") }, opts)
	e.h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	return e
}

func (e *env) do(key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Key", key)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareHeaders(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{{Name: "burst", Limit: 2, Window: 10 * time.Second}, ratelimit.PerHour("hourly", 100)}, ratelimit.Options{})
	tests := []struct {
		status     int
		rateLimit  string
		retryAfter string
	}{
		{200, `"burst";r=1;t=10, "hourly";r=99;t=3600`, ""},
		{200, `"burst";r=0;t=10, "hourly";r=98;t=3600`, ""},
		// Denied: next window at 10s, then 2×(10−e)/10 + 1 ≤ 2 once e ≥ 5s.
		{429, `"burst";r=0;t=15, "hourly";r=98;t=3600`, "15"},
	}
	for i, tc := range tests {
		rec := e.do("a")
		if rec.Code != tc.status {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, tc.status)
		}
		if got := rec.Header().Get("RateLimit-Policy"); got != `"burst";q=2;w=10, "hourly";q=100;w=3600` {
			t.Fatalf("request %d: RateLimit-Policy %q", i, got)
		}
		if got := rec.Header().Get("RateLimit"); got != tc.rateLimit {
			t.Fatalf("request %d: RateLimit %q, want %q", i, got, tc.rateLimit)
		}
		if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
			t.Fatalf("request %d: Retry-After %q, want %q", i, got, tc.retryAfter)
		}
		if rec.Header().Get("X-RateLimit-Limit") != "" {
			t.Fatal("legacy headers without LegacyHeaders")
		}
	}
	if got := e.calls.Load(); got != 2 {
		t.Fatalf("next called %d times, want 2", got)
	}
}

func TestMiddleware429Body(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("a", 1), ratelimit.PerMinute("b", 1)}, ratelimit.Options{})
	e.do("k")
	rec := e.do("k")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var body struct {
		Type     string   `json:"type"`
		Status   int      `json:"status"`
		Violated []string `json:"violated-policies"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err, rec.Body)
	}
	if body.Type != "https://iana.org/assignments/http-problem-types#quota-exceeded" || body.Status != 429 ||
		strings.Join(body.Violated, ",") != "a,b" {
		t.Fatalf("body %s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), `"k"`) {
		t.Fatal("body echoes the key")
	}
}

func TestMiddlewareRetryAfterNotBeforeReset(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{{Name: "w", Limit: 7, Window: 3 * time.Second}}, ratelimit.Options{})
	for step := 0; step < 40; step++ {
		rec := e.do("k")
		if rec.Code == 429 {
			ra := rec.Header().Get("Retry-After")
			if !strings.HasSuffix(rec.Header().Get("RateLimit"), ";t="+ra) {
				t.Fatalf("Retry-After %s differs from the violated policy's t: %s", ra, rec.Header().Get("RateLimit"))
			}
		}
		e.clock.Advance(137 * time.Millisecond)
	}
}

func TestMiddlewareLegacyHeaders(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 5)}, ratelimit.Options{LegacyHeaders: true})
	rec := e.do("k")
	if rec.Header().Get("X-RateLimit-Limit") != "5" || rec.Header().Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("legacy headers %v", rec.Header())
	}
	// Its value (the Unix time of the window's end) is checked by
	// TestLegacyResetIsEpochOfWindowEnd.
	if reset := rec.Header().Get("X-RateLimit-Reset"); len(reset) != len("1700000000") {
		t.Fatalf("X-RateLimit-Reset %q is not epoch seconds", reset)
	}
}

func TestMiddlewareCost(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 10)}, ratelimit.Options{
		Cost: func(r *http.Request) int64 {
			if r.URL.Query().Has("big") {
				return 11
			}
			return 5
		},
	})
	for i, want := range []int{200, 200, 429} {
		if c := e.do("k").Code; c != want {
			t.Fatalf("request %d: %d, want %d", i, c, want)
		}
	}
	req := httptest.NewRequest("GET", "/?big", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("cost above quota: %d Retry-After %q; want 429 without Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestMiddlewareDryRunAndTelemetry(t *testing.T) {
	for _, dry := range []bool{false, true} {
		e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{DryRun: dry})
		span := &fakeSpan{}
		ctx := trace.ContextWithSpan(context.Background(), span)
		var codes []int
		for i := 0; i < 3; i++ {
			req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
			req.Header.Set("Key", "secret-key")
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			codes = append(codes, rec.Code)
			if i > 0 && rec.Header().Get("RateLimit") != `"m";r=0;t=120` {
				t.Fatalf("dry=%v: RateLimit %q", dry, rec.Header().Get("RateLimit"))
			}
		}
		want := []int{200, 429, 429}
		if dry {
			want = []int{200, 200, 200}
		}
		if !equalInts(codes, want) {
			t.Fatalf("dry=%v: statuses %v, want %v", dry, codes, want)
		}
		d := "false"
		if dry {
			d = "true"
		}
		if got := e.meter.get("backstop.ratelimit.dry_run=" + d + ",backstop.ratelimit.policy=m,backstop.ratelimit.result=denied"); got != 2 {
			t.Fatalf("dry=%v: denied count %d, want 2 (%v)", dry, got, e.meter.counts)
		}
		if got := e.meter.get("backstop.ratelimit.dry_run=" + d + ",backstop.ratelimit.policy=m,backstop.ratelimit.result=allowed"); got != 1 {
			t.Fatalf("dry=%v: allowed count %d (%v)", dry, got, e.meter.counts)
		}
		if len(span.events) != 2 || span.events[0] != "backstop.ratelimit.denied" {
			t.Fatalf("span events %v", span.events)
		}
		for _, kv := range span.attrs {
			if strings.Contains(kv.Value.String(), "secret-key") {
				t.Fatal("span event carries the key")
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// flaky is a Limiter whose store can be switched off.
type flaky struct {
	ratelimit.Limiter
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flaky) AllowN(ctx context.Context, key string, n int64) (ratelimit.Decision, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return ratelimit.Decision{}, errors.New("ratelimit: store unavailable: dial tcp 10.0.0.1:6379: connection refused")
	}
	return f.Limiter.AllowN(ctx, key, n)
}

func TestMiddlewareFailurePolicies(t *testing.T) {
	tests := []struct {
		policy ratelimit.FailurePolicy
		codes  []int
	}{
		{ratelimit.FailOpen, []int{200, 200, 200}},
		{ratelimit.FailClosed, []int{503, 503, 503}},
		{ratelimit.FailLocal, []int{200, 200, 429}},
	}
	for _, tc := range tests {
		t.Run(tc.policy.String(), func(t *testing.T) {
			inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
			f := &flaky{Limiter: inner}
			var logs bytes.Buffer
			meter := &fakeMeter{}
			m := ratelimit.New(f, func(*http.Request) string { return "secret-key" }, ratelimit.Options{
				OnError: tc.policy, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), MeterProvider: meter,
				ErrorHandler: quietProblems, RetryStoreAfter: time.Hour,
			})
			h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			f.down.Store(true)
			for i, want := range tc.codes {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
				if rec.Code != want {
					t.Fatalf("request %d: %d, want %d", i, rec.Code, want)
				}
				if want == 503 {
					if rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "ratelimit#ErrUnavailable") {
						t.Fatalf("503 answer: %v %s", rec.Header(), rec.Body)
					}
					if strings.Contains(rec.Body.String(), "10.0.0.1") {
						t.Fatal("503 body leaks the store error")
					}
				}
			}
			if got := f.calls.Load(); got != 1 {
				t.Fatalf("limiter called %d times while its failure is recent, want 1", got)
			}
			if got := meter.get("backstop.ratelimit.dry_run=false,backstop.ratelimit.failure_policy=" + tc.policy.String() + ",backstop.ratelimit.result=error"); got != 3 {
				t.Fatalf("error count %d (%v)", got, meter.counts)
			}
			if strings.Count(logs.String(), "\n") != 1 || strings.Contains(logs.String(), "secret-key") {
				t.Fatalf("want one log record without the key, got %s", logs.String())
			}
		})
	}
}

func TestMiddlewareRecovers(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	m := ratelimit.New(f, func(*http.Request) string { return "k" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, RetryStoreAfter: -1, Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems,
	})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	code := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code
	}
	f.down.Store(true)
	if c := code(); c != 503 {
		t.Fatalf("down: %d", c)
	}
	f.down.Store(false)
	if a, b := code(), code(); a != 200 || b != 429 {
		t.Fatalf("after recovery: %d %d, want 200 429", a, b)
	}
}

func TestMiddlewareClientGone(t *testing.T) {
	e := newEnv(t, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.Options{OnError: ratelimit.FailClosed})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if e.calls.Load() != 0 || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Fatalf("wrote a response for a gone client: %d %v", rec.Code, rec.Header())
	}
}

func TestMiddlewareWriterUnwrapped(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.MemoryOptions{})
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
	rec := httptest.NewRecorder()
	var got http.ResponseWriter
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = w })).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got != rec {
		t.Fatal("next received a wrapped ResponseWriter")
	}
}

// mustPanic fails t unless f panics with a message containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if msg, _ := r.(string); r == nil || !strings.Contains(msg, want) {
			t.Errorf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

// A nil argument or an impossible option is a programming error: New
// panics at construction, naming it, and never at request time.
func TestNewPanicsOnProgrammingErrors(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1)}, ratelimit.MemoryOptions{})
	other, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
	key := func(*http.Request) string { return "" }
	for _, tc := range []struct {
		name, want string
		l          ratelimit.Limiter
		key        ratelimit.KeyFunc
		opts       ratelimit.Options
	}{
		{"nil limiter", "nil Limiter", nil, key, ratelimit.Options{}},
		{"nil key", "nil KeyFunc", l, nil, ratelimit.Options{}},
		{"unknown failure policy", "OnError", l, key, ratelimit.Options{OnError: 7}},
		{"fallback mismatch", "Fallback", l, key, ratelimit.Options{OnError: ratelimit.FailLocal, Fallback: other}},
		{"invalid policies", "policies", badPolicies{l}, key, ratelimit.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustPanic(t, tc.want, func() { ratelimit.New(tc.l, tc.key, tc.opts) })
		})
	}
}

type badPolicies struct{ ratelimit.Limiter }

func (badPolicies) Policies() []ratelimit.Policy { return []ratelimit.Policy{{Name: "x"}} }

// The zero Middleware cannot be used by mistake: wrapping a handler with
// it panics at once.
func TestZeroMiddlewareHandlerPanics(t *testing.T) {
	var m ratelimit.Middleware
	mustPanic(t, "ratelimit.New", func() { m.Handler(http.NotFoundHandler()) })
}

func TestValidatePolicies(t *testing.T) {
	bad := map[string][]ratelimit.Policy{
		"none":          nil,
		"too many":      make([]ratelimit.Policy, ratelimit.MaxPolicies+1),
		"empty name":    {{Name: "", Limit: 1, Window: time.Second}},
		"quote in name": {{Name: `a"b`, Limit: 1, Window: time.Second}},
		"zero limit":    {{Name: "a", Limit: 0, Window: time.Second}},
		"short window":  {{Name: "a", Limit: 1, Window: time.Millisecond}},
		"odd window":    {{Name: "a", Limit: 1, Window: 1500 * time.Millisecond}},
		"duplicate":     {ratelimit.PerSecond("a", 1), ratelimit.PerMinute("a", 1)},
	}
	for name, p := range bad {
		if err := ratelimit.ValidatePolicies(p); !errors.Is(err, ratelimit.ErrInvalidPolicy) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A limiter failure is recorded on the request's span as a
// "backstop.ratelimit.error" event naming the failure policy, never the key.
func TestMiddlewareFailureRecordedOnSpan(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	f.down.Store(true)
	m := ratelimit.New(f, func(*http.Request) string { return "secret-key" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, Logger: slog.New(slog.DiscardHandler), ErrorHandler: quietProblems,
		MeterProvider: &fakeMeter{},
	})
	span := &fakeSpan{}
	req := httptest.NewRequest("GET", "/", nil).WithContext(trace.ContextWithSpan(context.Background(), span))
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), req)
	if len(span.events) != 1 || span.events[0] != "backstop.ratelimit.error" {
		t.Fatalf("span events %v, want [backstop.ratelimit.error]", span.events)
	}
	found := false
	for _, kv := range span.attrs {
		if kv.Key == "backstop.ratelimit.failure_policy" && kv.Value.AsString() == "closed" {
			found = true
		}
		if strings.Contains(kv.Value.String(), "secret-key") {
			t.Fatal("span event carries the key")
		}
	}
	if !found {
		t.Fatalf("span event attributes %v lack backstop.ratelimit.failure_policy=closed", span.attrs)
	}
}

// DryRun never rejects, not even under FailClosed while the limiter fails:
// the failure is still counted.
func TestMiddlewareDryRunFailClosedLetsThrough(t *testing.T) {
	inner, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 2)}, ratelimit.MemoryOptions{})
	f := &flaky{Limiter: inner}
	f.down.Store(true)
	meter := &fakeMeter{}
	m := ratelimit.New(f, func(*http.Request) string { return "k" }, ratelimit.Options{
		OnError: ratelimit.FailClosed, DryRun: true, Logger: slog.New(slog.DiscardHandler),
		ErrorHandler: quietProblems, MeterProvider: meter,
	})
	var calls int
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }))
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			t.Fatalf("request %d: status %d, want 200 (dry run)", i, rec.Code)
		}
	}
	if calls != 3 {
		t.Fatalf("next called %d times, want 3", calls)
	}
	if got := meter.get("backstop.ratelimit.dry_run=true,backstop.ratelimit.failure_policy=closed,backstop.ratelimit.result=error"); got != 3 {
		t.Fatalf("error count %d, want 3 (%v)", got, meter.counts)
	}
}
