package ratelimit

import (
	"context"
	"math"
	"time"
)

// SlidingWindow is an in-memory Limiter using the weighted two-window counter
// (Cloudflare's sliding window): each policy keeps the counts of the current
// and the previous fixed window and estimates the trailing window as
//
//	previous × (window − elapsed) / window + current
//
// Windows are aligned to the limiter's creation, not the wall clock, so keys
// do not all reset at the same instant. A decision for a key already tracked
// normally takes only that key's own lock and allocates nothing. Create it
// with NewSlidingWindow; the zero value is not usable. A SlidingWindow is
// safe for concurrent use; limits are per process (use ratelimit/redisstore
// to share them between instances).
type SlidingWindow struct {
	policies []Policy
	windows  []int64 // ns
	clock    func() time.Time
	fake     bool // clock is not time.Now
	epoch    time.Time
	table    *table[[MaxPolicies]windowState]
}

// windowState is one policy's counters for one key.
type windowState struct {
	index      int64 // window number since the epoch
	curr, prev int64
}

// NewSlidingWindow returns an in-memory sliding-window limiter enforcing every
// policy at once.
func NewSlidingWindow(policies []Policy, opts MemoryOptions) (*SlidingWindow, error) {
	if err := ValidatePolicies(policies); err != nil {
		return nil, err
	}
	fake := opts.Clock != nil
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &SlidingWindow{
		fake:     fake,
		policies: append([]Policy(nil), policies...),
		windows:  make([]int64, len(policies)),
		clock:    opts.Clock,
	}
	for i, p := range policies {
		l.windows[i] = int64(p.Window)
	}
	l.epoch = l.clock()
	// After two of its longest windows without traffic every counter of a
	// key is zero, so forgetting it changes nothing.
	l.table = newTable[[MaxPolicies]windowState](opts.Shards, opts.MaxKeys, 2*int64(MaxWindow(policies)))
	return l, nil
}

// Policies implements Limiter.
func (l *SlidingWindow) Policies() []Policy { return l.policies }

// Len returns the number of keys currently tracked.
func (l *SlidingWindow) Len() int { return l.table.len() }

// AllowN implements Limiter.
func (l *SlidingWindow) AllowN(ctx context.Context, key string, n int64) (Decision, error) {
	var d Decision
	if n < 0 {
		return d, ErrInvalidCost
	}
	if err := ctx.Err(); err != nil {
		return d, err
	}
	var now int64
	if l.fake {
		now = int64(l.clock().Sub(l.epoch))
	} else {
		now = int64(time.Since(l.epoch)) // monotonic only: cheaper than time.Now
	}
	e, _ := l.table.get(key, now)
	now = e.lastUse.Load() // never earlier than a decision already made for this key
	// Only the admission test and the update happen under the entry's lock;
	// the figures for the caller are derived from a snapshot afterwards,
	// which keeps the critical section short when many goroutines share a
	// key.
	var snap [MaxPolicies]windowState
	all := true
	for i, p := range l.policies {
		w := l.windows[i]
		st := rollWindow(e.state[i], now, w)
		e.state[i] = st
		snap[i] = st
		if !admits(st.prev, st.curr, p.Limit, n, w, now-st.index*w) {
			all = false
		}
	}
	if all && n > 0 {
		for i := range l.policies {
			e.state[i].curr += n
		}
	}
	e.mu.Unlock()
	d.n = len(l.policies)
	for i, p := range l.policies {
		d.results[i] = assessWindow(snap[i], p.Limit, n, now, l.windows[i])
	}
	if !all {
		unconsume(&d, n)
	}
	d.finish(l.policies)
	return d, nil
}

// rollWindow moves st to the window containing now.
func rollWindow(st windowState, now, w int64) windowState {
	idx := now / w
	switch st.index {
	case idx:
	case idx - 1:
		st = windowState{index: idx, prev: st.curr}
	default:
		st = windowState{index: idx}
	}
	return st
}

// admits reports whether n more units fit when elapsed ns into the window.
// Counts stay within the limit (at most 2^52), so with n checked first the
// sums are exact in float64.
// It multiplies before dividing so whole-number estimates are exact; the Lua
// script in redisstore uses the same expression.
func admits(prev, curr, limit, n, w, elapsed int64) bool {
	if n > limit {
		return false // never fits; and curr+n below cannot overflow
	}
	return float64(prev)*float64(w-elapsed)/float64(w)+float64(curr+n) <= float64(limit)
}

// assessWindow evaluates one policy for a request of n units. st must already
// be rolled to now's window. Remaining and Reset describe the state after
// the request if it is admitted.
func assessWindow(st windowState, limit, n, now, w int64) Result {
	elapsed := now - st.index*w
	estimate := float64(st.prev)*float64(w-elapsed)/float64(w) + float64(st.curr)
	toEnd := time.Duration(w - elapsed)
	if admits(st.prev, st.curr, limit, n, w, elapsed) {
		return Result{Allowed: true, Remaining: remaining(limit, estimate+float64(n)), Reset: toEnd}
	}
	r := Result{Remaining: remaining(limit, estimate), Reset: toEnd}
	if n > limit {
		return r
	}
	var wait int64
	if st.curr+n <= limit {
		// The previous window's share decays within this window.
		e := w - int64(math.Floor(float64(limit-st.curr-n)*float64(w)/float64(st.prev)))
		for e < w && !admits(st.prev, st.curr, limit, n, w, e) {
			e++
		}
		wait = e - elapsed
	} else {
		// Wait for the next window, where this window's count decays.
		e := w - int64(math.Floor(float64(limit-n)*float64(w)/float64(st.curr)))
		for e < w && !admits(st.curr, 0, limit, n, w, e) {
			e++
		}
		wait = (w - elapsed) + e
	}
	if wait < 1 { // rounding guard: a denial always asks for some wait
		wait = 1
	}
	r.RetryAfter = time.Duration(wait)
	r.Reset = r.RetryAfter
	return r
}

func remaining(limit int64, used float64) int64 {
	r := math.Floor(float64(limit) - used)
	if r < 0 {
		return 0
	}
	return int64(r)
}

// unconsume corrects the Remaining of admitting policies in a denied
// decision: nothing was consumed, so n units are still there.
func unconsume(d *Decision, n int64) {
	for i := 0; i < d.n; i++ {
		if d.results[i].Allowed {
			d.results[i].Remaining += n
		}
	}
}

// AssessSlidingWindow evaluates one sliding-window policy for a request of
// n units, given the counts of the current and previous windows and how far
// into the current window now is. It is the arithmetic of SlidingWindow,
// exported for Limiter implementations that keep the counters elsewhere
// (ratelimit/redisstore): elapsed and window are in one unit of time of the
// caller's choice, unit is its length, and the Result's durations are
// converted with it. The Result describes the policy alone; in a denied
// multi-policy decision the admitting policies consumed nothing, so add n
// back to their Remaining.
func AssessSlidingWindow(prev, curr, limit, n, elapsed, window int64, unit time.Duration) Result {
	r := assessWindow(windowState{curr: curr, prev: prev}, limit, n, elapsed, window)
	r.Reset *= unit
	r.RetryAfter *= unit
	return r
}
