package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configure a [Transport]. The zero value of every field is the
// default its comment gives.
type Options struct {
	// KeyMethods are the methods whose requests get a generated
	// Idempotency-Key when they carry none. Nil means POST and PATCH, the
	// methods package idempotency covers by default; an empty, non-nil
	// slice means none.
	KeyMethods []string

	// MaxAttempts bounds the attempts of one request, the first included.
	// Zero means 3; 1 disables retries.
	MaxAttempts int

	// BaseDelay and MaxDelay shape the exponential backoff with full
	// jitter used when the server says nothing about when to retry: the
	// wait before resend n (1, 2, ...) is uniform in
	// [0, min(MaxDelay, BaseDelay·2^(n-1))]. Zero means 100 ms and 5 s.
	BaseDelay, MaxDelay time.Duration

	// MaxWait is the longest wait the Transport accepts before a retry,
	// whether from the backoff or from the server (Retry-After, RateLimit).
	// A longer wait ends the retries at once with the last response.
	// Waits never run past the request context's deadline either. Zero
	// means 30 s.
	MaxWait time.Duration

	// Budget bounds the retries sent to each host, so that a failing
	// service is not buried under a retry storm.
	Budget Budget

	// WaitForQuota makes a request wait before its first attempt while
	// the last RateLimit field from its host said that a policy has no
	// quota left (r=0), until the time that field gave (t), instead of
	// being sent to be refused. A wait that MaxWait or the context's
	// deadline does not allow is skipped and the request sent at once.
	// False (the default) never waits before a first attempt.
	WaitForQuota bool

	// TracerProvider provides the tracer of the span each request gets.
	// Nil means the global provider (otel.GetTracerProvider()); while no
	// SDK is installed there, no span is started at all, nor with a
	// provider of package go.opentelemetry.io/otel/trace/noop.
	TracerProvider trace.TracerProvider

	// Logger receives one record at debug level per retry. Nil means
	// slog.Default() at the time of each record.
	Logger *slog.Logger
}

// Budget is a retry budget per host, as in gRPC's retry throttling and
// Envoy's and Finagle's retry budgets: every request sent to a host
// deposits Ratio of a retry, every retry withdraws one, and the balance
// never exceeds Reserve. Over time retries add at most Ratio of the
// requests made, plus bursts of Reserve; when the budget is spent, the
// request ends with its last response (or an error wrapping
// [ErrBudgetExhausted]).
type Budget struct {
	// Ratio is the share of requests that may be retried. Zero means 0.1
	// (10 %); a negative value disables the budget.
	Ratio float64
	// Reserve is the largest balance, and the balance of a host not seen
	// before, in retries. Zero means 10.
	Reserve int
}

// Transport is an http.RoundTripper that makes retries safe and polite:
// it adds an Idempotency-Key to unsafe requests, retries what can be
// retried with backoff or when the server says, within a per-host budget,
// and never retries what could run twice.
//
// Create it with [New]; the zero value is also usable and behaves as
// New(nil, Options{}). A Transport is safe for concurrent use and should be
// reused: it keeps per-host state (retry budgets, quotas). It must not be
// copied after first use.
//
// See the package documentation for the rules it follows.
type Transport struct {
	next http.RoundTripper
	cfg  atomic.Pointer[config]
}

// config is the Transport's fixed settings and shared state.
type config struct {
	o          Options
	keyMethods []string
	share      int64 // budget deposit per request in token units; < 0: no budget
	reserve    int64 // budget cap in token units
	tracer     trace.Tracer
	logger     *slog.Logger
	epoch      time.Time
	hosts      hostTable
	spanOpts   []trace.SpanStartOption
	globalTP   bool // the tracer is the global provider's
	noSpans    bool // the tracer is trace/noop's: its spans never record
}

// initialGlobalTP is the global TracerProvider as it is before an SDK is
// installed: a delegating no-op. While otel.GetTracerProvider() still
// returns it, no span can record, and RoundTrip skips starting one: the
// no-op span costs three allocations, more than the rest of a request
// that succeeds at once. The caller's span context reaches the inner
// transport unchanged either way.
var initialGlobalTP = otel.GetTracerProvider()

// New returns a Transport that sends requests through next, or through
// http.DefaultTransport when next is nil. It panics when an Options field
// is out of range (a negative count or duration, a NaN ratio, an empty
// method name): those are programming errors.
func New(next http.RoundTripper, o Options) *Transport {
	t := &Transport{next: next}
	t.cfg.Store(newConfig(o))
	return t
}

// NewClient returns an *http.Client whose Transport is New(nil, o).
func NewClient(o Options) *http.Client {
	return &http.Client{Transport: New(nil, o)}
}

func (o Options) withDefaults() Options {
	if o.KeyMethods == nil {
		o.KeyMethods = []string{http.MethodPost, http.MethodPatch}
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.BaseDelay == 0 {
		o.BaseDelay = 100 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 5 * time.Second
	}
	if o.MaxWait == 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.Budget.Ratio == 0 {
		o.Budget.Ratio = 0.1
	}
	if o.Budget.Reserve == 0 {
		o.Budget.Reserve = 10
	}
	return o
}

func newConfig(o Options) *config {
	switch {
	case o.MaxAttempts < 0:
		panic("client: Options.MaxAttempts is negative")
	case o.BaseDelay < 0 || o.MaxDelay < 0 || o.MaxWait < 0:
		panic("client: Options.BaseDelay, MaxDelay and MaxWait must not be negative")
	case math.IsNaN(o.Budget.Ratio) || math.IsInf(o.Budget.Ratio, 0):
		panic("client: Options.Budget.Ratio must be a finite number")
	case o.Budget.Reserve < 0:
		panic("client: Options.Budget.Reserve is negative")
	}
	for _, m := range o.KeyMethods {
		if m == "" {
			panic("client: Options.KeyMethods holds an empty method")
		}
	}
	globalTP := o.TracerProvider == nil
	if globalTP {
		o.TracerProvider = otel.GetTracerProvider()
	}
	o = o.withDefaults()
	c := &config{
		globalTP:   globalTP,
		o:          o,
		keyMethods: append([]string(nil), o.KeyMethods...),
		share:      -1,
		reserve:    min(int64(o.Budget.Reserve), math.MaxInt64/tokenUnit/2) * tokenUnit, // no overflow
		tracer:     o.TracerProvider.Tracer(instrumentationName),
		logger:     o.Logger,
		epoch:      time.Now(),
		spanOpts:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
	}
	_, c.noSpans = c.tracer.(noop.Tracer)
	if o.Budget.Ratio > 0 {
		c.share = int64(min(o.Budget.Ratio*tokenUnit, float64(c.reserve)))
	}
	return c
}

// config returns t's settings, creating the defaults for a zero Transport.
func (t *Transport) config() *config {
	if c := t.cfg.Load(); c != nil {
		return c
	}
	t.cfg.CompareAndSwap(nil, newConfig(Options{}))
	return t.cfg.Load()
}

// CloseIdleConnections closes the idle connections of the underlying
// transport when it has such a method, as http.Client.CloseIdleConnections
// expects.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.transport().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

func (t *Transport) transport() http.RoundTripper {
	if t.next == nil {
		return http.DefaultTransport
	}
	return t.next
}

func (c *config) keyMethod(m string) bool {
	for _, k := range c.keyMethods {
		if k == m {
			return true
		}
	}
	return false
}

// idempotent reports whether m is one of the methods the package retries
// without a key: the safe methods and PUT and DELETE (RFC 9110 §9.2.2).
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// retryableStatus reports whether a response with this status may be
// retried: 408, 409 when the key is in flight, 425, 429, 502, 503, 504.
// It reads the body of a 409 (see inFlight).
func retryableStatus(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusConflict:
		return inFlight(resp)
	}
	return false
}

func (c *config) now() time.Duration { return time.Since(c.epoch) }

// RoundTrip sends req, retrying it as the package documentation
// describes, and returns the last attempt's response, or an error when no
// attempt got one. It never modifies req: attempts are sent as shallow
// copies, with the Idempotency-Key added to a copy of the header and the
// body replayed through req.GetBody. The returned response's Request is the
// last attempt's.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.config()
	next := t.transport()
	ctx := req.Context()
	ro, _ := FromContext(ctx)

	method := req.Method
	if method == "" {
		method = http.MethodGet // as net/http sends it
	}
	// An entry without values is net/http's way to suppress a header: it
	// sends no key, and asks for none, as NoKey does. So does a blank
	// value, which the idempotency middleware takes for no key.
	vals, present := req.Header[HeaderKey]
	keyed := slices.ContainsFunc(vals, func(v string) bool { return strings.TrimSpace(v) != "" })
	addKey := !present && !ro.NoKey && c.keyMethod(method)
	retryable := keyed || addKey || idempotent(method)
	attempts := c.o.MaxAttempts
	if ro.MaxAttempts > 0 {
		attempts = ro.MaxAttempts
	}
	var h *host // per-host state, needed for the budget and WaitForQuota
	if c.share >= 0 || c.o.WaitForQuota {
		h = c.hosts.get(keyOf(req.URL), c.reserve)
	}
	if c.share >= 0 {
		h.deposit(c.share, c.reserve)
	}

	var tr tracing
	// A span that cannot record is not started: its context would not
	// reach the inner transport anyway (see tr.on below).
	if !c.noSpans && (!c.globalTP || otel.GetTracerProvider() != initialGlobalTP) {
		ctx, tr.span = c.tracer.Start(ctx, spanName(method), c.spanOpts...)
		if tr.on = tr.span.IsRecording(); tr.on {
			tr.start(req, method)
		}
	}

	if c.o.WaitForQuota {
		if d := h.blockedFor(c.now()); d > 0 && c.mayWait(ctx, d) {
			tr.quotaWait(d)
			if err := sleep(ctx, d); err != nil {
				closeBody(req)
				tr.end(nil, err, 0)
				return nil, err
			}
		}
	}

	out := req
	if tr.on {
		out = req.WithContext(ctx) // the inner transport's spans are children of ours
	}
	if addKey {
		out = withNewKey(out)
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	for n := 0; ; n++ {
		resp, err := next.RoundTrip(out)
		if err != nil && resp != nil { // a RoundTripper must not return both
			if resp.Body != nil {
				resp.Body.Close()
			}
			resp = nil
		}
		if resp != nil && c.o.WaitForQuota {
			c.noteQuota(h, resp)
		}
		if err != nil && ctx.Err() != nil {
			tr.attempt(n, nil, err, "done", 0)
			tr.end(nil, err, n)
			return nil, err
		}

		var stop error
		switch {
		case err == nil && !retryableStatus(resp), !retryable:
			tr.attempt(n, resp, err, "done", 0)
			tr.end(resp, err, n)
			return resp, err
		case !replayable:
			stop = ErrBodyNotReplayable
		case n+1 >= attempts:
			stop = ErrAttemptsExhausted
		}
		var wait time.Duration
		if stop == nil {
			wait = c.delay(resp, n)
			if !c.mayWait(ctx, wait) {
				stop = ErrWaitTooLong
			}
		}
		var retry *http.Request
		if stop == nil {
			var gerr error
			if retry, gerr = resend(out, req); gerr != nil {
				stop = fmt.Errorf("%w: GetBody: %w", ErrBodyNotReplayable, gerr)
			} else if c.share >= 0 && !h.withdraw() { // last: a token is spent only on a retry
				closeBody(retry)
				stop = ErrBudgetExhausted
			}
		}
		if stop != nil {
			tr.attempt(n, resp, err, stopReason(stop), 0)
			if err != nil {
				err = fmt.Errorf("%w (%w)", err, stop)
			}
			tr.end(resp, err, n)
			return resp, err
		}

		tr.attempt(n, resp, err, "retry", wait)
		c.logRetry(ctx, req, method, n, resp, err, wait)
		if resp != nil {
			drain(resp.Body)
		}
		if err := sleep(ctx, wait); err != nil {
			closeBody(retry)
			tr.end(nil, err, n)
			return nil, err
		}
		out = retry
	}
}

// mayWait reports whether a wait of d is within MaxWait and ends before
// ctx's deadline.
func (c *config) mayWait(ctx context.Context, d time.Duration) bool {
	if d > c.o.MaxWait {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Add(d).Before(dl) {
		return false
	}
	return true
}

// delay returns the wait before resend n+1: what the server asked for,
// with Retry-After first (draft-ietf-httpapi-ratelimit-headers-11 gives it
// precedence) and then the t of an exhausted RateLimit policy, or else
// the backoff.
func (c *config) delay(resp *http.Response, n int) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header, time.Now()); ok {
			return d
		}
		if q, ok := rateLimit(resp.Header); ok && q.exhausted {
			return q.reset
		}
	}
	return c.backoff(n)
}

// backoff returns a wait drawn uniformly from [0, min(MaxDelay,
// BaseDelay·2^n)]: exponential backoff with full jitter.
func (c *config) backoff(n int) time.Duration {
	ceiling := c.o.MaxDelay
	if n < 62 && c.o.BaseDelay <= c.o.MaxDelay>>n {
		ceiling = c.o.BaseDelay << n
	}
	if ceiling <= 0 {
		return 0
	}
	upper := int64(ceiling)
	if upper < math.MaxInt64 {
		upper++ // include the ceiling
	}
	return time.Duration(rand.Int64N(upper))
}

// noteQuota remembers whether the host's last RateLimit field said a
// policy is exhausted.
func (c *config) noteQuota(h *host, resp *http.Response) {
	q, ok := rateLimit(resp.Header)
	switch {
	case !ok:
	case q.exhausted:
		h.block(c.now() + min(q.reset, maxDelay/2))
	default:
		h.unblock()
	}
}

func (c *config) logRetry(ctx context.Context, req *http.Request, method string, n int, resp *http.Response, err error, wait time.Duration) {
	logger := c.logger
	if logger == nil {
		logger = slog.Default()
	}
	if !logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("host", req.URL.Host),
		slog.Int("attempt", n+1),
		slog.Duration("wait", wait),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	} else {
		attrs = append(attrs, slog.Any("error", err))
	}
	logger.LogAttrs(ctx, slog.LevelDebug, "client: retrying request", attrs...)
}

// resend returns the request for the next attempt: a copy of prev (the
// last attempt, which carries the context and header to send) with a fresh
// body from orig.GetBody.
func resend(prev, orig *http.Request) (*http.Request, error) {
	r := prev.WithContext(prev.Context())
	if orig.Body != nil && orig.Body != http.NoBody {
		b, err := orig.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
	}
	return r, nil
}

// maxDrain bounds what is read of a failed attempt's body before closing
// it: enough for any error document, so the connection is reused, and not
// so much that a large body is downloaded to be thrown away.
const maxDrain = 64 << 10

func drain(body io.ReadCloser) {
	if body == nil { // an inner RoundTripper's empty body, as http.Client allows
		return
	}
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	_ = body.Close()
}

func closeBody(r *http.Request) {
	if r != nil && r.Body != nil {
		_ = r.Body.Close()
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func stopReason(err error) string {
	switch {
	case errors.Is(err, ErrBodyNotReplayable):
		return "body_not_replayable"
	case errors.Is(err, ErrBudgetExhausted):
		return "budget_exhausted"
	case errors.Is(err, ErrWaitTooLong):
		return "wait_too_long"
	case errors.Is(err, ErrAttemptsExhausted):
		return "attempts_exhausted"
	}
	return "done"
}
