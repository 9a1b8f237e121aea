package ratelimit_test

import (
	"context"
	"math"
	"testing"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

// Regression test for sliding.go (owned by the performance engineer): in
// SlidingWindow.AllowN, admits computes float64(curr+n) with curr+n in
// int64, so a huge n overflows to a negative count, is admitted, and
// `e.state[i].curr += n` leaves a negative counter that admits everything
// for the rest of the window. Fix: deny n > p.Limit before the arithmetic,
// e.g. in the loop `if n > p.Limit || !admits(...)`, (and in assessWindow
// the `st.curr+n <= limit` test the same way). The middleware clamps costs,
// so this matters to direct callers of AllowN.
func TestReviewSlidingWindowHugeCostDoesNotOverflow(t *testing.T) {
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
