package limitertest

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
)

// The checks in this file need no control of the limiter's clock: counts,
// costs, policies combined, keys, concurrency and cancellation.

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
