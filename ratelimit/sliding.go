package ratelimit

import (
	"context"
	"slices"
	"time"

	"github.com/backstop-go/backstop/internal/slidingwindow"
)

// SlidingWindow is an in-memory Limiter using the weighted two-window counter
// (Cloudflare's sliding window): each policy keeps the counts of the current
// and the previous fixed window and estimates the trailing window as
//
//	previous × (window − elapsed) / window + current
//
// Windows are aligned to the limiter's creation, not the wall clock, so keys
// do not all reset at the same instant. A decision for a key already tracked
// finds it without a lock, locks that key's entry alone for the update,
// and allocates nothing. Create it
// with NewSlidingWindow; the zero value is not usable. A SlidingWindow is
// safe for concurrent use; limits are per process (use ratelimit/redisstore
// to share them between instances).
type SlidingWindow struct {
	policies []Policy
	windows  []int64 // ns
	clock    func() time.Time
	fake     bool // clock is not time.Now
	epoch    time.Time
	// Exactly one table is set. A one-policy limiter's entries keep one
	// window state, not MaxPolicies: 128 bytes instead of 192, so a table
	// of many keys spans fewer pages and cache lines.
	one  *table[[1]windowState]
	many *table[[MaxPolicies]windowState]
}

// windowStates is the state of one key: one window per policy.
type windowStates interface {
	[1]windowState | [MaxPolicies]windowState
}

// windowState is one policy's counters for one key.
type windowState struct {
	start      int64 // clock reading at which the current window began, a multiple of its length
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
	idle := 2 * int64(MaxWindow(policies))
	if len(policies) == 1 {
		l.one = newTable[[1]windowState](opts.Shards, opts.MaxKeys, idle)
	} else {
		l.many = newTable[[MaxPolicies]windowState](opts.Shards, opts.MaxKeys, idle)
	}
	return l, nil
}

// Policies implements Limiter.
func (l *SlidingWindow) Policies() []Policy { return slices.Clone(l.policies) }

// Len returns the number of keys currently tracked.
func (l *SlidingWindow) Len() int {
	if l.one != nil {
		return l.one.len()
	}
	return l.many.len()
}

// AllowN implements Limiter.
func (l *SlidingWindow) AllowN(ctx context.Context, key string, n int64) (d Decision, err error) {
	// d is the named result, written in place: a Decision is too large to
	// copy for free on the hot path.
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
	if l.one != nil {
		allowOne(l, key, n, now, &d)
	} else {
		allowWindows(l, l.many, key, n, now, &d)
	}
	return d, nil
}

// allowWindows decides for n units of key at the clock reading now, into
// d (zero on entry).
func allowWindows[S windowStates](l *SlidingWindow, t *table[S], key string, n, now int64, d *Decision) {
	e, s, _ := t.get(key, now)
	now = e.lastUse // never earlier than a decision already made for this key
	// An admitted request, the common case, is decided and reported in one
	// pass under the entry's lock, with no division for a key already in
	// its current window; a denied one is assessed in full (its RetryAfter
	// decides how long the key is held).
	np := len(l.policies)
	d.n = int8(np)
	all, best := true, 0
	for i := 0; i < np; i++ {
		w, limit := l.windows[i], l.policies[i].Limit
		st := rollWindow(e.state[i], now, w)
		e.state[i] = st
		elapsed := now - st.start
		share := slidingwindow.Share(st.prev, w, elapsed)
		if !slidingwindow.AdmitsShare(share, st.curr, limit, n) {
			all = false
			continue
		}
		r := &d.results[i]
		d.allowed |= 1 << i
		r.remaining = slidingwindow.RemainingAfter(share, st.curr, limit, n)
		r.reset = time.Duration(w - elapsed)
		if r.remaining < d.results[best].remaining {
			best = i
		}
	}
	if all {
		if n > 0 {
			for i := 0; i < np; i++ {
				e.state[i].curr += n
			}
		}
		// The binding policy of an admitted request is the one with the
		// least remaining. (d is complete before the unlock, whose locked
		// instruction drains these stores to the cache: the caller's copy
		// of d then reads them from there, not from the store buffer,
		// which cannot forward a wide load from several narrow stores.)
		d.Allowed, d.binding = true, int8(best)
		d.Limit, d.Remaining, d.Reset = l.policies[best].Limit, d.results[best].remaining, d.results[best].reset
		s.release(e, 0, now) // quota again: evictable like any key
		return
	}
	deny(l, e, s, n, now, d)
}

// allowOne is allowWindows for a one-policy limiter: an admitted request
// is decided without the loops over policies and the search for the
// binding one.
func allowOne(l *SlidingWindow, key string, n, now int64, d *Decision) {
	e, s, _ := l.one.get(key, now)
	now = e.lastUse // as in allowWindows
	w, limit := l.windows[0], l.policies[0].Limit
	st := rollWindow(e.state[0], now, w)
	elapsed := now - st.start
	share := slidingwindow.Share(st.prev, w, elapsed)
	if !slidingwindow.AdmitsShare(share, st.curr, limit, n) {
		e.state[0] = st
		deny(l, e, s, n, now, d)
		return
	}
	remaining := slidingwindow.RemainingAfter(share, st.curr, limit, n)
	st.curr += n
	e.state[0] = st
	reset := time.Duration(w - elapsed)
	d.n, d.allowed, d.Allowed, d.binding = 1, 1, true, 0
	d.results[0] = result{remaining: remaining, reset: reset}
	d.Limit, d.Remaining, d.Reset = limit, remaining, reset
	s.release(e, 0, now) // as in allowWindows
}

// deny decides for n units of a key some policy denies, with e locked and
// its windows rolled to now, into d, and unlocks e.
func deny[S windowStates](l *SlidingWindow, e *entry[S], s *shardData[S], n, now int64, d *Decision) {
	d.n = int8(len(l.policies))
	for i := range l.policies {
		d.set(i, assessWindow(e.state[i], l.policies[i].Limit, n, now, l.windows[i]))
	}
	unconsume(d, n)
	d.finish(l.policies)
	// A key being denied is evicted last (see table), until it could be
	// admitted again. A cost above a Limit says nothing of the key's quota.
	if d.RetryAfter > 0 {
		s.release(e, now+int64(d.RetryAfter), now)
	} else {
		e.unlock()
	}
}

// rollWindow moves st to the window containing now. A key decided on
// again within its window, the common case, costs a subtraction and a
// comparison, not a division.
func rollWindow(st windowState, now, w int64) windowState {
	switch since := now - st.start; {
	case since >= 0 && since < w:
	case since >= w && since < 2*w:
		st = windowState{start: st.start + w, prev: st.curr}
	default:
		st = windowState{start: now - now%w}
	}
	return st
}

// assessWindow evaluates one policy for a request of n units. st must already
// be rolled to now's window.
func assessWindow(st windowState, limit, n, now, w int64) Result {
	r := slidingwindow.Assess(st.prev, st.curr, limit, n, now-st.start, w)
	return Result{Allowed: r.Allowed, Remaining: r.Remaining, Reset: time.Duration(r.Reset), RetryAfter: time.Duration(r.RetryAfter)}
}

// unconsume corrects the Remaining of admitting policies in a denied
// decision: nothing was consumed, so n units are still there.
func unconsume(d *Decision, n int64) {
	for i := 0; i < int(d.n); i++ {
		if d.admitted(i) {
			d.results[i].remaining += n
		}
	}
}
