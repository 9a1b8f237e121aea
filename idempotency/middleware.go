package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

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
// the Authorization header (hashed before it reaches the store, never
// stored in clear), or empty when there is none.
//
// It is a safe default, not a good one: a client that refreshes its token
// between two retries becomes a different caller, and its retry runs
// again; and the scope is whatever the client sends, so put authentication
// in front of the middleware (or let the handler answer 401 or 403, which
// [DefaultStatusPolicy] does not keep). Pass a ScopeFunc that returns the
// authenticated principal (an account or user id from your authentication
// middleware) instead.
func AuthorizationScope(r *http.Request) (string, error) {
	return r.Header.Get("Authorization"), nil
}

// Middleware enforces Idempotency-Key semantics
// (draft-ietf-httpapi-idempotency-key-header-07, Stripe-compatible) in
// front of a handler. Create it with [New]; the zero value is not usable
// (its Handler panics). A Middleware is safe for concurrent use.
type Middleware struct {
	store      Store
	scope      ScopeFunc
	opts       Options
	methods    map[string]bool
	allow      map[string]struct{}
	retryAfter string
	budget     string       // the per-scope budget, for ErrTooManyKeys
	local      bool         // the store never blocks: no timeouts needed
	mem        *MemoryStore // the store, when it is one: it keeps recorded headers without a map
	beats      heartbeats
	counter    metric.Int64Counter
	outcomeSet [numOutcomes][]metric.AddOption
	storeLog   lograte.Limiter // store failures seen by requests: one record a second
}

// New returns a Middleware that keeps its records in store and separates
// callers with scope. A nil scope means [AuthorizationScope].
//
// New panics when store is nil or an Options field holds a value no
// correct program sets (see [Options]); it does no I/O.
func New(store Store, scope ScopeFunc, o Options) *Middleware {
	if store == nil {
		panic("idempotency: New called with a nil Store")
	}
	if ms, ok := store.(*MemoryStore); ok && ms.now == nil {
		panic("idempotency: New called with a MemoryStore not made by NewMemoryStore")
	}
	if scope == nil {
		scope = AuthorizationScope
	}
	o = o.withDefaults()
	m := &Middleware{store: store, scope: scope, opts: o, methods: make(map[string]bool, len(o.Methods)), allow: make(map[string]struct{}, len(o.ReplayHeaders))}
	for _, meth := range o.Methods {
		switch meth {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			panic("idempotency: Options.Methods holds " + meth + ", which is safe and cannot be covered")
		}
		m.methods[meth] = true
	}
	for _, h := range o.ReplayHeaders {
		c := http.CanonicalHeaderKey(h)
		if neverReplay[c] {
			panic("idempotency: Options.ReplayHeaders holds " + c + ", which must not be replayed")
		}
		m.allow[c] = struct{}{}
	}
	_, m.local = store.(localStore)
	m.mem, _ = store.(*MemoryStore)
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	c, err := mp.Meter("github.com/backstop-go/backstop/idempotency").Int64Counter("backstop.idempotency.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests with an Idempotency-Key by outcome."))
	if err != nil || c == nil {
		// A provider that refuses a valid instrument must not take the
		// service down: count nothing, say so once.
		slog.Default().Warn("idempotency: cannot create the request counter; counting nothing", slog.Any("error", err))
		c = noop.Int64Counter{}
	}
	m.counter = c
	for i, name := range outcomeNames {
		m.outcomeSet[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("backstop.idempotency.result", name)))}
	}
	secs := (o.RetryAfter + time.Second - 1) / time.Second
	m.retryAfter = strconv.FormatInt(int64(secs), 10)
	switch {
	case o.MaxRecordsPerScope > 0 && o.MaxBytesPerScope > 0:
		m.budget = strconv.Itoa(o.MaxRecordsPerScope) + " records or " + strconv.FormatInt(o.MaxBytesPerScope, 10) + " bytes of responses"
	case o.MaxRecordsPerScope > 0:
		m.budget = strconv.Itoa(o.MaxRecordsPerScope) + " records"
	default:
		m.budget = strconv.FormatInt(o.MaxBytesPerScope, 10) + " bytes of responses"
	}
	return m
}

// Handler returns next wrapped in the middleware. It panics when next is
// nil or m was not made by [New].
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
//   - 429 [ErrTooManyKeys] with Retry-After when the caller holds its whole
//     budget of records (Options.MaxRecordsPerScope, MaxBytesPerScope);
//   - 503 [ErrUnavailable] with Retry-After when the store fails or is full
//     (unless FailOpen).
//
// A request that claims its key runs next exactly once; its response goes
// to the client as it is written, and a copy of the status, the
// allow-listed headers and the body is recorded. A retry gets that status,
// those headers and those body bytes, plus "Idempotent-Replayed: true".
// What is recorded is only what next writes through the ResponseWriter it
// is given: when next returns without having written a status or a byte
// through it (it wrote nothing, or wrote to another writer, as a router
// may when it renders an error after the middleware returned), nothing is
// known of the response and the key is released, never recorded as an
// implicit 200.
//
// The ResponseWriter passed to next implements http.Flusher and
// http.Hijacker (using them marks the response as not replayable, unless
// the underlying writer cannot flush or hijack, when they do nothing) and
// Unwrap, so http.ResponseController reaches the rest of the underlying
// writer. It does not implement io.ReaderFrom or http.Pusher.
//
// If next panics, the claim is released and the panic continues.
//
// As net/http requires, next must not read the request body after it has
// returned: the body's buffer is then reused, and reads return io.EOF.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if m == nil || m.store == nil {
		panic("idempotency: Handler called on a Middleware not made by idempotency.New")
	}
	if next == nil {
		panic("idempotency: Handler called with a nil http.Handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.methods[r.Method] {
			next.ServeHTTP(w, r)
			return
		}
		m.serve(w, r, next)
	})
}

// serve handles a covered request: parse, identify, fingerprint, claim,
// then run, replay or refuse.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	o := &m.opts
	// HeaderKey is canonical: index the header without canonicalizing it
	// again, as Header.Values would.
	keys := r.Header[HeaderKey]
	key, err := ParseKey(keys, o.MinKeyLength, o.MaxKeyLength)
	if err != nil {
		// An empty value is no key either (ParseKey says ErrKeyMissing).
		if o.KeyOptional && errors.Is(err, ErrKeyMissing) {
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
	// Whether next may still hold the body: if not, its buffer is reused
	// (run stops its reader when next returns).
	ran := false
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
	req := ClaimRequest{
		Key: recordKey(scope, key), Fingerprint: fp, Lease: o.Lease, Retention: o.Retention,
		MaxRecords: o.MaxRecordsPerScope, MaxBytes: o.MaxBytesPerScope,
	}

	if r.Context().Err() != nil {
		return // the client went away: claim nothing for no one
	}
	res, header, err := m.claim(r.Context(), req)
	if err == nil && res.Outcome == InFlight && o.WaitTimeout > 0 {
		res, header, err = m.wait(r.Context(), req)
	}
	if r.Context().Err() != nil {
		// The client went away before anything ran: there is no one to
		// answer, and a claim made for it would only block its retry.
		if err == nil && res.Outcome == Claimed {
			m.release(r.Context(), req.Key, res.Owner)
		}
		return
	}
	if err != nil {
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
		o.ErrorHandler(w, r, ErrUnavailable.New("The idempotency store is unavailable; nothing was done.").
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
		m.run(w, r, next, req.Key, res, body)
	case Completed:
		m.replay(w, r, req.Key, res.Response, header)
	case InFlight:
		m.record(r.Context(), outInFlight, 0)
		o.ErrorHandler(w, r, ErrInFlight.New("The first request with this key is still being processed; retry later with the same key.").
			WithHeader("Retry-After", m.retryAfter))
	case Mismatch:
		m.record(r.Context(), outMismatch, 0)
		o.ErrorHandler(w, r, ErrKeyReused.New("This key was used for a different request; use a new key for a new request."))
	case OverBudget:
		m.record(r.Context(), outOverBudget, 0)
		p := ErrTooManyKeys.New("This caller holds as many idempotency records as the service keeps per caller (" +
			m.budget + ", each kept for " + o.Retention.String() + "); nothing was done. Retries of earlier requests are still answered.")
		if res.RetryAfter > 0 {
			p.WithHeader("Retry-After", strconv.FormatInt(int64((res.RetryAfter+time.Second-1)/time.Second), 10))
		}
		o.ErrorHandler(w, r, p)
	default:
		m.record(r.Context(), outStoreError, 0)
		err := fmt.Errorf("idempotency: Claim returned outcome %d", res.Outcome)
		m.log(r.Context(), slog.LevelError, "idempotency: store returned an invalid answer", req.Key, err)
		o.ErrorHandler(w, r, ErrUnavailable.New("The idempotency store gave an invalid answer.").
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
		m.log(r.Context(), level, "idempotency: scope or fingerprint function failed", RecordKey{}, err)
	}
	m.opts.ErrorHandler(w, r, err)
}

// quietProblems writes problems without logging them: the middleware logs
// each failure itself, once.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

// claim claims req's key. For a store that may block, the claim runs on a
// context detached from the request and bounded by StoreTimeout: a client
// that disconnects between the store's write and its reply must not leave
// a claim nobody knows about, which would answer the client's retry with
// ErrInFlight until the lease runs out. The caller releases a claim whose
// client has gone.
//
// A completed record's headers are in header when the store is a
// MemoryStore (which kept them as recorded), and in the result's
// Response.Header otherwise.
func (m *Middleware) claim(ctx context.Context, req ClaimRequest) (res ClaimResult, header recordedHeader, err error) {
	if m.mem != nil {
		res, err = m.mem.claim(ctx, req, &header)
		return res, header, err
	}
	if m.local {
		res, err = m.store.Claim(ctx, req)
		return res, nil, err
	}
	ctx, cancel := m.detached(ctx)
	defer cancel()
	res, err = m.store.Claim(ctx, req)
	return res, nil, err
}

// detached returns a context for store work that must finish once begun,
// even if the client goes away: not canceled with the request, bounded by
// StoreTimeout. A local store (a MemoryStore) never blocks and reads no
// context values: it needs neither the bound nor ctx's values.
func (m *Middleware) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.local {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), m.opts.StoreTimeout)
}

// localStore is implemented by stores that never block on I/O, which need
// no timeout around their calls.
type localStore interface{ neverBlocks() }
