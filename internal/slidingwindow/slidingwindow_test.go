package slidingwindow

import "testing"

// Assess's RetryAfter is the least wait after which Admits holds, in the
// caller's unit, in both regimes: the previous window's share decaying
// within this window, and waiting for the next window.
func TestRetryAfterIsTheLeastWait(t *testing.T) {
	const w = 1000
	for _, tc := range []struct{ prev, curr, limit, n, elapsed int64 }{
		{10, 0, 10, 1, 0},    // previous window decays
		{7, 2, 10, 3, 100},   // both
		{0, 10, 10, 1, 500},  // next window
		{3, 9, 10, 4, 999},   // next window, previous nearly gone
		{50, 40, 60, 40, 70}, // heavy cost
	} {
		r := Assess(tc.prev, tc.curr, tc.limit, tc.n, tc.elapsed, w)
		if r.Allowed || r.RetryAfter < 1 || r.Reset != r.RetryAfter {
			t.Fatalf("%+v: %+v, want a denial with a wait", tc, r)
		}
		at := func(wait int64) bool {
			e := tc.elapsed + wait
			if e < w {
				return Admits(tc.prev, tc.curr, tc.limit, tc.n, w, e)
			}
			return Admits(tc.curr, 0, tc.limit, tc.n, w, e-w) // the next window
		}
		if !at(r.RetryAfter) || at(r.RetryAfter-1) {
			t.Fatalf("%+v: RetryAfter %d is not the least wait", tc, r.RetryAfter)
		}
	}
	if r := Assess(0, 0, 10, 11, 0, w); r.Allowed || r.RetryAfter != 0 {
		t.Fatalf("cost above the limit: %+v, want a denial without a wait", r)
	}
	if r := Assess(0, 3, 10, 2, 250, w); !r.Allowed || r.Remaining != 5 || r.Reset != 750 {
		t.Fatalf("admitted: %+v", r)
	}
}
