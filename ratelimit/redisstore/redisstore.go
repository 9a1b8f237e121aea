package redisstore

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/slidingwindow"
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
	// Timeout bounds each call (AllowN, Ping), round trips, go-redis's
	// retries and their backoff included, so a slow or absent Redis turns
	// into a quick error the middleware's FailurePolicy handles. Default
	// 50ms: a refused connection answers within it (go-redis would
	// otherwise retry the dial with backoff for about 1.7s), while a single
	// dropped connection still gets go-redis's retry, which starts within
	// 30ms of the failure with the client's default backoff. Negative means
	// only the caller's context bounds a call.
	//
	// It is applied as a context deadline, which go-redis honours while
	// dialling, backing off and waiting for a pooled connection, and on the
	// socket only when the client has ContextTimeoutEnabled: set that (or a
	// short ReadTimeout) so a hung, rather than refused, Redis is cut off
	// too. Concurrent calls share one deadline timer per Timeout/4, so a
	// call may get up to 1.25×Timeout; a caller's earlier deadline wins.
	// Once a call has started it ends at that deadline or with the reply,
	// not when ctx is cancelled (AllowN checks ctx before the call).
	Timeout time.Duration
	// DeniedCacheSize is how many over-limit keys are remembered locally
	// until their retry time, so a client hammering a limit it already
	// exceeded costs no Redis round trip. Default 10 000; negative disables.
	// A cached denial answers requests of the same key and cost, with
	// RetryAfter counting down from the denial Redis gave.
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
	prefix   string    // "<Prefix>:{:"
	suffix   string    // "}:<policy names>"
	argTmpl  []any     // cost, clock, expiry, packed limits and windows (µs), formats: see sliding.lua
	args     sync.Pool // of *scriptArgs
	timeout  time.Duration
	shared   atomic.Pointer[deadlineSlice]
	denied   *deniedCache

	// now, when set by tests, replaces the server clock (µs).
	now func() int64
}

// New returns a Limiter enforcing policies on client, which may be any
// redis.UniversalClient: a single node, Sentinel, Ring or Cluster client.
// New does no network I/O: the first call dials, and Ping checks the
// server. It returns an error wrapping ratelimit.ErrInvalidPolicy for
// invalid policies, and one for a Prefix containing a brace; it panics on
// a nil client.
func New(client redis.UniversalClient, policies []ratelimit.Policy, opts Options) (*Limiter, error) {
	if client == nil {
		panic("redisstore: New: nil client")
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
		opts.Timeout = 50 * time.Millisecond
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
	params := make([]byte, 0, 16*len(policies))
	for _, p := range policies {
		params = binary.LittleEndian.AppendUint64(params, math.Float64bits(float64(p.Limit)))
		params = binary.LittleEndian.AppendUint64(params, math.Float64bits(float64(p.Window.Microseconds())))
		names = append(names, p.Name)
	}
	l.argTmpl = []any{nil, "0", strconv.FormatInt(ttl.Milliseconds(), 10),
		"<" + strings.Repeat("d", 2*len(policies)), string(params),
		"<" + strings.Repeat("d", 3*len(policies)), "<" + strings.Repeat("d", 3*len(policies)+2)}
	l.suffix = "}:" + strings.Join(names, ",")
	if opts.DeniedCacheSize > 0 {
		l.denied = newDeniedCache(opts.DeniedCacheSize)
	}
	return l, nil
}

// Policies implements ratelimit.Limiter.
func (l *Limiter) Policies() []ratelimit.Policy { return slices.Clone(l.policies) }

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

	sa, _ := l.args.Get().(*scriptArgs)
	if sa == nil {
		sa = &scriptArgs{keys: make([]string, 1), args: make([]any, len(l.argTmpl))}
	}
	defer l.args.Put(sa)
	// go-redis copies keys and args into its command, so they are reused.
	sa.keys[0] = l.prefix + key + l.suffix
	copy(sa.args, l.argTmpl)
	sa.args[0] = n
	if l.now != nil {
		sa.args[1] = l.now()
	}

	reply, err := slidingScript.Run(l.bounded(ctx), l.client, sa.keys, sa.args...).Text()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return ratelimit.Decision{}, cerr
		}
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrStoreUnavailable, err)
	}
	np := len(l.policies)
	if len(reply) != 8*(3*np+2) {
		return ratelimit.Decision{}, fmt.Errorf("%w: unexpected script reply", ratelimit.ErrStoreUnavailable)
	}
	num := func(i int) int64 {
		return int64(math.Float64frombits(binary.LittleEndian.Uint64([]byte(reply[8*i : 8*i+8]))))
	}
	now := num(3 * np)
	admitted := num(3*np+1) == 1
	var results [ratelimit.MaxPolicies]ratelimit.Result
	all := true
	for i, p := range l.policies {
		w := p.Window.Microseconds()
		curr := num(3*i + 1)
		if admitted && n > 0 {
			curr -= n // the reply's count includes this request
		}
		r := slidingwindow.Assess(num(3*i+2), curr, p.Limit, n, now%w, w)
		results[i] = ratelimit.Result{Allowed: r.Allowed, Remaining: r.Remaining,
			Reset: time.Duration(r.Reset) * time.Microsecond, RetryAfter: time.Duration(r.RetryAfter) * time.Microsecond}
		all = all && r.Allowed
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
	d, err := ratelimit.NewDecision(l.policies, results[:len(l.policies)])
	if err != nil {
		return ratelimit.Decision{}, err // unreachable: one result per policy
	}
	if !d.Allowed && d.RetryAfter > 0 && l.denied != nil && n > 0 {
		l.denied.put(key, n, &d)
	}
	return d, nil
}

// Ping checks that Redis answers, within Options.Timeout like every call,
// through the client the Limiter holds, so that the Limiter can serve as a
// readiness check. Errors wrap ratelimit.ErrStoreUnavailable; a done ctx
// returns its error.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.client.Ping(l.bounded(ctx)).Err(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%w: %w", ratelimit.ErrStoreUnavailable, err)
	}
	return nil
}

// A per-call context.WithTimeout costs a runtime timer per decision, and
// adding a timer earlier than the network poller's sleep wakes the poller (a
// syscall and a context switch): about 5 allocations and several µs per call
// under load. Instead, calls share one deadline per slice of Timeout/4: each
// call's deadline is between Timeout and 1.25×Timeout away.

// deadlineSlice is a deadline shared by calls: done is closed when it
// passes.
type deadlineSlice struct {
	at   time.Time
	done chan struct{}
}

// bounded returns the context a call runs under: ctx itself when its own
// deadline comes within Timeout, else a context with ctx's values and a
// shared deadline at least Timeout away.
func (l *Limiter) bounded(ctx context.Context) context.Context {
	if l.timeout <= 0 {
		return ctx
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= l.timeout {
		return ctx
	}
	return boundedCtx{values: ctx, slice: l.slice()}
}

// slice returns a shared deadline at least l.timeout away.
func (l *Limiter) slice() *deadlineSlice {
	step := max(l.timeout/4, time.Millisecond)
	for {
		now := time.Now()
		ds := l.shared.Load()
		if ds != nil && ds.at.Sub(now) >= l.timeout {
			return ds
		}
		at := now.Add(l.timeout + step) // keeps the monotonic reading
		next := &deadlineSlice{at: at, done: make(chan struct{})}
		if l.shared.CompareAndSwap(ds, next) {
			time.AfterFunc(at.Sub(now), func() { close(next.done) })
			return next
		}
	}
}

// boundedCtx carries the values of the caller's context with a shared
// deadline, so a store call is limited by Timeout but not interrupted when
// the caller's context is cancelled (which AllowN checks before the call).
// It lives only for the call.
type boundedCtx struct {
	values context.Context
	slice  *deadlineSlice
}

func (c boundedCtx) Deadline() (time.Time, bool) { return c.slice.at, true }
func (c boundedCtx) Done() <-chan struct{}       { return c.slice.done }
func (c boundedCtx) Err() error {
	select {
	case <-c.slice.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (c boundedCtx) Value(key any) any { return c.values.Value(key) }

// scriptArgs are the reusable key and argument slices of one script call.
type scriptArgs struct {
	keys []string
	args []any
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
	// Only the same cost: a heavier request needs longer (or, above a
	// Limit, can never succeed), a lighter one may fit already.
	if !ok || cost != e.cost {
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
	d, err := ratelimit.NewDecision(policies, rs)
	return d, err == nil
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
