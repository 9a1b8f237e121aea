// Package slidingwindow is the arithmetic of the weighted two-window
// counter (Cloudflare's sliding window) that ratelimit.SlidingWindow and
// ratelimit/redisstore share: each keeps, per key and policy, the counts of
// the current and the previous fixed window and estimates the trailing
// window as
//
//	previous × (window − elapsed) / window + current
//
// Times are integers in one unit of the caller's choice (nanoseconds in
// memory, microseconds from the Redis clock).
package slidingwindow

import "math"

// Admits reports whether n more units fit, elapsed into a window of length
// w. Counts stay within the limit (at most 2^52), so with n checked first
// the sums are exact in float64. It multiplies before dividing so
// whole-number estimates are exact; the Lua script of ratelimit/redisstore
// evaluates the same IEEE expression.
func Admits(prev, curr, limit, n, w, elapsed int64) bool {
	return AdmitsShare(Share(prev, w, elapsed), curr, limit, n)
}

// Share is the previous window's weighted share of the estimate, elapsed
// into the current window: prev × (w − elapsed) / w.
func Share(prev, w, elapsed int64) float64 {
	if prev == 0 {
		return 0 // no division: the previous window of a steady key is often empty
	}
	return float64(prev) * float64(w-elapsed) / float64(w)
}

// AdmitsShare is Admits given the previous window's Share, which callers
// deciding and reporting on one policy compute once.
func AdmitsShare(share float64, curr, limit, n int64) bool {
	if n > limit {
		return false // never fits; and curr+n below cannot overflow
	}
	return share+float64(curr+n) <= float64(limit)
}

// RemainingAfter is the Remaining of an admitted request of n units.
func RemainingAfter(share float64, curr, limit, n int64) int64 {
	return remaining(limit, share+float64(curr)+float64(n))
}

// Result is one policy's assessment of a request, in the caller's unit.
type Result struct {
	Allowed    bool
	Remaining  int64
	Reset      int64 // until the window ends (admitted) or RetryAfter (denied)
	RetryAfter int64 // 0 when admitted or when n exceeds the limit
}

// Assess evaluates one policy for a request of n units, given the counts of
// the current and previous windows (before this request) and how far into
// the current window of length w it is. Remaining and Reset describe the
// state after the request if it is admitted. The Result describes the
// policy alone: in a denied multi-policy decision the admitting policies
// consumed nothing, so the caller adds n back to their Remaining.
func Assess(prev, curr, limit, n, elapsed, w int64) Result {
	share := Share(prev, w, elapsed)
	estimate := share + float64(curr)
	toEnd := w - elapsed
	if AdmitsShare(share, curr, limit, n) {
		return Result{Allowed: true, Remaining: remaining(limit, estimate+float64(n)), Reset: toEnd}
	}
	r := Result{Remaining: remaining(limit, estimate), Reset: toEnd}
	if n > limit {
		return r
	}
	var wait int64
	if curr+n <= limit {
		// The previous window's share decays within this window.
		e := w - int64(math.Floor(float64(limit-curr-n)*float64(w)/float64(prev)))
		for e < w && !Admits(prev, curr, limit, n, w, e) {
			e++
		}
		wait = e - elapsed
	} else {
		// Wait for the next window, where this window's count decays.
		e := w - int64(math.Floor(float64(limit-n)*float64(w)/float64(curr)))
		for e < w && !Admits(curr, 0, limit, n, w, e) {
			e++
		}
		wait = (w - elapsed) + e
	}
	if wait < 1 { // rounding guard: a denial always asks for some wait
		wait = 1
	}
	r.RetryAfter = wait
	r.Reset = wait
	return r
}

func remaining(limit int64, used float64) int64 {
	r := math.Floor(float64(limit) - used)
	if r < 0 {
		return 0
	}
	return int64(r)
}
