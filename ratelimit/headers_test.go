package ratelimit_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/internal/headertest"
	"github.com/backstop-go/backstop/ratelimit"
)

// Quotas beyond the structured-field integer range are advertised as its
// maximum, so parsers do not reject the whole field; limits that would
// overflow or lose float precision are rejected.
func TestHeaderIntegersStayInRange(t *testing.T) {
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{{Name: "big", Limit: 1 << 52, Window: time.Hour}}, ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
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
// ten-digit number.
func TestLegacyResetIsEpochOfWindowEnd(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 5)}, ratelimit.MemoryOptions{})
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{LegacyHeaders: true})
	before := time.Now().Unix()
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	after := time.Now().Unix()
	reset, err := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < before+59 || reset > after+61 {
		t.Fatalf("X-RateLimit-Reset %q, want about %d", rec.Header().Get("X-RateLimit-Reset"), before+60)
	}
}

// Middleware that rewrites a response's header values in place (an
// http.Header is a map of slices its holder owns) changes that response
// only, never a later or concurrent one.
func TestHeaderValuesAreNotShared(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 1000)}, ratelimit.MemoryOptions{})
	m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{})
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	headertest.RewriteConcurrently(func() http.Header {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Header()
	})
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("RateLimit-Policy"); got != `"m";q=1000;w=60` {
		t.Errorf("RateLimit-Policy %q after other handlers rewrote theirs", got)
	}
	if got := rec.Header().Get("RateLimit"); !strings.HasPrefix(got, `"m";r=`) {
		t.Errorf("RateLimit %q after other handlers rewrote theirs", got)
	}
}

// X-RateLimit-Reset is whole Unix seconds: it must round the instant the
// window frees capacity up, never down, or a client that waits until it
// (as GitHub-style clients do) is denied again. The limiter's windows start
// half a second into a Unix second, so the instants are not whole seconds.
func TestLegacyResetIsNotEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(500 * time.Millisecond) // the bubble's clock starts on a whole second
		l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerSecond("s", 1)}, ratelimit.MemoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{LegacyHeaders: true, ErrorHandler: quietProblems}).
			Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		do := func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			return rec
		}
		time.Sleep(100 * time.Millisecond)
		do()
		rec := do()
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("second request: %d, want 429", rec.Code)
		}
		reset, err := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64)
		if err != nil {
			t.Fatalf("X-RateLimit-Reset %q", rec.Header().Get("X-RateLimit-Reset"))
		}
		time.Sleep(time.Until(time.Unix(reset, 0)))
		if again := do(); again.Code != http.StatusOK {
			t.Fatalf("denied again at X-RateLimit-Reset %d (%v): %d, Retry-After %s",
				reset, time.Unix(reset, 0).UTC().Format(time.StampMilli), again.Code, again.Header().Get("Retry-After"))
		}
	})
}
