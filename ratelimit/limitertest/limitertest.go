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
	t.Run("PoliciesAreACopy", func(t *testing.T) { testPoliciesCopy(t, h) })
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

// testPoliciesCopy: the slice Policies returns is the caller's; changing
// it changes neither the limiter's policies nor its decisions.
func testPoliciesCopy(t *testing.T, h Harness) {
	l, _ := h.New(t, []ratelimit.Policy{{Name: "p", Limit: 2, Window: time.Minute}})
	p := l.Policies()
	p[0].Name, p[0].Limit = "changed", 1000
	if got := l.Policies(); got[0].Name != "p" || got[0].Limit != 2 {
		t.Fatalf("Policies() = %+v after a caller changed the slice it got", got)
	}
	ctx := context.Background()
	for i := range 3 {
		d, err := l.AllowN(ctx, "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != (i < 2) {
			t.Fatalf("request %d: allowed %v with a limit of 2", i+1, d.Allowed)
		}
	}
}
