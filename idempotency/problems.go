package idempotency

import (
	"net/http"

	"github.com/backstop-go/backstop/problem"
)

const typeBase = "https://pkg.go.dev/github.com/backstop-go/backstop/idempotency#"

// Problem types the middleware answers with. Each is a [problem.Type], so
// errors.Is(err, idempotency.ErrKeyReused) tells the kind of an error
// passed to Options.ErrorHandler. The type URI of each is its
// documentation link: the base
// https://pkg.go.dev/github.com/backstop-go/backstop/idempotency# followed
// by the variable name. (The sentinels that stores return, such as
// [ErrStoreUnavailable], are plain errors; see store.go.)
var (
	// ErrKeyMissing (400) answers a request to a covered method that carries
	// no Idempotency-Key header, unless Options.KeyOptional is set
	// (draft-ietf-httpapi-idempotency-key-header-07 §2.7). Send a fresh,
	// random key (a UUID) with every new operation.
	ErrKeyMissing = problem.Type{URI: typeBase + "ErrKeyMissing", Title: "Idempotency-Key is missing", Status: http.StatusBadRequest}

	// ErrKeyInvalid (400) answers an Idempotency-Key that is not one
	// structured-field string or bare key of printable ASCII, is sent more
	// than once, or is shorter or longer than the service allows (by default
	// 16 to 255 characters).
	ErrKeyInvalid = problem.Type{URI: typeBase + "ErrKeyInvalid", Title: "Idempotency-Key is invalid", Status: http.StatusBadRequest}

	// ErrKeyReused (422) answers a request whose key was already used for a
	// different request: another method, path, query or body
	// (draft-07 §2.7). A key names one operation; use a new key for a new
	// one.
	ErrKeyReused = problem.Type{URI: typeBase + "ErrKeyReused", Title: "Idempotency-Key is already used", Status: http.StatusUnprocessableEntity}

	// ErrInFlight (409) answers a request whose key belongs to a request
	// that is still being processed (draft-07 §2.7). Retry after the delay in
	// the Retry-After header, with the same key and request; the retry gets
	// the first request's response.
	ErrInFlight = problem.Type{URI: typeBase + "ErrInFlight", Title: "A request is outstanding for this Idempotency-Key", Status: http.StatusConflict}

	// ErrNotReplayable (409, no Retry-After) answers a retry of a request
	// that ran, but whose response could not be recorded: it was streamed,
	// took over the connection, or was larger than the service records.
	// The operation happened; retrying with this key will not run it again
	// and will not return its response. The "reason" member says why.
	ErrNotReplayable = problem.Type{URI: typeBase + "ErrNotReplayable", Title: "The response to this Idempotency-Key cannot be replayed", Status: http.StatusConflict}

	// ErrUnscoped (400) answers a request with an Idempotency-Key whose
	// caller the service cannot identify (typically: no credentials).
	// Idempotency records are kept per caller, so that one caller can never
	// receive another's response; authenticate the request.
	ErrUnscoped = problem.Type{URI: typeBase + "ErrUnscoped", Title: "Idempotent request from an unidentified caller", Status: http.StatusBadRequest}

	// ErrBodyTooLarge (413) answers a request whose body is larger than the
	// service reads to fingerprint it.
	ErrBodyTooLarge = problem.Type{URI: typeBase + "ErrBodyTooLarge", Title: "Request body is too large", Status: http.StatusRequestEntityTooLarge}

	// ErrBodyUnreadable (400) answers a request whose body could not be read
	// completely (the client went away or sent a malformed body).
	ErrBodyUnreadable = problem.Type{URI: typeBase + "ErrBodyUnreadable", Title: "Request body could not be read", Status: http.StatusBadRequest}

	// ErrTooManyKeys (429) answers a request with a new key from a caller
	// that already holds as many idempotency records as the service keeps
	// per caller (Options.MaxRecordsPerScope and MaxBytesPerScope, over
	// Options.Retention). Nothing ran. Retry-After, when present, says when
	// the caller's oldest record expires; retries of requests the caller
	// already made are still answered.
	ErrTooManyKeys = problem.Type{URI: typeBase + "ErrTooManyKeys", Title: "Too many idempotency keys in use", Status: http.StatusTooManyRequests}

	// ErrUnavailable (503, with Retry-After) answers when the idempotency
	// store failed (it wrapped [ErrStoreUnavailable]) or is full, so the
	// service cannot guarantee that the request runs at most once. Nothing
	// ran; retry later with the same key.
	ErrUnavailable = problem.Type{URI: typeBase + "ErrUnavailable", Title: "Idempotency cannot be guaranteed right now", Status: http.StatusServiceUnavailable}
)
