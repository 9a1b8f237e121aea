package redisstore

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/ratelimit"
)

//go:embed sliding.lua
var slidingLua string

var slidingScript = redis.NewScript(slidingLua)

// Options configures a Limiter. The zero value is the documented defaults.
type Options struct {
	// Prefix starts every Redis key. Default "ratelimit". A key's counters
	// for every policy are one small binary string value named
	// "<Prefix>:{:<key>}:<policy names, comma-separated>": renaming or
	// reordering policies starts new counters, changing a limit keeps them.
	// The braces are the Redis Cluster hash tag, so the script runs on the
	// key's slot whatever the key contains.
	Prefix string
	// Timeout bounds each decision, round trip included, so a slow Redis
	// turns into a quick error the middleware's FailurePolicy handles.
	// Default 100ms; negative means only the caller's context bounds it.
	// It is applied as a context deadline, which go-redis honours while
	// dialling and waiting for a pooled connection, and on the socket only
	// when the client has ContextTimeoutEnabled: set that (or a short
	// ReadTimeout) so a hung, rather than refused, Redis is cut off too.
	Timeout time.Duration
	// DeniedCacheSize is how many over-limit keys are remembered locally
	// until their retry time, so a client hammering a limit it already
	// exceeded costs no Redis round trip. Default 10 000; negative disables.
	// A cached denial is answered for requests of the same or a higher
	// cost, with RetryAfter counting down from the denial Redis gave.
	DeniedCacheSize int
}

// Limiter is a ratelimit.Limiter keeping sliding-window counters in Redis,
// shared by every process that uses the same Redis and Prefix. Each
// decision is one round trip: one Lua script (EVALSHA, with EVAL on
// NOSCRIPT) checks and updates every policy atomically using the Redis
// server's clock, so app servers' clocks never matter. Create it with New;
// the zero value is not usable. A Limiter is safe for concurrent use.
type Limiter struct {
	client   redis.UniversalClient
	policies []ratelimit.Policy
	prefix   string // "<Prefix>:{:"
	suffix   string // "}:<policy names>"
	argTmpl  []any  // cost, clock, expiry, formats, then limit and window (µs) per policy
	timeout  time.Duration
	denied   *deniedCache

	// now, when set by tests, replaces the server clock (µs).
	now func() int64
}

// New returns a Limiter enforcing policies on client, which may be any
// redis.UniversalClient: a single node, Sentinel, Ring or Cluster client.
func New(client redis.UniversalClient, policies []ratelimit.Policy, opts Options) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := ratelimit.ValidatePolicies(policies); err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = "ratelimit"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, errors.New("redisstore: Prefix must not contain { or }")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	if opts.DeniedCacheSize == 0 {
		opts.DeniedCacheSize = 10_000
	}
	l := &Limiter{
		client:   client,
		policies: append([]ratelimit.Policy(nil), policies...),
		prefix:   opts.Prefix + ":{:",
		timeout:  opts.Timeout,
	}
	ttl := 2 * ratelimit.MaxWindow(policies)
	var names []string
	l.argTmpl = []any{nil, "0", strconv.FormatInt(ttl.Milliseconds(), 10),
		"<" + strings.Repeat("d", 3*len(policies)), "<" + strings.Repeat("d", 2+2*len(policies))}
	for _, p := range policies {
		l.argTmpl = append(l.argTmpl, strconv.FormatInt(p.Limit, 10), strconv.FormatInt(p.Window.Microseconds(), 10))
		names = append(names, p.Name)
	}
	l.suffix = "}:" + strings.Join(names, ",")
	if opts.DeniedCacheSize > 0 {
		l.denied = newDeniedCache(opts.DeniedCacheSize)
	}
	return l, nil
}

// Policies implements ratelimit.Limiter.
func (l *Limiter) Policies() []ratelimit.Policy { return l.policies }

// AllowN implements ratelimit.Limiter. Errors from Redis, including the
// timeout, wrap ratelimit.ErrStoreUnavailable; a done ctx returns its error.
func (l *Limiter) AllowN(ctx context.Context, key string, n int64) (ratelimit.Decision, error) {
	if n < 0 {
		return ratelimit.Decision{}, ratelimit.ErrInvalidCost
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, err
	}
	if l.denied != nil && n > 0 {
		if d, ok := l.denied.get(key, n, l.policies); ok {
			return d, nil
		}
	}

	keys := []string{l.prefix + key + l.suffix}
	args := make([]any, len(l.argTmpl))
	copy(args, l.argTmpl)
	args[0] = n
	if l.now != nil {
		args[1] = l.now()
	}

	rctx := ctx
	if l.timeout > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > l.timeout {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, l.timeout)
			defer cancel()
		}
	}
	reply, err := slidingScript.Run(rctx, l.client, keys, args...).Text()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return ratelimit.Decision{}, cerr
		}
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrStoreUnavailable, err)
	}
	if len(reply) != 8*(2+2*len(l.policies)) {
		return ratelimit.Decision{}, fmt.Errorf("%w: unexpected script reply", ratelimit.ErrStoreUnavailable)
	}
	num := func(i int) int64 {
		return int64(math.Float64frombits(binary.LittleEndian.Uint64([]byte(reply[8*i : 8*i+8]))))
	}
	now := num(0)
	admitted := num(1) == 1
	var results [ratelimit.MaxPolicies]ratelimit.Result
	all := true
	for i, p := range l.policies {
		w := p.Window.Microseconds()
		results[i] = ratelimit.AssessSlidingWindow(num(3+2*i), num(2+2*i), p.Limit, n, now%w, w, time.Microsecond)
		all = all && results[i].Allowed
	}
	if all != admitted {
		// Both sides evaluate the same IEEE expression on the same numbers.
		return ratelimit.Decision{}, fmt.Errorf("%w: script and client disagree", ratelimit.ErrStoreUnavailable)
	}
	if !all {
		for i := range l.policies {
			if results[i].Allowed {
				results[i].Remaining += n // nothing was consumed
			}
		}
	}
	d := ratelimit.NewDecision(l.policies, results[:len(l.policies)])
	if !d.Allowed && d.RetryAfter > 0 && l.denied != nil && n > 0 {
		l.denied.put(key, n, &d)
	}
	return d, nil
}

// deniedCache remembers keys Redis denied until they may succeed again.
type deniedCache struct {
	mu  sync.Mutex
	max int
	m   map[string]deniedEntry
}

type deniedEntry struct {
	at      time.Time // local monotonic time of the denial
	until   time.Time
	cost    int64
	results [ratelimit.MaxPolicies]ratelimit.Result
}

func newDeniedCache(max int) *deniedCache {
	return &deniedCache{max: max, m: make(map[string]deniedEntry)}
}

func (c *deniedCache) get(key string, cost int64, policies []ratelimit.Policy) (ratelimit.Decision, bool) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && !now.Before(e.until) {
		delete(c.m, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok || cost < e.cost {
		return ratelimit.Decision{}, false
	}
	elapsed := now.Sub(e.at)
	rs := e.results[:len(policies)]
	for i := range rs {
		if !rs[i].Allowed {
			rs[i].RetryAfter = max(1, rs[i].RetryAfter-elapsed)
			rs[i].Reset = rs[i].RetryAfter
		} else {
			rs[i].Reset = max(0, rs[i].Reset-elapsed)
		}
	}
	return ratelimit.NewDecision(policies, rs), true
}

func (c *deniedCache) put(key string, cost int64, d *ratelimit.Decision) {
	now := time.Now()
	e := deniedEntry{at: now, until: now.Add(d.RetryAfter), cost: cost}
	for i := 0; i < d.Len(); i++ {
		e.results[i] = d.Result(i)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		// Drop expired entries, or failing that any one: iteration order is
		// random, so this is random eviction at O(1) amortised cost.
		scanned := 0
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
			if scanned++; scanned >= 16 {
				break
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[strings.Clone(key)] = e
}
