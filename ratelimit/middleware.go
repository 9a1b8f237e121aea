package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/backstop-go/backstop/problem"
)

// Middleware limits HTTP requests with a Limiter. Create it with New. The
// zero value is not usable: its Handler panics when it wraps a handler. A
// Middleware is safe for concurrent use.
type Middleware struct {
	limiter  Limiter
	key      KeyFunc
	opts     Options
	policies []Policy
	maxCost  int64 // costs above every Limit are clamped to this: the decision is the same

	policyHeader string   // constant RateLimit-Policy value
	names        [][]byte // quoted policy names, `"name"`

	retryAt atomic.Int64 // unix nanos before which the Limiter is not called
	tel     telemetry
}

// New returns a Middleware limiting requests with l, keyed by key, as in
//
//	m := ratelimit.New(limiter, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})
//
// l and key are required. New panics, naming the argument, when l or key
// is nil, when l's Policies are invalid (see ValidatePolicies), or when an
// Options field is impossible (an unknown OnError, a Fallback with other
// policies): these are programming errors, caught at start-up rather than
// at request time.
func New(l Limiter, key KeyFunc, opts Options) *Middleware {
	if l == nil {
		panic("ratelimit: New: nil Limiter")
	}
	if key == nil {
		panic("ratelimit: New: nil KeyFunc")
	}
	policies := l.Policies()
	if err := ValidatePolicies(policies); err != nil {
		panic("ratelimit: New: the Limiter's policies: " + err.Error())
	}
	opts = opts.withDefaults(policies)
	m := &Middleware{limiter: l, key: key, opts: opts, policies: policies}
	for _, p := range policies {
		m.maxCost = max(m.maxCost, p.Limit+1) // Limit <= maxLimit: no overflow
	}
	m.policyHeader, m.names = policyValue(policies)
	m.tel.init(opts, policies)
	return m
}

// Handler returns next wrapped in rate limiting.
//
// Every decided request gets RateLimit-Policy (constant, listing every
// policy as "name";q=<quota>;w=<window seconds>) and RateLimit
// ("name";r=<remaining>;t=<seconds until the window frees capacity>, one
// item per policy) headers as in draft-ietf-httpapi-ratelimit-headers-11,
// plus X-RateLimit-Limit/-Remaining/-Reset with Options.LegacyHeaders.
//
// A denied request is answered 429 Too Many Requests, without calling next,
// through Options.ErrorHandler with an ErrQuotaExceeded problem listing the
// violated policies in "violated-policies", and Retry-After in seconds:
// the time after which the same request will be admitted, which is never
// earlier than the t of the violated policies. (A request costing more than
// a policy's quota gets no Retry-After: it can never succeed.) Under
// DryRun the request proceeds instead.
//
// When the Limiter fails (an error, or a Decision without one result per
// policy), Options.OnError applies: FailOpen calls next
// without RateLimit headers, FailClosed answers 503 with an ErrUnavailable
// problem and Retry-After: 1, FailLocal decides with Options.Fallback as
// above. If the request's context is canceled (the client is gone), nothing
// is written; if its deadline has passed, OnError applies to that request
// alone. A negative cost from Options.Cost is answered 500 whatever
// OnError says (see Options.Cost).
//
// The ResponseWriter is passed to next unwrapped, so every optional
// interface (http.Flusher, http.Hijacker, io.ReaderFrom, Unwrap for
// http.ResponseController) survives.
//
// Handler panics on a Middleware that was not made by New.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if m == nil || m.limiter == nil {
		panic("ratelimit: Handler called on a Middleware not made by ratelimit.New")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	cost := int64(1)
	if m.opts.Cost != nil {
		cost = m.opts.Cost(r)
	}
	if cost < 0 {
		// The caller's bug, not the store's: never a reason to let the
		// request through undecided, nor to pause the Limiter.
		err := fmt.Errorf("%w: Options.Cost returned %d", ErrInvalidCost, cost)
		m.invalidCost(ctx, err)
		if m.opts.DryRun {
			next.ServeHTTP(w, r)
			return
		}
		m.opts.ErrorHandler(w, r, err)
		return
	}
	// Denied by every policy whatever its size; clamping keeps limiters'
	// counters from overflowing on client-derived costs.
	cost = min(cost, m.maxCost)
	key := m.key(r)

	var d Decision
	err := m.decide(ctx, key, cost, &d)
	fellBack := false
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return // the client is gone; its cancellation is not a store failure
		}
		// A passed deadline (TimeoutHandler, a request budget) is handled
		// as a failure, so the request is not answered with an empty 200,
		// but fail does not pause the Limiter for it.
		if !m.fail(ctx, err) {
			if m.opts.OnError == FailClosed && !m.opts.DryRun {
				m.opts.ErrorHandler(w, r, ErrUnavailable.New("The rate limiter is temporarily unavailable.").
					WithHeader(hdrRetryAfter, "1").WithCause(err))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		fellBack = true
		fctx := ctx
		if ctx.Err() != nil {
			// The request's deadline passed: the Fallback would refuse
			// its context too, letting the request through unlimited.
			fctx = context.WithoutCancel(ctx)
		}
		d, err = m.opts.Fallback.AllowN(fctx, key, cost)
		if err != nil || d.Len() != len(m.policies) {
			next.ServeHTTP(w, r)
			return
		}
	}

	h := w.Header()
	m.setHeaders(h, &d)
	b := d.Binding()
	if m.opts.LegacyHeaders && b >= 0 {
		h[hdrXLimit] = []string{strconv.FormatInt(d.Limit, 10)}
		h[hdrXRemaining] = []string{strconv.FormatInt(d.Remaining, 10)}
		// Whole seconds, rounded up like Retry-After: a client waiting
		// until the second the header names must not be early.
		reset := time.Now().Add(d.Reset)
		secs := reset.Unix()
		if reset.Nanosecond() > 0 {
			secs++
		}
		h[hdrXReset] = []string{strconv.FormatInt(secs, 10)}
	}
	if d.Allowed {
		if !fellBack && b >= 0 {
			m.allowed(ctx, b)
		}
		next.ServeHTTP(w, r)
		return
	}
	m.denied(ctx, &d, b, fellBack)
	if m.opts.DryRun {
		next.ServeHTTP(w, r)
		return
	}
	violated := make([]string, 0, d.Len())
	for i := 0; i < d.Len(); i++ {
		if !d.Result(i).Allowed {
			violated = append(violated, m.policies[i].Name)
		}
	}
	p := ErrQuotaExceeded.New("Too many requests; retry after the time given in Retry-After.").
		With("violated-policies", violated)
	if d.RetryAfter > 0 {
		p = p.WithHeader(hdrRetryAfter, strconv.FormatInt(int64(ceilSeconds(d.RetryAfter)/time.Second), 10))
	} else {
		p.Detail = "The request costs more than the quota of a policy; it can never be admitted."
	}
	m.opts.ErrorHandler(w, r, p)
}

// decide asks the Limiter, unless it failed within RetryStoreAfter, and
// stores its decision in d (the zero Decision on error): written in place,
// a Decision is not copied on its way to the caller.
func (m *Middleware) decide(ctx context.Context, key string, cost int64, d *Decision) error {
	until := m.retryAt.Load()
	if until != 0 {
		now := time.Now().UnixNano()
		if now < until {
			return errCircuitOpen
		}
		// RetryStoreAfter has passed: one request tries the Limiter again,
		// and the others keep applying OnError for another interval
		// meanwhile, so a hung store costs one timeout per interval, not
		// one per request arriving while it is being tried.
		next := now + int64(m.opts.RetryStoreAfter)
		if !m.retryAt.CompareAndSwap(until, next) {
			return errCircuitOpen
		}
		defer func(prev int64) {
			if ctx.Err() != nil {
				// This request's own deadline or cancellation says
				// nothing of the store: let the next request try it.
				m.retryAt.CompareAndSwap(next, prev)
			}
		}(until)
		until = next
	}
	var err error
	*d, err = m.limiter.AllowN(ctx, key, cost)
	if err == nil && d.Len() != len(m.policies) {
		*d = Decision{}
		return errBadDecision
	}
	if err == nil && until != 0 {
		m.retryAt.CompareAndSwap(until, 0)
	}
	return err
}

var (
	errCircuitOpen = errors.New("ratelimit: limiter recently failed; not retrying yet")
	errBadDecision = errors.New("ratelimit: limiter returned a decision whose results do not match its policies")
)

// quietProblems writes 429, 500 and 503 problems without logging them.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})
