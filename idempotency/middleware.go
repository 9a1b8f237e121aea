package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/internal/lograte"
	"github.com/backstop-go/backstop/problem"
)

// HeaderReplayed is the response header set on replayed responses, with
// the value "true" (Stripe's name; the IETF draft defines none yet).
const HeaderReplayed = "Idempotent-Replayed"

// ScopeFunc returns the identity of the caller of r (for example tenant and
// user id), so that records of different callers never mix: a key sent by
// one caller can never return another caller's response. An empty scope
// means "unknown caller" and is refused with [ErrUnscoped] unless
// Options.AllowUnscoped is set. An error is passed to Options.ErrorHandler.
type ScopeFunc func(r *http.Request) (string, error)

// AuthorizationScope is the ScopeFunc used when none is given: the value of
// the Authorization header (hashed with the key before it reaches the
// store, never stored in clear), or empty when there is none.
//
// It is a safe default, not a good one: a client that refreshes its token
// between two retries becomes a different caller, and its retry runs
// again. Pass a ScopeFunc that returns the authenticated principal (an
// account or user id from your authentication middleware) instead.
func AuthorizationScope(r *http.Request) (string, error) {
	return r.Header.Get("Authorization"), nil
}

// DefaultReplayHeaders are the response headers recorded and replayed when
// Options.ReplayHeaders is nil.
var DefaultReplayHeaders = []string{
	"Content-Type", "Content-Encoding", "Content-Language", "Content-Location",
	"Location", "ETag", "Last-Modified", "Cache-Control", "Expires", "Vary", "Link",
}

// headers that must never be replayed.
var neverReplay = map[string]bool{
	"Set-Cookie": true, "Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Proxy-Authenticate": true, "Content-Length": true, "Date": true,
	HeaderReplayed: true,
}

// Options configure a [Middleware]. The zero value of every field is the
// default that its comment gives.
type Options struct {
	// Methods are the request methods the middleware covers; others pass
	// through untouched. Nil means POST and PATCH. Safe methods (GET, HEAD,
	// OPTIONS, TRACE) are refused by New: they are idempotent already.
	Methods []string

	// KeyOptional lets requests without an Idempotency-Key through, without
	// idempotency. False (the default) answers them with [ErrKeyMissing].
	KeyOptional bool

	// MinKeyLength and MaxKeyLength bound the key's length in bytes. Zero
	// means 16 and 255 (Stripe's maximum). Short keys are guessable; within
	// a scope that only lets one caller collide with itself, but 16 is a
	// sane floor for random keys.
	MinKeyLength, MaxKeyLength int

	// AllowUnscoped lets requests whose scope is empty share one bucket of
	// records. Only for services with a single caller.
	AllowUnscoped bool

	// Fingerprint identifies a request, to tell a retry from the misuse of a
	// key. Nil means [Fingerprint].
	Fingerprint FingerprintFunc

	// MaxBodyBytes bounds the request body read to fingerprint it; a larger
	// body is answered with [ErrBodyTooLarge]. Zero means 1 MiB.
	MaxBodyBytes int64

	// MaxResponseBytes bounds a recorded response body. A larger response
	// is still sent in full, but recorded as not replayable: retries get
	// [ErrNotReplayable] and the request never runs twice. Zero means 1 MiB.
	MaxResponseBytes int

	// ReplayHeaders lists the response headers recorded and replayed. Nil
	// means DefaultReplayHeaders. New refuses Set-Cookie, hop-by-hop
	// headers, Content-Length and Date.
	ReplayHeaders []string

	// StatusPolicy decides which responses are kept for replay. Nil means
	// [DefaultStatusPolicy]; [KeepAll] is Stripe's behaviour.
	StatusPolicy StatusPolicy

	// Lease is how long a claim holds while its handler runs without the
	// heartbeat renewing it; the heartbeat renews it every Lease/3 to Lease/2. A
	// process that dies leaves its key claimable after at most Lease.
	// Zero means 30 s.
	Lease time.Duration

	// Retention is how long a response is kept for replay. Zero means 24 h.
	// Publish it in your API documentation: the IETF draft (§2.3) asks for
	// it, and a retry after it runs the request again.
	Retention time.Duration

	// RetryAfter is the Retry-After sent with [ErrInFlight] and
	// [ErrStoreUnavailable], rounded up to whole seconds. Zero means 1 s.
	RetryAfter time.Duration

	// WaitTimeout, when positive, makes a request that finds its key in
	// flight wait up to that long for the first request to finish, and then
	// replay its response, instead of answering [ErrInFlight] at once.
	// Zero (the default) does not wait.
	WaitTimeout time.Duration

	// StoreTimeout bounds each store operation. Completion and release run
	// on a context detached from the request (context.WithoutCancel), so a
	// client that goes away does not strand its record; a completion that
	// fails is tried again until StoreTimeout has passed. Zero means 5 s.
	StoreTimeout time.Duration

	// FailOpen runs the handler without idempotency when the store fails,
	// and logs it. False (the default) answers [ErrStoreUnavailable]: an
	// outage then rejects requests instead of running them twice.
	FailOpen bool

	// ErrorHandler writes failure responses. Nil means a problem.Writer
	// with default options except that it logs nothing: the middleware
	// itself logs each failure once to Logger (problem.Write would log every
	// 503 of a store outage a second time, to slog.Default()).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// MeterProvider provides the counter backstop.idempotency.requests,
	// whose attribute idempotency.outcome is one of executed, takeover,
	// replayed, in_flight, mismatch, not_replayable, rejected (bad key,
	// scope or body), store_error and fail_open. The same outcome (and the
	// fence of an executed request) is set on the request's active span.
	// Nil means the global provider (otel.GetMeterProvider()), a no-op
	// until an SDK is installed.
	MeterProvider metric.MeterProvider

	// Logger receives one record per failure: a lost claim, a response
	// that could not be recorded, an error from the ScopeFunc or
	// FingerprintFunc that is not a 4xx problem, and a store error (503,
	// or a FailOpen pass): since every request of an outage meets one, those
	// are written at most once a second, with a "suppressed" count of the
	// rest (the backstop.idempotency.requests counter counts them all).
	// Client errors (4xx) are not logged. Keys and scopes are never logged, only
	// the first 16 hex digits of the record key, which is a hash of both.
	// Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Methods == nil {
		o.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if o.MinKeyLength == 0 {
		o.MinKeyLength = 16
	}
	if o.MaxKeyLength == 0 {
		o.MaxKeyLength = 255
	}
	if o.Fingerprint == nil {
		o.Fingerprint = Fingerprint
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 1 << 20
	}
	if o.ReplayHeaders == nil {
		o.ReplayHeaders = DefaultReplayHeaders
	}
	if o.StatusPolicy == nil {
		o.StatusPolicy = DefaultStatusPolicy
	}
	if o.Lease == 0 {
		o.Lease = 30 * time.Second
	}
	if o.Retention == 0 {
		o.Retention = 24 * time.Hour
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = 5 * time.Second
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = quietProblems.Write
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	return o
}

// Middleware enforces Idempotency-Key semantics
// (draft-ietf-httpapi-idempotency-key-header-07, Stripe-compatible) in
// front of a handler. Create it with [New]; it is safe for concurrent use.
type Middleware struct {
	store      Store
	scope      ScopeFunc
	opts       Options
	methods    map[string]bool
	allow      map[string]struct{}
	retryAfter string
	local      bool // the store never blocks: no timeouts needed
	beats      heartbeats
	counter    metric.Int64Counter
	outcomeSet [numOutcomes][]metric.AddOption
	storeLog   lograte.Limiter // store failures seen by requests: one record a second
}

// outcome is what the middleware did with a covered request, for metrics
// and traces.
type outcome uint8

const (
	outExecuted outcome = iota
	outTakeover
	outReplayed
	outInFlight
	outMismatch
	outNotReplayable
	outRejected
	outStoreError
	outFailOpen
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"executed", "takeover", "replayed", "in_flight", "mismatch", "not_replayable", "rejected", "store_error", "fail_open"}

func (m *Middleware) record(ctx context.Context, o outcome, fence int64) {
	m.counter.Add(ctx, 1, m.outcomeSet[o]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		if o == outExecuted || o == outTakeover {
			span.SetAttributes(attribute.String("idempotency.outcome", outcomeNames[o]), attribute.Int64("idempotency.fence", fence))
		} else {
			span.SetAttributes(attribute.String("idempotency.outcome", outcomeNames[o]))
		}
	}
}

// New returns a Middleware that keeps its records in store and separates
// callers with scope. A nil scope means [AuthorizationScope]. New fails
// when store is nil or an option is out of range.
func New(store Store, scope ScopeFunc, o Options) (*Middleware, error) {
	if store == nil {
		return nil, errors.New("idempotency: nil Store")
	}
	if scope == nil {
		scope = AuthorizationScope
	}
	o = o.withDefaults()
	switch {
	case o.MinKeyLength < 1 || o.MaxKeyLength < o.MinKeyLength:
		return nil, fmt.Errorf("idempotency: key length bounds %d..%d are invalid", o.MinKeyLength, o.MaxKeyLength)
	case o.MaxBodyBytes < 0 || o.MaxResponseBytes < 0:
		return nil, errors.New("idempotency: MaxBodyBytes and MaxResponseBytes must not be negative")
	case o.Lease < 3*time.Millisecond || o.Retention < 0 || o.RetryAfter < 0 || o.WaitTimeout < 0 || o.StoreTimeout < 0:
		return nil, errors.New("idempotency: Lease must be at least 3ms and durations must not be negative")
	case o.Retention > math.MaxInt64-o.Lease:
		// A pending record lives Lease+Retention: the sum must not wrap
		// around to a negative lifetime.
		return nil, errors.New("idempotency: Lease+Retention overflows time.Duration")
	}
	m := &Middleware{store: store, scope: scope, opts: o, methods: make(map[string]bool, len(o.Methods)), allow: make(map[string]struct{}, len(o.ReplayHeaders))}
	_, m.local = store.(localStore)
	m.beats.active = make(map[*heartbeat]struct{})
	c, err := o.MeterProvider.Meter("github.com/backstop-go/backstop/idempotency").Int64Counter("backstop.idempotency.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests with an Idempotency-Key by outcome."))
	if err != nil {
		return nil, fmt.Errorf("idempotency: creating the request counter: %w", err)
	}
	m.counter = c
	for i, name := range outcomeNames {
		m.outcomeSet[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("idempotency.outcome", name)))}
	}
	for _, meth := range o.Methods {
		switch meth {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return nil, fmt.Errorf("idempotency: method %s is safe and cannot be covered", meth)
		}
		m.methods[meth] = true
	}
	for _, h := range o.ReplayHeaders {
		c := http.CanonicalHeaderKey(h)
		if neverReplay[c] {
			return nil, fmt.Errorf("idempotency: header %s must not be replayed", c)
		}
		m.allow[c] = struct{}{}
	}
	secs := (o.RetryAfter + time.Second - 1) / time.Second
	m.retryAfter = strconv.FormatInt(int64(secs), 10)
	return m, nil
}

// Handler returns next wrapped in the middleware.
//
// Requests whose method is not covered pass through. For covered requests
// it answers, through Options.ErrorHandler (by default a problem.Writer,
// as RFC 9457 problems):
//   - 400 [ErrKeyMissing] without an Idempotency-Key (unless KeyOptional),
//     400 [ErrKeyInvalid] for a malformed key, 400 [ErrUnscoped] when the
//     caller cannot be identified, 413 [ErrBodyTooLarge], 400
//     [ErrBodyUnreadable];
//   - 422 [ErrKeyReused] when the key was used for a different request;
//   - 409 [ErrInFlight] with Retry-After while the first request runs;
//   - 409 [ErrNotReplayable] when the first request's response could not be
//     recorded;
//   - 503 [ErrStoreUnavailable] with Retry-After when the store fails
//     (unless FailOpen).
//
// A request that claims its key runs next exactly once; its response goes
// to the client as it is written, and a copy of the status, the
// allow-listed headers and the body is recorded. A retry gets that status,
// those headers and those body bytes, plus "Idempotent-Replayed: true".
//
// The ResponseWriter passed to next implements http.Flusher and
// http.Hijacker (using them marks the response as not replayable) and
// Unwrap, so http.ResponseController reaches the rest of the underlying
// writer. It does not implement io.ReaderFrom or http.Pusher.
//
// If next panics, the claim is released and the panic continues.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.methods[r.Method] {
			next.ServeHTTP(w, r)
			return
		}
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	o := &m.opts
	key, err := ParseKey(r.Header.Values(HeaderKey), o.MinKeyLength, o.MaxKeyLength)
	if err != nil {
		if o.KeyOptional && len(r.Header.Values(HeaderKey)) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		m.reject(w, r, err)
		return
	}
	scope, err := m.scope(r)
	if err != nil {
		m.reject(w, r, err)
		return
	}
	if scope == "" && !o.AllowUnscoped {
		m.reject(w, r, ErrUnscoped.New("Send credentials with idempotent requests."))
		return
	}
	body, bp, err := m.readBody(r)
	if err != nil {
		m.reject(w, r, err)
		return
	}
	ran := false // whether next saw the body; if not, its buffer is reused
	defer func() {
		if !ran {
			recycleBody(body, bp)
		}
	}()
	fp, err := o.Fingerprint(r, body)
	if err != nil {
		m.reject(w, r, err)
		return
	}
	req := ClaimRequest{Key: recordKey(scope, key), Fingerprint: fp, Lease: o.Lease, Retention: o.Retention}

	res, err := m.claim(r.Context(), req)
	if err == nil && res.Outcome == InFlight && o.WaitTimeout > 0 {
		res, err = m.wait(r.Context(), req)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away before anything ran; there is no one to answer
		}
		if o.FailOpen {
			m.record(r.Context(), outFailOpen, 0)
			m.logStoreFailure(r.Context(), slog.LevelWarn, "idempotency: store failed; running the request without idempotency (FailOpen)", req.Key, err)
			ran = true
			restoreBody(r, body)
			next.ServeHTTP(w, r)
			return
		}
		m.record(r.Context(), outStoreError, 0)
		m.logStoreFailure(r.Context(), slog.LevelError, "idempotency: store failed; refusing the request", req.Key, err)
		o.ErrorHandler(w, r, ErrStoreUnavailable.New("The idempotency store is unavailable; nothing was done.").
			WithHeader("Retry-After", m.retryAfter).WithCause(err))
		return
	}
	switch res.Outcome {
	case Claimed:
		if res.Takeover {
			m.record(r.Context(), outTakeover, res.Owner.Fence)
		} else {
			m.record(r.Context(), outExecuted, res.Owner.Fence)
		}
		ran = true
		restoreBody(r, body)
		m.run(w, r, next, req.Key, res)
	case Completed:
		m.replay(w, r, req.Key, res.Response)
	case InFlight:
		m.record(r.Context(), outInFlight, 0)
		o.ErrorHandler(w, r, ErrInFlight.New("The first request with this key is still being processed; retry later with the same key.").
			WithHeader("Retry-After", m.retryAfter))
	case Mismatch:
		m.record(r.Context(), outMismatch, 0)
		o.ErrorHandler(w, r, ErrKeyReused.New("This key was used for a different request; use a new key for a new request."))
	default:
		m.record(r.Context(), outStoreError, 0)
		err := fmt.Errorf("idempotency: Claim returned outcome %d", res.Outcome)
		m.log(r.Context(), slog.LevelError, "idempotency: store returned an invalid answer", req.Key, err)
		o.ErrorHandler(w, r, ErrStoreUnavailable.New("The idempotency store gave an invalid answer.").
			WithHeader("Retry-After", m.retryAfter).WithCause(err))
	}
}

// reject answers a request the middleware cannot accept. A client error
// (a 4xx problem) is not logged; anything else came from the ScopeFunc or
// FingerprintFunc and is logged once, since the default ErrorHandler does
// not log.
func (m *Middleware) reject(w http.ResponseWriter, r *http.Request, err error) {
	m.record(r.Context(), outRejected, 0)
	if p, ok := problem.From(err); !ok || p.Status < 400 || p.Status > 499 {
		level := slog.LevelError
		if r.Context().Err() != nil {
			level = slog.LevelInfo // the client went away; nothing is broken
		}
		m.log(r.Context(), level, "idempotency: scope or fingerprint function failed", "", err)
	}
	m.opts.ErrorHandler(w, r, err)
}

// quietProblems writes problems without logging them: the middleware logs
// each failure itself, once.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

func (m *Middleware) claim(ctx context.Context, req ClaimRequest) (ClaimResult, error) {
	if m.local {
		return m.store.Claim(ctx, req)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	defer cancel()
	return m.store.Claim(ctx, req)
}

// localStore is implemented by stores that never block on I/O, which need
// no timeout around their calls.
type localStore interface{ neverBlocks() }

// wait polls the store until the in-flight request finishes, its lease
// runs out (then this request claims the key), or WaitTimeout passes.
func (m *Middleware) wait(ctx context.Context, req ClaimRequest) (ClaimResult, error) {
	deadline := time.Now().Add(m.opts.WaitTimeout)
	delay := 5 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ClaimResult{Outcome: InFlight}, nil
		}
		t.Reset(min(delay, left))
		select {
		case <-ctx.Done():
			return ClaimResult{}, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
		res, err := m.claim(ctx, req)
		if err != nil || res.Outcome != InFlight {
			return res, err
		}
	}
}

// readBody reads the request body up to MaxBodyBytes. The caller restores
// it for the handler with restoreBody, or recycles it. bp is the pool's
// holder of the buffer, or nil when it was freshly allocated.
func (m *Middleware) readBody(r *http.Request) (buf []byte, bp *[]byte, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil, nil
	}
	limit := m.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, ErrBodyTooLarge.New("The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes.")
	}
	size := 512
	if r.ContentLength >= 0 {
		// +1 to see EOF without growing. The declared length is only a
		// hint: allocate at most maxPooledBody before the bytes arrive, so
		// that a client cannot make the server reserve MaxBodyBytes per
		// request with a header alone.
		size = int(min(r.ContentLength+1, maxPooledBody))
	}
	if size <= maxPooledBody {
		if bp, _ = bodyPool.Get().(*[]byte); bp != nil && cap(*bp) >= size {
			buf = (*bp)[:0]
		} else {
			bp = nil
		}
	}
	if buf == nil {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			// Double what has arrived, up to the declared length.
			grow := cap(buf)
			if r.ContentLength >= 0 {
				grow = min(grow, int(r.ContentLength)+1-len(buf))
			}
			buf = slices.Grow(buf, max(grow, 1))
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, nil, ErrBodyTooLarge.New("The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes.")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, nil, ErrBodyTooLarge.New("The request body is too large.")
			}
			return nil, nil, ErrBodyUnreadable.New("The request body could not be read.").WithCause(err)
		}
	}
	_ = r.Body.Close()
	return buf, bp, nil
}

// restoreBody gives the handler a body identical to the one read.
func restoreBody(r *http.Request, buf []byte) {
	if buf == nil {
		return
	}
	body := &bodyReader{}
	body.Reset(buf)
	r.Body = body
}

// Request bodies of requests whose handler does not run (replays and
// rejections, the common case under retries) go back to bodyPool.
const maxPooledBody = 64 << 10

var bodyPool sync.Pool

// recycleBody returns the buffer of a body that no handler will see.
func recycleBody(buf []byte, bp *[]byte) {
	if buf == nil || cap(buf) > maxPooledBody {
		return
	}
	if bp == nil {
		bp = new([]byte)
	}
	*bp = buf[:0]
	bodyPool.Put(bp)
}

// bodyReader is the restored request body: one allocation instead of a
// bytes.Reader inside an io.NopCloser.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// run serves a claimed request: heartbeat, handler, then complete or
// release.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, next http.Handler, key string, res ClaimResult) {
	// One allocation for the per-request state.
	x := &struct {
		st execState
		rw recorder
		hb heartbeat
	}{}
	st, rw, hb := &x.st, &x.rw, &x.hb
	st.exec = Execution{Fence: res.Owner.Fence, Takeover: res.Takeover}
	*rw = recorder{ResponseWriter: w, allow: m.allow, max: m.opts.MaxResponseBytes}
	m.startHeartbeat(hb, r.Context(), key, res.Owner)
	finished := false
	defer func() {
		hb.stop()
		if finished {
			return
		}
		// The handler panicked (http.ErrAbortHandler included): nothing
		// trustworthy was recorded, so let a retry run again.
		m.release(r.Context(), key, res.Owner)
	}()
	next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
	finished = true
	hb.stop()

	resp := rw.response()
	d := m.opts.StatusPolicy(resp.Status)
	if o := Decision(st.decision.Load()); o != 0 {
		d = o
	}
	if resp.NotReplayable == reasonHijacked || d == KeepResponse {
		m.complete(r.Context(), key, res.Owner, resp)
		return
	}
	m.release(r.Context(), key, res.Owner)
}

// complete records the response. The handler has run: a record left
// pending is taken over once its lease runs out, and the request runs
// again. So a failed Complete is tried again, with backoff, until
// StoreTimeout has passed (the lease, renewed until the handler returned,
// outlasts it unless StoreTimeout is longer than half the lease).
func (m *Middleware) complete(ctx context.Context, key string, owner Owner, resp Response) {
	ctx, cancel := m.detached(ctx)
	defer cancel()
	var t *time.Timer
	for attempt, delay := 0, 10*time.Millisecond; ; attempt, delay = attempt+1, min(2*delay, 500*time.Millisecond) {
		err := m.store.Complete(ctx, key, owner, resp, m.opts.Retention)
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrNotOwner) && attempt > 0:
			m.log(ctx, slog.LevelWarn, "idempotency: completion refused after a failed attempt; the response was recorded by that attempt, or the claim was lost", key, err)
			return
		case errors.Is(err, ErrNotOwner):
			m.log(ctx, slog.LevelWarn, "idempotency: claim was lost before completion (lease ran out and another request took over); response not recorded", key, err)
			return
		}
		if m.local { // its failures are not transient
			m.log(ctx, slog.LevelError, "idempotency: cannot record response; a retry may run the request again once the lease runs out", key, err)
			return
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-ctx.Done():
			m.log(ctx, slog.LevelError, "idempotency: cannot record response; a retry may run the request again once the lease runs out", key, err)
			return
		case <-t.C:
		}
	}
}

// detached returns a context for work that must finish after the client
// has gone: not canceled with the request, bounded by StoreTimeout.
func (m *Middleware) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if m.local {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, m.opts.StoreTimeout)
}

func (m *Middleware) release(ctx context.Context, key string, owner Owner) {
	ctx, cancel := m.detached(ctx)
	defer cancel()
	if err := m.store.Release(ctx, key, owner); err != nil && !errors.Is(err, ErrNotOwner) {
		m.log(ctx, slog.LevelError, "idempotency: cannot release claim; the key stays in flight until its lease runs out", key, err)
	}
}

// replay writes a recorded response.
func (m *Middleware) replay(w http.ResponseWriter, r *http.Request, key string, resp Response) {
	if resp.NotReplayable != "" {
		m.record(r.Context(), outNotReplayable, 0)
		m.opts.ErrorHandler(w, r, ErrNotReplayable.New("The request with this key was processed, but its response was not recorded.").
			With("reason", resp.NotReplayable).With("originalStatus", resp.Status))
		return
	}
	if resp.Status < 200 || resp.Status > 999 {
		// A corrupt record (net/http panics on such a code): fail closed as
		// for any other store failure, never run the request again.
		m.record(r.Context(), outStoreError, 0)
		err := fmt.Errorf("idempotency: stored response has status %d", resp.Status)
		m.log(r.Context(), slog.LevelError, "idempotency: store returned an invalid response", key, err)
		m.opts.ErrorHandler(w, r, ErrStoreUnavailable.New("The idempotency store gave an invalid answer.").
			WithHeader("Retry-After", m.retryAfter).WithCause(err))
		return
	}
	m.record(r.Context(), outReplayed, 0)
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v[:len(v):len(v)] // shared with the store: an append must copy
	}
	h[HeaderReplayed] = headerTrue
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}

var headerTrue = []string{"true"}

// log writes one record to Options.Logger. Of the record key (a hash of
// scope and key) it shows the first 16 hex digits, enough to follow one
// record through the logs.
func (m *Middleware) log(ctx context.Context, level slog.Level, msg, key string, err error, extra ...slog.Attr) {
	l := m.opts.Logger
	if l == nil {
		l = slog.Default()
	}
	attrs := make([]slog.Attr, 0, 2+len(extra))
	if key != "" {
		if len(key) > 16 {
			key = key[:16]
		}
		attrs = append(attrs, slog.String("record", key))
	}
	attrs = append(attrs, slog.Any("error", err))
	l.LogAttrs(ctx, level, msg, append(attrs, extra...)...)
}

// logStoreFailure logs a store failure that a request ran into. During an
// outage every request runs into one, so at most one record a second is
// written, with the number left out since the previous one.
func (m *Middleware) logStoreFailure(ctx context.Context, level slog.Level, msg, key string, err error) {
	if suppressed, ok := m.storeLog.Allow(time.Now(), time.Second); ok {
		m.log(ctx, level, msg, key, err, slog.Int64("suppressed", suppressed))
	}
}
