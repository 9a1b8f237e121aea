package ratelimit

import (
	"context"
	"math"
	"slices"
	"time"

	"golang.org/x/time/rate"
)

// TokenBucket is an in-memory Limiter with one golang.org/x/time/rate token
// bucket per key and policy: a policy of Limit per Window refills at
// Limit/Window units per second and holds at most Limit units (the burst). It
// admits short bursts a sliding window would smooth out, and never more than
// Limit + Limit×elapsed/Window in any interval. Keys are sharded, evicted
// when idle (a full bucket carries no state) and capped like SlidingWindow.
// Create it with NewTokenBucket; the zero value is not usable. A TokenBucket
// is safe for concurrent use.
type TokenBucket struct {
	policies []Policy
	limits   []rate.Limit
	clock    func() time.Time
	epoch    time.Time
	table    *table[[]*rate.Limiter]
}

// NewTokenBucket returns an in-memory token-bucket limiter enforcing every
// policy at once.
func NewTokenBucket(policies []Policy, opts MemoryOptions) (*TokenBucket, error) {
	if err := ValidatePolicies(policies); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &TokenBucket{policies: append([]Policy(nil), policies...), clock: opts.Clock}
	for _, p := range policies {
		l.limits = append(l.limits, rate.Limit(float64(p.Limit)/p.Window.Seconds()))
	}
	l.epoch = l.clock()
	l.table = newTable[[]*rate.Limiter](opts.Shards, opts.MaxKeys, int64(MaxWindow(policies)))
	return l, nil
}

// Policies implements Limiter.
func (l *TokenBucket) Policies() []Policy { return slices.Clone(l.policies) }

// Len returns the number of keys currently tracked.
func (l *TokenBucket) Len() int { return l.table.len() }

// AllowN implements Limiter.
func (l *TokenBucket) AllowN(ctx context.Context, key string, n int64) (Decision, error) {
	var d Decision
	if n < 0 {
		return d, ErrInvalidCost
	}
	if err := ctx.Err(); err != nil {
		return d, err
	}
	t := l.clock()
	now := int64(t.Sub(l.epoch))
	e, s, created := l.table.get(key, now)
	if last := e.lastUse; last > now {
		t = l.epoch.Add(time.Duration(last)) // never earlier than a decision already made for this key
	}
	if created {
		e.state = make([]*rate.Limiter, len(l.policies))
		for i, p := range l.policies {
			e.state[i] = rate.NewLimiter(l.limits[i], int(min(p.Limit, math.MaxInt)))
		}
	}
	d.n = int8(len(l.policies))
	all := true
	for i, p := range l.policies {
		tokens := e.state[i].TokensAt(t)
		r := &d.results[i]
		perUnit := float64(time.Second) / float64(l.limits[i])
		if tokens >= float64(n) {
			d.allowed |= 1 << i
			r.remaining = int64(math.Floor(tokens - float64(n)))
			r.reset = time.Duration(math.Ceil((float64(p.Limit) - tokens + float64(n)) * perUnit))
			continue
		}
		all = false
		r.remaining = max(0, int64(math.Floor(tokens)))
		if n <= p.Limit {
			r.retryAfter = max(1, time.Duration(math.Ceil((float64(n)-tokens)*perUnit)))
			// The rate is rarely exact in a float64: the bucket refills by
			// its own arithmetic, which may reach n a nanosecond or so later.
			for e.state[i].TokensAt(t.Add(r.retryAfter)) < float64(n) {
				r.retryAfter++
			}
			r.reset = r.retryAfter
		} else {
			r.reset = time.Duration(math.Ceil((float64(p.Limit) - tokens) * perUnit))
		}
	}
	if all && n > 0 {
		for _, b := range e.state {
			b.AllowN(t, int(n))
		}
	} else if !all {
		unconsume(&d, n)
		// Nor did the buckets that admitted it lose n: they are full as
		// soon as they would be without this request.
		for i, p := range l.policies {
			if d.admitted(i) {
				perUnit := float64(time.Second) / float64(l.limits[i])
				d.results[i].reset = time.Duration(math.Ceil((float64(p.Limit) - e.state[i].TokensAt(t)) * perUnit))
			}
		}
	}
	d.finish(l.policies)
	// A key being denied is evicted last (see table), until it could be
	// admitted again.
	tn := int64(t.Sub(l.epoch))
	switch {
	case !all && d.RetryAfter > 0:
		s.release(e, tn+int64(d.RetryAfter), tn)
	case all:
		s.release(e, 0, tn)
	default:
		e.unlock()
	}
	return d, nil
}
