package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

// A huge cost must be denied before any arithmetic: curr+n in int64 would
// overflow to a negative count that is admitted and leaves a negative
// counter admitting everything for the rest of the window. The middleware
// clamps costs; direct callers of AllowN rely on this.
func TestSlidingWindowHugeCostDoesNotOverflow(t *testing.T) {
	clock := limitertest.NewClock()
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerHour("h", 10)}, ratelimit.MemoryOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, _ := l.AllowN(ctx, "k", 1); !d.Allowed {
		t.Fatal("first unit denied")
	}
	for _, n := range []int64{math.MaxInt64, math.MaxInt64 - 1} {
		d, err := l.AllowN(ctx, "k", n)
		if err != nil || d.Allowed || d.RetryAfter != 0 {
			t.Fatalf("AllowN(%d) = %+v, %v; want a denial with RetryAfter 0", n, d, err)
		}
	}
	if d, _ := l.AllowN(ctx, "k", 0); d.Remaining != 9 {
		t.Fatalf("after huge costs Remaining = %d, want 9", d.Remaining)
	}
}

// NewDecision reports results that are not one per policy instead of
// panicking in a third-party Limiter.
func TestNewDecisionRejectsMismatchedResults(t *testing.T) {
	two := []ratelimit.Policy{ratelimit.PerMinute("a", 1), ratelimit.PerHour("b", 1)}
	for _, results := range [][]ratelimit.Result{nil, {{Allowed: true}}, make([]ratelimit.Result, 5)} {
		policies := two
		if len(results) == 5 {
			policies = make([]ratelimit.Policy, 5)
		}
		if _, err := ratelimit.NewDecision(policies, results); !errors.Is(err, ratelimit.ErrMismatchedResults) {
			t.Errorf("%d results for %d policies: error %v, want ErrMismatchedResults", len(results), len(policies), err)
		}
	}
	d, err := ratelimit.NewDecision(two, []ratelimit.Result{{Allowed: true, Remaining: 3}, {Allowed: false, RetryAfter: time.Second, Reset: time.Second}})
	if err != nil || d.Allowed || d.Binding() != 1 || d.RetryAfter != time.Second {
		t.Fatalf("NewDecision = %+v, %v", d, err)
	}
}

func TestPerDay(t *testing.T) {
	if p := ratelimit.PerDay("d", 7); p != (ratelimit.Policy{Name: "d", Limit: 7, Window: 24 * time.Hour}) {
		t.Fatalf("PerDay = %+v", p)
	}
	if err := ratelimit.ValidatePolicies([]ratelimit.Policy{ratelimit.PerDay("d", 7)}); err != nil {
		t.Fatal(err)
	}
}
