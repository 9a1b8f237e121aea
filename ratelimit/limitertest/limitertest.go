// Package limitertest is the conformance suite every ratelimit.Limiter must
// pass. The in-memory limiters and ratelimit/redisstore (single node and
// Redis Cluster) run it; run it on your own Limiter too:
//
//	func TestConformance(t *testing.T) {
//		limitertest.Run(t, limitertest.Harness{
//			Kind: limitertest.SlidingWindow,
//			New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
//				clock := limitertest.NewClock()
//				l, err := ratelimit.NewSlidingWindow(p, ratelimit.MemoryOptions{Clock: clock.Now})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return l, clock.Advance
//			},
//		})
//	}
package limitertest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
)

// Kind names the algorithm a Limiter implements, which fixes the exact
// numbers the suite expects at window boundaries.
type Kind int

const (
	// SlidingWindow is the weighted two-window counter.
	SlidingWindow Kind = iota + 1
	// TokenBucket is a bucket of Limit tokens refilled at Limit/Window.
	TokenBucket
	// Other skips the algorithm-specific boundary checks and runs only the
	// checks every limiter must pass.
	Other
)

// Harness builds the limiters under test.
type Harness struct {
	// Kind selects the algorithm-specific checks.
	Kind Kind
	// New returns a fresh limiter enforcing policies, sharing no state with
	// limiters returned by other calls. If it can control the limiter's
	// clock, it also returns advance, which moves that clock forward; the
	// clock must then start at an instant where every policy's window
	// begins, and stand still unless advanced. Without advance the suite
	// skips the checks that need time to pass.
	New func(t *testing.T, policies []ratelimit.Policy) (l ratelimit.Limiter, advance func(time.Duration))
}

// Clock is a manual clock for harnesses: Now returns a fixed instant that
// only Advance moves. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to an arbitrary fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("InvalidCost", func(t *testing.T) { testInvalidCost(t, h) })
	t.Run("FreshKey", func(t *testing.T) { testFreshKey(t, h) })
	t.Run("ExactCount", func(t *testing.T) { testExactCount(t, h) })
	t.Run("Weights", func(t *testing.T) { testWeights(t, h) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, h) })
	t.Run("IndependentKeys", func(t *testing.T) { testIndependentKeys(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, h) })
	t.Run("RetryAfterIsExact", func(t *testing.T) { testRetryAfter(t, h) })
	t.Run("WindowBoundaries", func(t *testing.T) { testBoundaries(t, h) })
	t.Run("MultiPolicyOverTime", func(t *testing.T) { testMultiPolicyOverTime(t, h) })
}

var ctx = context.Background()

func allow(t *testing.T, l ratelimit.Limiter, key string, n int64) ratelimit.Decision {
	t.Helper()
	d, err := l.AllowN(ctx, key, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %d): %v", key, n, err)
	}
	if d.Len() != len(l.Policies()) {
		t.Fatalf("AllowN(%q, %d): %d results for %d policies", key, n, d.Len(), len(l.Policies()))
	}
	return d
}

func want(t *testing.T, what string, d ratelimit.Decision, allowed bool, remaining int64) {
	t.Helper()
	if d.Allowed != allowed || d.Remaining != remaining {
		t.Fatalf("%s: got allowed=%v remaining=%d, want allowed=%v remaining=%d (decision %+v)",
			what, d.Allowed, d.Remaining, allowed, remaining, d)
	}
	if allowed && d.RetryAfter != 0 {
		t.Fatalf("%s: allowed with RetryAfter %v", what, d.RetryAfter)
	}
}

func testInvalidCost(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerMinute("m", 10)})
	if _, err := l.AllowN(ctx, "k", -1); !errors.Is(err, ratelimit.ErrInvalidCost) {
		t.Fatalf("AllowN(-1) error = %v, want ErrInvalidCost", err)
	}
}

func testFreshKey(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerMinute("m", 10)})
	want(t, "peek", allow(t, l, "k", 0), true, 10)
	d := allow(t, l, "k", 1)
	want(t, "first", d, true, 9)
	if d.Limit != 10 {
		t.Fatalf("Limit = %d, want 10", d.Limit)
	}
	if d.Reset <= 0 || d.Reset > time.Minute {
		t.Fatalf("Reset = %v, want in (0, 1m]", d.Reset)
	}
	want(t, "peek after one", allow(t, l, "k", 0), true, 9)
}

func testExactCount(t *testing.T, h Harness) {
	for _, limit := range []int64{1, 7, 100} {
		l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", limit)})
		for i := int64(1); i <= limit; i++ {
			want(t, "within limit", allow(t, l, "k", 1), true, limit-i)
		}
		for i := 0; i < 3; i++ {
			d := allow(t, l, "k", 1)
			want(t, "over limit", d, false, 0)
			if d.RetryAfter <= 0 {
				t.Fatalf("denied with RetryAfter %v", d.RetryAfter)
			}
			if d.Reset < d.RetryAfter {
				t.Fatalf("denied with Reset %v earlier than RetryAfter %v", d.Reset, d.RetryAfter)
			}
			if r := d.Result(0); r.Allowed || r.RetryAfter != d.RetryAfter {
				t.Fatalf("policy result %+v does not match decision %+v", r, d)
			}
		}
	}
}

func testWeights(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", 10)})
	want(t, "cost 4", allow(t, l, "k", 4), true, 6)
	want(t, "cost 7 over", allow(t, l, "k", 7), false, 6)
	want(t, "cost 6 fits exactly", allow(t, l, "k", 6), true, 0)
	want(t, "cost 1 over", allow(t, l, "k", 1), false, 0)

	d := allow(t, l, "other", 11)
	want(t, "cost above limit", d, false, 10)
	if d.RetryAfter != 0 {
		t.Fatalf("cost above limit: RetryAfter = %v, want 0 (waiting never helps)", d.RetryAfter)
	}
	want(t, "nothing consumed", allow(t, l, "other", 0), true, 10)
}

func testAllOrNothing(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerSecond("short", 5), ratelimit.PerHour("long", 10)})
	d := allow(t, l, "k", 3)
	if !d.Allowed || d.Result(0).Remaining != 2 || d.Result(1).Remaining != 7 {
		t.Fatalf("cost 3: %+v", d)
	}
	if d.Limit != 5 || d.Remaining != 2 {
		t.Fatalf("binding policy: Limit=%d Remaining=%d, want short (5, 2)", d.Limit, d.Remaining)
	}
	d = allow(t, l, "k", 3)
	if d.Allowed || d.Result(0).Allowed || !d.Result(1).Allowed {
		t.Fatalf("cost 3 again: want short to deny and long to admit, got %+v", d)
	}
	if d.Result(1).Remaining != 7 {
		t.Fatalf("denied decision must report long's remaining as unconsumed (7): %+v", d)
	}
	if d.Limit != 5 || d.Result(0).RetryAfter <= 0 || d.RetryAfter != d.Result(0).RetryAfter {
		t.Fatalf("denial must cite the short policy: %+v", d)
	}
	p := allow(t, l, "k", 0)
	if p.Result(0).Remaining != 2 || p.Result(1).Remaining != 7 {
		t.Fatalf("denied request consumed quota: %+v", p)
	}
	want(t, "cost 2 fits both", allow(t, l, "k", 2), true, 0)
}

func testMultiPolicyOverTime(t *testing.T, h Harness) {
	l, advance := h.New(t, []ratelimit.Policy{ratelimit.PerSecond("short", 2), ratelimit.PerHour("long", 5)})
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	admitted := 0
	for step := 0; step < 20; step++ {
		for i := 0; i < 3; i++ {
			if allow(t, l, "k", 1).Allowed {
				admitted++
			}
		}
		advance(3 * time.Second)
	}
	if admitted != 5 {
		t.Fatalf("admitted %d over one minute, want exactly the hourly 5", admitted)
	}
	d := allow(t, l, "k", 1)
	if d.Allowed || d.Result(0).Allowed != true || d.Result(1).Allowed {
		t.Fatalf("want long to deny and short to admit: %+v", d)
	}
	if p := allow(t, l, "k", 0); p.Result(0).Remaining != 2 {
		t.Fatalf("short policy consumed by a request long denied: %+v", p)
	}
}

func testIndependentKeys(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", 3)})
	for i := 0; i < 3; i++ {
		allow(t, l, "a", 1)
	}
	want(t, "a exhausted", allow(t, l, "a", 1), false, 0)
	want(t, "b untouched", allow(t, l, "b", 1), true, 2)
	want(t, "empty key is a key too", allow(t, l, "", 1), true, 2)
	want(t, "a{b}c", allow(t, l, "a{b}c", 1), true, 2)
}

func testConcurrent(t *testing.T, h Harness) {
	const limit, workers, tries = 100, 8, 40
	l, advance := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", limit), ratelimit.PerMinute("m", 2*limit)})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				d, err := l.AllowN(ctx, "shared", 1)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := admitted.Load()
	if advance != nil && got != limit {
		t.Fatalf("%d goroutines admitted %d, want exactly %d", workers, got, limit)
	}
	if got > limit+1 || got < limit-1 {
		// Real time may refill a token bucket by a fraction of a unit.
		t.Fatalf("%d goroutines admitted %d, want %d", workers, got, limit)
	}
}

func testCanceled(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", 3)})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.AllowN(c, "k", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: error = %v, want context.Canceled", err)
	}
}

// testRetryAfter checks that RetryAfter is neither early nor late by more
// than a millisecond, in every regime: over the current window's count,
// decaying previous window, heavy weights.
func testRetryAfter(t *testing.T, h Harness) {
	cases := []struct {
		name          string
		policy        ratelimit.Policy
		before, first time.Duration // advance before the burst, and before the probe
		burst, cost   int64
	}{
		{"full window", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 0, 0, 10, 1},
		{"mid window", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 3 * time.Second, 2500 * time.Millisecond, 10, 1},
		{"previous decays", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 0, 12 * time.Second, 10, 3},
		{"heavy cost", ratelimit.Policy{Name: "w", Limit: 60, Window: time.Minute}, 0, 7 * time.Second, 50, 40},
		{"odd limit", ratelimit.Policy{Name: "w", Limit: 7, Window: 3 * time.Second}, 1100 * time.Millisecond, 900 * time.Millisecond, 7, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, advance := h.New(t, []ratelimit.Policy{tc.policy})
			if advance == nil {
				t.Skip("limiter clock not controllable")
			}
			advance(tc.before)
			for i := int64(0); i < tc.burst; i++ {
				allow(t, l, "k", 1)
			}
			advance(tc.first)
			d := allow(t, l, "k", tc.cost)
			if d.Allowed {
				if h.Kind != SlidingWindow {
					return // a token bucket may have refilled by then
				}
				t.Fatalf("probe unexpectedly allowed: %+v", d)
			}
			wait := d.RetryAfter
			if wait <= 0 {
				t.Fatalf("RetryAfter = %v", wait)
			}
			const slack = time.Millisecond
			if wait > slack {
				advance(wait - slack)
				if d := allow(t, l, "k", tc.cost); d.Allowed {
					t.Fatalf("allowed %v before RetryAfter %v elapsed", slack, wait)
				}
				advance(slack)
			} else {
				advance(wait)
			}
			if d := allow(t, l, "k", tc.cost); !d.Allowed {
				t.Fatalf("denied once RetryAfter %v elapsed: %+v", wait, d)
			}
		})
	}
}

func testBoundaries(t *testing.T, h Harness) {
	l, advance := h.New(t, []ratelimit.Policy{{Name: "w", Limit: 10, Window: 10 * time.Second}})
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	for i := 0; i < 10; i++ {
		allow(t, l, "k", 1)
	}
	d := allow(t, l, "k", 1)
	switch h.Kind {
	case SlidingWindow:
		// Next window: 10 × (10−e)/10 + 1 ≤ 10 once e ≥ 1s, so 11s.
		if d.RetryAfter != 11*time.Second {
			t.Fatalf("RetryAfter = %v, want 11s", d.RetryAfter)
		}
		advance(10 * time.Second) // boundary: previous window weighs 100%
		want(t, "at boundary", allow(t, l, "k", 1), false, 0)
		advance(time.Second) // 90%: 9 + 1 = 10
		want(t, "one second in", allow(t, l, "k", 1), true, 0)
		advance(4 * time.Second) // 50%: 5 + 1 = 6 used, 4 left before this
		want(t, "half way", allow(t, l, "k", 4), true, 0)
		advance(5 * time.Second) // next window: previous count 5 at 100%
		want(t, "third window", allow(t, l, "k", 1), true, 4)
		advance(20 * time.Second) // two windows of silence: all forgotten
		want(t, "after silence", allow(t, l, "k", 10), true, 0)
	case TokenBucket:
		// One token per second.
		if d.RetryAfter != time.Second {
			t.Fatalf("RetryAfter = %v, want 1s", d.RetryAfter)
		}
		advance(5 * time.Second)
		want(t, "five tokens back", allow(t, l, "k", 5), true, 0)
		advance(30 * time.Second)
		want(t, "never above burst", allow(t, l, "k", 0), true, 10)
	default:
		t.Skip("no algorithm-specific expectations")
	}
}
