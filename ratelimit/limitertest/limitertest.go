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
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/clocktest"
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
// only Advance (or Set) moves. It is safe for concurrent use.
type Clock = clocktest.Clock

// NewClock returns a Clock set to an arbitrary fixed instant.
func NewClock() *Clock { return clocktest.New() }

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("InvalidCost", func(t *testing.T) { testInvalidCost(t, h) })
	t.Run("FreshKey", func(t *testing.T) { testFreshKey(t, h) })
	t.Run("ExactCount", func(t *testing.T) { testExactCount(t, h) })
	t.Run("Weights", func(t *testing.T) { testWeights(t, h) })
	t.Run("HugeCost", func(t *testing.T) { testHugeCost(t, h) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, h) })
	t.Run("NeverSatisfiable", func(t *testing.T) { testNeverSatisfiable(t, h) })
	t.Run("IndependentKeys", func(t *testing.T) { testIndependentKeys(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, h) })
	t.Run("RetryAfterIsExact", func(t *testing.T) { testRetryAfter(t, h) })
	t.Run("WindowBoundaries", func(t *testing.T) { testBoundaries(t, h) })
	t.Run("MultiPolicyOverTime", func(t *testing.T) { testMultiPolicyOverTime(t, h) })
	t.Run("RetryAfterRandomWalk", func(t *testing.T) { testRetryAfterWalk(t, h) })
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
			if r := d.Result(0); r.Allowed || r.RetryAfter != d.RetryAfter || r.Reset != r.RetryAfter {
				t.Fatalf("policy result %+v does not match decision %+v (a denying policy's Reset is its RetryAfter)", r, d)
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

// testHugeCost checks that costs near the int64 range are denied without
// corrupting the key's counters (no overflow into a negative count).
func testHugeCost(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", 10)})
	want(t, "first", allow(t, l, "k", 1), true, 9)
	for _, n := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62, 1<<53 + 1} {
		d := allow(t, l, "k", n)
		want(t, "huge cost", d, false, 9)
		if d.RetryAfter != 0 {
			t.Fatalf("cost %d: RetryAfter = %v, want 0 (waiting never helps)", n, d.RetryAfter)
		}
	}
	want(t, "nothing consumed", allow(t, l, "k", 0), true, 9)
	want(t, "the rest fits", allow(t, l, "k", 9), true, 0)
	want(t, "and no more", allow(t, l, "k", 1), false, 0)
}

// testNeverSatisfiable checks a denial by two policies, one of which the
// cost exceeds: waiting for the other never helps, so RetryAfter is zero and
// the binding policy is the one the request can never satisfy.
func testNeverSatisfiable(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerSecond("short", 5), ratelimit.PerHour("long", 8)})
	allow(t, l, "k", 4)
	d := allow(t, l, "k", 6) // short: 6 > 5, never; long: 4 + 6 > 8, later
	if d.Allowed || d.Result(0).Allowed || d.Result(1).Allowed {
		t.Fatalf("want both policies to deny: %+v", d)
	}
	if d.Result(0).RetryAfter != 0 || d.Result(1).RetryAfter <= 0 {
		t.Fatalf("per-policy RetryAfter: short %v (want 0), long %v (want > 0)", d.Result(0).RetryAfter, d.Result(1).RetryAfter)
	}
	if d.RetryAfter != 0 || d.Binding() != 0 || d.Limit != 5 {
		t.Fatalf("decision RetryAfter %v binding %d Limit %d; want 0, short (0), 5", d.RetryAfter, d.Binding(), d.Limit)
	}
}

func testAllOrNothing(t *testing.T, h Harness) {
	// A minute, not a second, for the short policy: on a limiter whose
	// clock cannot be stopped (a Redis server's TIME) a window boundary
	// passing between the calls must not change the outcome. With 3 units
	// in the previous minute, the second call of 3 stays denied until 20s
	// into the next one, far beyond any scheduling delay.
	l, _ := h.New(t, []ratelimit.Policy{ratelimit.PerMinute("short", 5), ratelimit.PerHour("long", 10)})
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
	if d.Allowed || !d.Result(0).Allowed || d.Result(1).Allowed {
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

	// Keys that differ only after a long common prefix, or in bytes a
	// careless encoding would drop, are distinct too.
	long := strings.Repeat("k", 4096)
	for i := 0; i < 3; i++ {
		allow(t, l, long+"1", 1)
	}
	want(t, "long key exhausted", allow(t, l, long+"1", 1), false, 0)
	want(t, "long key differing at the end", allow(t, l, long+"2", 1), true, 2)
	want(t, "NUL byte", allow(t, l, "a\x00", 1), true, 2)
	want(t, "non-UTF-8", allow(t, l, "a\xff", 1), true, 2)
}

func testConcurrent(t *testing.T, h Harness) {
	const limit, workers, tries = 100, 16, 25
	l, advance := h.New(t, []ratelimit.Policy{ratelimit.PerHour("h", limit), ratelimit.PerMinute("m", 2*limit)})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := make(chan struct{})
	began := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // all at once, to give races their best chance
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
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := admitted.Load()
	if advance != nil && got != limit {
		t.Fatalf("%d goroutines admitted %d, want exactly %d", workers, got, limit)
	}
	switch h.Kind {
	case SlidingWindow:
		// Exact even on a real clock: a window that rolls mid-test carries
		// its count into the previous-window term, which decays by less
		// than one unit within the first Window/limit (36s) of the next.
		if got != limit {
			t.Fatalf("%d goroutines admitted %d, want exactly %d", workers, got, limit)
		}
	case TokenBucket:
		// Real time refills one unit per Window/limit.
		if refill := int64(elapsed / (time.Hour / limit)); got < limit || got > limit+refill {
			t.Fatalf("%d goroutines admitted %d in %v, want %d (+%d refilled)", workers, got, elapsed, limit, refill)
		}
	default:
		if got > limit+1 || got < limit-1 {
			t.Fatalf("%d goroutines admitted %d, want %d", workers, got, limit)
		}
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
	var last ratelimit.Decision
	for i := 0; i < 10; i++ {
		last = allow(t, l, "k", 1)
	}
	d := allow(t, l, "k", 1)
	// reset checks the Reset of an admitted decision: the time until the
	// window ends (sliding window) or the bucket is full again (token
	// bucket), exactly.
	reset := func(what string, d ratelimit.Decision, want time.Duration) {
		t.Helper()
		if d.Reset != want || d.Result(0).Reset != want {
			t.Fatalf("%s: Reset = %v, want %v", what, d.Reset, want)
		}
	}
	switch h.Kind {
	case SlidingWindow:
		reset("tenth", last, 10*time.Second)
		// Next window: 10 × (10−e)/10 + 1 ≤ 10 once e ≥ 1s, so 11s.
		if d.RetryAfter != 11*time.Second || d.Reset != d.RetryAfter {
			t.Fatalf("RetryAfter = %v Reset = %v, want 11s both", d.RetryAfter, d.Reset)
		}
		advance(10 * time.Second) // boundary: previous window weighs 100%
		d = allow(t, l, "k", 1)
		want(t, "at boundary", d, false, 0)
		if d.RetryAfter != time.Second {
			t.Fatalf("at boundary: RetryAfter = %v, want 1s", d.RetryAfter)
		}
		advance(time.Second) // 90%: 9 + 1 = 10
		d = allow(t, l, "k", 1)
		want(t, "one second in", d, true, 0)
		reset("one second in", d, 9*time.Second)
		advance(4 * time.Second) // 50%: 5 + 1 = 6 used, 4 left before this
		d = allow(t, l, "k", 4)
		want(t, "half way", d, true, 0)
		reset("half way", d, 5*time.Second)
		advance(5 * time.Second) // next window: previous count 5 at 100%
		d = allow(t, l, "k", 1)
		want(t, "third window", d, true, 4)
		reset("third window", d, 10*time.Second)
		advance(20 * time.Second) // two windows of silence: all forgotten
		want(t, "after silence", allow(t, l, "k", 10), true, 0)
	case TokenBucket:
		reset("tenth", last, 10*time.Second) // empty: ten tokens to refill
		// One token per second.
		if d.RetryAfter != time.Second || d.Reset != d.RetryAfter {
			t.Fatalf("RetryAfter = %v Reset = %v, want 1s both", d.RetryAfter, d.Reset)
		}
		advance(5 * time.Second)
		d = allow(t, l, "k", 5)
		want(t, "five tokens back", d, true, 0)
		reset("five tokens back", d, 10*time.Second)
		advance(30 * time.Second)
		d = allow(t, l, "k", 0)
		want(t, "never above burst", d, true, 10)
		reset("full", d, 0)
	default:
		t.Skip("no algorithm-specific expectations")
	}
}

// testRetryAfterWalk sends requests of random costs (some above a quota)
// at random times against two policies and checks every denial: each
// violated policy's Reset equals its RetryAfter (unless the cost exceeds
// its Limit: then RetryAfter is zero), the Decision's RetryAfter
// is the longest of them (zero when the cost exceeds a violated policy's
// Limit), and once RetryAfter has passed the same request is admitted:
// a Retry-After derived from it is never early.
func testRetryAfterWalk(t *testing.T, h Harness) {
	policies := []ratelimit.Policy{{Name: "short", Limit: 5, Window: 3 * time.Second}, {Name: "long", Limit: 23, Window: 70 * time.Second}}
	l, advance := h.New(t, policies)
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	retried := 0
	for step := 0; step < 400; step++ {
		cost := int64(1 + rng.IntN(4))
		if rng.IntN(20) == 0 {
			cost = 6 // above short's quota
		}
		d := allow(t, l, "k", cost)
		if !d.Allowed {
			var longest time.Duration
			never := false
			for i := range policies {
				r := d.Result(i)
				if r.Allowed {
					continue
				}
				if cost <= policies[i].Limit && r.Reset != r.RetryAfter {
					t.Fatalf("step %d: violated %s has Reset %v != RetryAfter %v", step, policies[i].Name, r.Reset, r.RetryAfter)
				}
				if cost > policies[i].Limit {
					never = true
					if r.RetryAfter != 0 {
						t.Fatalf("step %d: cost %d above %s's limit with RetryAfter %v", step, cost, policies[i].Name, r.RetryAfter)
					}
				} else if r.RetryAfter <= 0 {
					t.Fatalf("step %d: violated %s without RetryAfter: %+v", step, policies[i].Name, r)
				}
				longest = max(longest, r.RetryAfter)
			}
			switch {
			case never && d.RetryAfter != 0:
				t.Fatalf("step %d: never-satisfiable request with RetryAfter %v", step, d.RetryAfter)
			case !never && d.RetryAfter != longest:
				t.Fatalf("step %d: RetryAfter %v, want the longest violated policy's %v", step, d.RetryAfter, longest)
			case !never:
				advance(d.RetryAfter)
				if again := allow(t, l, "k", cost); !again.Allowed {
					t.Fatalf("step %d: cost %d denied again once RetryAfter %v passed: %+v", step, cost, d.RetryAfter, again)
				}
				retried++
			}
		}
		advance(time.Duration(rng.IntN(700)) * time.Millisecond)
	}
	if retried < 20 {
		t.Fatalf("only %d denials retried", retried)
	}
}
