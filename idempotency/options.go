package idempotency

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Options configure a [Middleware]. The zero value of every field is the
// default that its comment gives. [New] panics on a value no correct
// program sets (a negative size or duration, a safe method, a header that
// must not be replayed), naming the field.
type Options struct {
	// Methods are the request methods the middleware covers; others pass
	// through untouched. Nil means POST and PATCH. Safe methods (GET, HEAD,
	// OPTIONS, TRACE) cannot be covered: they are idempotent already.
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

	// MaxRecordsPerScope and MaxBytesPerScope are each caller's budget in
	// the store: a request with a new key from a caller (a scope) that
	// already holds MaxRecordsPerScope records, pending or kept, or
	// MaxBytesPerScope bytes of kept responses, is answered with
	// [ErrTooManyKeys] (429) and nothing runs; other callers are not
	// affected, and the caller's retries of earlier requests are still
	// answered. Records count until their retention ends, so the budget
	// also caps how many new keys a caller may use per Retention: size it
	// for your busiest legitimate caller. Zero means 10,000 records and
	// 16 MiB; negative means no bound.
	MaxRecordsPerScope int
	MaxBytesPerScope   int64

	// ReplayHeaders lists the response headers recorded and replayed. Nil
	// means [DefaultReplayHeaders]. Set-Cookie, hop-by-hop headers,
	// Content-Length and Date cannot be replayed.
	ReplayHeaders []string

	// StatusPolicy decides which responses are kept for replay. Nil means
	// [DefaultStatusPolicy]; [KeepAll] is Stripe's behaviour.
	StatusPolicy StatusPolicy

	// Lease is how long a claim holds while its handler runs without the
	// heartbeat renewing it; the heartbeat renews it every Lease/3 to
	// Lease/2. A process that dies leaves its key claimable after at most
	// Lease. Zero means 30 s; at least 3 ms.
	Lease time.Duration

	// Retention is how long a response is kept for replay. Zero means 24 h.
	// Publish it in your API documentation: the IETF draft (§2.3) asks for
	// it, and a retry after it runs the request again.
	Retention time.Duration

	// RetryAfter is the Retry-After sent with [ErrInFlight] and
	// [ErrUnavailable], rounded up to whole seconds. Zero means 1 s.
	RetryAfter time.Duration

	// WaitTimeout, when positive, makes a request that finds its key in
	// flight wait up to that long for the first request to finish, and then
	// replay its response, instead of answering [ErrInFlight] at once.
	// Zero (the default) does not wait.
	WaitTimeout time.Duration

	// StoreTimeout bounds each store operation. The claim, the completion
	// and the release run on a context detached from the request
	// (context.WithoutCancel), so a client that goes away does not strand
	// its record; a completion that fails is tried again until
	// StoreTimeout has passed. Zero means 5 s.
	StoreTimeout time.Duration

	// FailOpen runs the handler without idempotency when the store fails,
	// and logs it. False (the default) answers [ErrUnavailable]: an
	// outage then rejects requests instead of running them twice.
	FailOpen bool

	// ErrorHandler writes failure responses. Each call gets an error of
	// its own (a *problem.Problem), which it may decorate. Nil means a
	// problem.Writer with default options except that it logs nothing:
	// the middleware itself logs each failure once to Logger
	// (problem.Write would log every 503 of a store outage a second time,
	// to slog.Default()).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// MeterProvider provides the counter backstop.idempotency.requests,
	// which counts each covered request once, with the attribute
	// backstop.idempotency.result: executed, takeover, replayed, in_flight,
	// mismatch, not_replayable, over_budget, rejected (bad key, scope or
	// body), store_error or fail_open. The same outcome (and the fence of
	// an executed request) is set on the request's active span, with
	// backstop.idempotency.unrecorded=true when the handler wrote nothing through
	// the middleware's ResponseWriter (see Middleware.Handler). Nil means
	// the global provider (otel.GetMeterProvider()), a no-op until an SDK
	// is installed.
	MeterProvider metric.MeterProvider

	// Logger receives one record per failure: a lost claim, a response
	// that could not be recorded, an error from the ScopeFunc or
	// FingerprintFunc that is not a 4xx problem, and a store error (503,
	// or a FailOpen pass): since every request of an outage meets one, those
	// are written at most once a second, with a "suppressed" count of the
	// rest (the backstop.idempotency.requests counter counts them all).
	// Client errors (4xx) are not logged. Keys and scopes are never logged, only
	// the first 16 hex digits of the record ID, which is a hash of both.
	// Nil means slog.Default() at the time of each record.
	Logger *slog.Logger
}

// DefaultReplayHeaders returns the response headers recorded and replayed
// when Options.ReplayHeaders is nil, in a new slice.
func DefaultReplayHeaders() []string {
	return []string{
		"Content-Type", "Content-Encoding", "Content-Language", "Content-Location",
		"Location", "ETag", "Last-Modified", "Cache-Control", "Expires", "Vary", "Link",
	}
}

// headers that must never be replayed.
var neverReplay = map[string]bool{
	"Set-Cookie": true, "Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Proxy-Authenticate": true, "Content-Length": true, "Date": true,
	HeaderReplayed: true,
}

const (
	defaultMaxRecordsPerScope = 10_000
	defaultMaxBytesPerScope   = 16 << 20
)

// withDefaults fills the zero fields and panics on impossible values.
func (o Options) withDefaults() Options {
	switch {
	case o.MinKeyLength < 0 || o.MaxKeyLength < 0:
		panic("idempotency: Options.MinKeyLength and MaxKeyLength must not be negative")
	case o.MaxBodyBytes < 0:
		panic("idempotency: Options.MaxBodyBytes must not be negative")
	case o.MaxResponseBytes < 0:
		panic("idempotency: Options.MaxResponseBytes must not be negative")
	case o.Lease < 0, o.Lease > 0 && o.Lease < 3*time.Millisecond:
		panic("idempotency: Options.Lease must be at least 3ms")
	case o.Retention < 0:
		panic("idempotency: Options.Retention must not be negative")
	case o.RetryAfter < 0:
		panic("idempotency: Options.RetryAfter must not be negative")
	case o.WaitTimeout < 0:
		panic("idempotency: Options.WaitTimeout must not be negative")
	case o.StoreTimeout < 0:
		panic("idempotency: Options.StoreTimeout must not be negative")
	}
	if o.Methods == nil {
		o.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if o.MinKeyLength == 0 {
		o.MinKeyLength = 16
	}
	if o.MaxKeyLength == 0 {
		o.MaxKeyLength = 255
	}
	if o.MaxKeyLength < o.MinKeyLength {
		panic("idempotency: Options.MaxKeyLength " + strconv.Itoa(o.MaxKeyLength) + " is below MinKeyLength " + strconv.Itoa(o.MinKeyLength))
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
	switch {
	case o.MaxRecordsPerScope == 0:
		o.MaxRecordsPerScope = defaultMaxRecordsPerScope
	case o.MaxRecordsPerScope < 0:
		o.MaxRecordsPerScope = 0 // no bound, as ClaimRequest says it
	}
	switch {
	case o.MaxBytesPerScope == 0:
		o.MaxBytesPerScope = defaultMaxBytesPerScope
	case o.MaxBytesPerScope < 0:
		o.MaxBytesPerScope = 0
	}
	if o.ReplayHeaders == nil {
		o.ReplayHeaders = DefaultReplayHeaders()
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
	if o.Retention > math.MaxInt64-o.Lease {
		// A pending record lives Lease+Retention: the sum must not wrap
		// around to a negative lifetime.
		panic("idempotency: Options.Lease+Retention overflows time.Duration")
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
	return o
}
