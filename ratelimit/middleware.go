package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/internal/lograte"
	"github.com/backstop-go/backstop/problem"
)

// FailurePolicy is what the middleware does when the Limiter returns an
// error (its store is down or too slow).
type FailurePolicy int

const (
	// FailOpen lets the request through without limiting or RateLimit
	// headers. It is the default: an outage of the limiter's store should
	// not become an outage of the service.
	FailOpen FailurePolicy = iota
	// FailClosed answers 503 with an ErrUnavailable problem and
	// Retry-After: 1.
	FailClosed
	// FailLocal decides with Options.Fallback, an in-memory limiter with the
	// same policies by default: each process then enforces the limits on its
	// own, so a fleet of n instances admits up to n times the limit.
	FailLocal
)

// String returns "open", "closed" or "local", the names used in logs,
// metrics and span events.
func (f FailurePolicy) String() string {
	switch f {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return "FailurePolicy(" + strconv.Itoa(int(f)) + ")"
}

// Options configures a Middleware. The zero value is the documented
// defaults.
type Options struct {
	// Cost returns the number of units a request uses. Default (nil): 1 for
	// every request. A negative cost is a bug in Cost: that request alone is
	// treated as a limiter failure (OnError applies, the metric and log
	// record it) without calling the Limiter or pausing it for other
	// requests. A cost above every policy's Limit is denied without
	// Retry-After, however large (costs derived from client input such as
	// Content-Length cannot overflow a counter).
	Cost func(r *http.Request) int64
	// OnError chooses what happens when the Limiter fails. Default FailOpen.
	OnError FailurePolicy
	// Fallback is the limiter used under FailLocal. Default: a
	// SlidingWindow with the Limiter's policies. It must have the same
	// policies, in the same order.
	Fallback Limiter
	// RetryStoreAfter is how long the middleware applies OnError without
	// calling the Limiter after it failed, so an outage costs one timeout
	// per interval instead of one per request. Limiting resumes by itself
	// once the store answers again. Default 1s; negative disables.
	RetryStoreAfter time.Duration
	// DryRun computes decisions, headers, metrics and span events but never
	// rejects: use it to roll out a new limit safely.
	DryRun bool
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (Unix time in seconds) for the binding policy, for
	// clients written against the de-facto GitHub-style fields.
	LegacyHeaders bool
	// ErrorHandler writes the 429 and 503 answers. Its error is a
	// *problem.Problem of type ErrQuotaExceeded or ErrUnavailable with any
	// headers it needs in its Header. Default: a problem.Writer with default
	// options except that it logs nothing, because the middleware logs
	// limiter failures itself at most once a second (problem.Write would log
	// every 503 of an outage).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives limiter failures (never keys), at most one record per
	// second with a count of the suppressed ones. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider provides the decision counter. Default the OpenTelemetry
	// global provider (a no-op until an SDK is installed).
	MeterProvider metric.MeterProvider
}

// Middleware limits HTTP requests with a Limiter. Create it with
// NewMiddleware; the zero value is not usable. It is safe for concurrent
// use.
type Middleware struct {
	limiter  Limiter
	key      KeyFunc
	opts     Options
	policies []Policy
	maxCost  int64 // costs above every Limit are clamped to this: the decision is the same

	policyHeader []string // constant RateLimit-Policy value
	names        [][]byte // quoted policy names, `"name"`

	retryAt atomic.Int64    // unix nanos before which the Limiter is not called
	failLog lograte.Limiter // failure records: one a second

	counter metric.Int64Counter
	// Prebuilt option slices: passing a slice with ... allocates nothing,
	// while a single variadic argument would be boxed per call.
	allowedSet [][]metric.AddOption // per policy
	deniedSet  [][]metric.AddOption // per policy
	errorSet   []metric.AddOption
}

// Canonical header keys, assigned directly to skip canonicalisation.
const (
	hdrPolicy     = "Ratelimit-Policy"
	hdrRateLimit  = "Ratelimit"
	hdrRetryAfter = "Retry-After"
	hdrXLimit     = "X-Ratelimit-Limit"
	hdrXRemaining = "X-Ratelimit-Remaining"
	hdrXReset     = "X-Ratelimit-Reset"
)

// NewMiddleware returns a Middleware limiting requests with l, keyed by key.
// Both are required.
func NewMiddleware(l Limiter, key KeyFunc, opts Options) (*Middleware, error) {
	if l == nil || key == nil {
		return nil, errors.New("ratelimit: NewMiddleware needs a Limiter and a KeyFunc")
	}
	policies := l.Policies()
	if err := ValidatePolicies(policies); err != nil {
		return nil, err
	}
	if opts.OnError < FailOpen || opts.OnError > FailLocal {
		return nil, errors.New("ratelimit: unknown FailurePolicy " + opts.OnError.String())
	}
	if opts.OnError == FailLocal {
		if opts.Fallback == nil {
			fb, err := NewSlidingWindow(policies, MemoryOptions{})
			if err != nil {
				return nil, err
			}
			opts.Fallback = fb
		}
		fp := opts.Fallback.Policies()
		if len(fp) != len(policies) {
			return nil, errors.New("ratelimit: Options.Fallback must have the Limiter's policies")
		}
		for i := range fp {
			if fp[i] != policies[i] {
				return nil, errors.New("ratelimit: Options.Fallback must have the Limiter's policies")
			}
		}
	}
	if opts.RetryStoreAfter == 0 {
		opts.RetryStoreAfter = time.Second
	}
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = quietProblems.Write
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	m := &Middleware{limiter: l, key: key, opts: opts, policies: policies}
	for _, p := range policies {
		m.maxCost = max(m.maxCost, p.Limit+1) // Limit <= maxLimit: no overflow
	}

	var b []byte
	for i, p := range policies {
		if i > 0 {
			b = append(b, ", "...)
		}
		name := strconv.AppendQuote(nil, p.Name) // names are [A-Za-z0-9_.-]: no escapes
		m.names = append(m.names, name)
		b = append(b, name...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, min(p.Limit, maxSFInteger), 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, int64(p.Window/time.Second), 10)
	}
	m.policyHeader = []string{string(b)}

	meter := opts.MeterProvider.Meter("github.com/backstop-go/backstop/ratelimit")
	c, err := meter.Int64Counter("backstop.ratelimit.decisions",
		metric.WithUnit("{request}"),
		metric.WithDescription("Rate-limit decisions by result (allowed, denied, error) and binding policy."))
	if err != nil {
		return nil, err
	}
	m.counter = c
	dry := attribute.Bool("ratelimit.dry_run", opts.DryRun)
	for _, p := range policies {
		pol := attribute.String("ratelimit.policy", p.Name)
		m.allowedSet = append(m.allowedSet, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("ratelimit.result", "allowed"), pol, dry))})
		m.deniedSet = append(m.deniedSet, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("ratelimit.result", "denied"), pol, dry))})
	}
	m.errorSet = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("ratelimit.result", "error"),
		attribute.String("ratelimit.failure_policy", opts.OnError.String()), dry))}
	return m, nil
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
// alone.
//
// The ResponseWriter is passed to next unwrapped, so every optional
// interface (http.Flusher, http.Hijacker, io.ReaderFrom, Unwrap for
// http.ResponseController) survives.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	key := m.key(r)
	cost := int64(1)
	if m.opts.Cost != nil {
		cost = m.opts.Cost(r)
	}

	var d Decision
	var err error
	fellBack := false
	if cost > m.maxCost {
		// Denied by every policy whatever its size; clamping keeps
		// limiters' counters from overflowing on client-derived costs.
		cost = m.maxCost
	}
	if cost < 0 {
		err = errNegativeCost
	} else if until := m.retryAt.Load(); until != 0 && time.Now().UnixNano() < until {
		err = errCircuitOpen
	} else {
		d, err = m.limiter.AllowN(ctx, key, cost)
		if err == nil && d.Len() != len(m.policies) {
			d, err = Decision{}, errBadDecision
		}
		if err == nil && until != 0 {
			m.retryAt.CompareAndSwap(until, 0)
		}
	}
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
		d, err = m.opts.Fallback.AllowN(ctx, key, cost)
		if err != nil || d.Len() != len(m.policies) {
			next.ServeHTTP(w, r)
			return
		}
	}

	h := w.Header()
	h[hdrPolicy] = m.policyHeader
	if d.Len() > 0 {
		h[hdrRateLimit] = m.rateLimitValue(&d)
	}
	b := d.Binding()
	if m.opts.LegacyHeaders && b >= 0 {
		h[hdrXLimit] = []string{strconv.FormatInt(d.Limit, 10)}
		h[hdrXRemaining] = []string{strconv.FormatInt(d.Remaining, 10)}
		h[hdrXReset] = []string{strconv.FormatInt(time.Now().Add(ceilSeconds(d.Reset)).Unix(), 10)}
	}
	if d.Allowed {
		if !fellBack && b >= 0 {
			m.counter.Add(ctx, 1, m.allowedSet[b]...)
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

var (
	errCircuitOpen  = errors.New("ratelimit: limiter recently failed; not retrying yet")
	errNegativeCost = fmt.Errorf("%w: Options.Cost returned a negative cost", ErrInvalidCost)
	errBadDecision  = errors.New("ratelimit: limiter returned a decision whose results do not match its policies")
)

// quietProblems writes 429 and 503 problems without logging them.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

// fail records a Limiter failure and reports whether the fallback limiter
// should decide.
func (m *Middleware) fail(ctx context.Context, err error) bool {
	now := time.Now().UnixNano()
	// A negative cost is this request's bug, not the store's: pausing the
	// Limiter for everyone would let any request that triggers it switch
	// limiting off.
	// Nor is a request whose own deadline passed.
	if err != errCircuitOpen && err != errNegativeCost && ctx.Err() == nil && m.opts.RetryStoreAfter > 0 {
		m.retryAt.Store(now + int64(m.opts.RetryStoreAfter))
	}
	m.counter.Add(ctx, 1, m.errorSet...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("ratelimit.error", trace.WithAttributes(
			attribute.String("ratelimit.failure_policy", m.opts.OnError.String())))
	}
	if err != errCircuitOpen {
		if suppressed, ok := m.failLog.Allow(time.Unix(0, now), time.Second); ok {
			m.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "ratelimit: limiter failed",
				slog.String("error", err.Error()),
				slog.String("failure_policy", m.opts.OnError.String()),
				slog.Int64("suppressed", suppressed))
		}
	}
	return m.opts.OnError == FailLocal
}

func (m *Middleware) denied(ctx context.Context, d *Decision, b int, fellBack bool) {
	if b >= 0 && !fellBack { // a fallback decision was already counted as an error
		m.counter.Add(ctx, 1, m.deniedSet[b]...)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() && b >= 0 {
		span.AddEvent("ratelimit.denied", trace.WithAttributes(
			attribute.String("ratelimit.policy", m.policies[b].Name),
			attribute.Int64("ratelimit.retry_after_ms", d.RetryAfter.Milliseconds()),
			attribute.Bool("ratelimit.dry_run", m.opts.DryRun)))
	}
}

// rateLimitValue formats the RateLimit field, one item per policy, as a
// header value slice.
func (m *Middleware) rateLimitValue(d *Decision) []string {
	var buf [256]byte
	b := buf[:0]
	for i := 0; i < d.Len(); i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		r := d.Result(i)
		b = append(b, m.names[i]...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, min(r.Remaining, maxSFInteger), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, int64(ceilSeconds(r.Reset)/time.Second), 10)
	}
	return headerValue(b)
}

// smallValue holds a header value slice and its bytes in one allocation.
type smallValue struct {
	v   [1]string
	buf [96]byte
}

// headerValue returns []string{string(b)}. Values that fit (one or two
// policies with short names) cost one allocation instead of two: the
// string's bytes live in the same object as the slice, and are never
// written after the string is made.
func headerValue(b []byte) []string {
	if len(b) == 0 || len(b) > len(smallValue{}.buf) {
		return []string{string(b)}
	}
	sv := new(smallValue)
	n := copy(sv.buf[:], b)
	sv.v[0] = unsafe.String(&sv.buf[0], n)
	return sv.v[:]
}

// maxSFInteger is the largest integer a structured field can carry (RFC 9651
// §3.3.1); a larger one makes a parser reject the whole field.
const maxSFInteger = 999_999_999_999_999

// ceilSeconds rounds d up to whole seconds: a client told to wait less than
// the real time would be denied again.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return d
	}
	return (d + time.Second - 1) / time.Second * time.Second
}
