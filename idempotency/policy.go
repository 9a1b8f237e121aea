package idempotency

import (
	"context"
	"net/http"
)

// Decision says what to do with a finished request's record.
type Decision uint8

// Decisions of a [StatusPolicy].
const (
	// KeepResponse completes the record: retries replay the response.
	KeepResponse Decision = iota + 1
	// ReleaseKey deletes the record: a retry with the same key runs the
	// request again.
	ReleaseKey
)

// StatusPolicy decides, from the status a handler answered with, whether
// its response is kept for replay or its key released.
type StatusPolicy func(status int) Decision

// DefaultStatusPolicy keeps 2xx, 3xx and 4xx responses, except:
//   - 408 Request Timeout, 409 Conflict, 425 Too Early and 429 Too Many
//     Requests, which say "try again" and would be wrong to replay;
//   - 401 Unauthorized and 403 Forbidden, which say the caller is not who
//     its credentials claim, or may not do this: keeping them would let
//     anyone with made-up credentials fill the store (with the default
//     [AuthorizationScope], each made-up Authorization value is a caller
//     of its own), and a caller that fixes its credentials should be
//     heard.
//
// It releases the key on 5xx, so a retry after a transient server failure
// runs again (the IETF draft's authors agreed temporary failures are not
// idempotent results).
//
// Releasing on 5xx is right when a failed handler rolled its work back. If
// a handler can fail after a side effect (a charge was made, then the
// database write failed), a retry runs it again: use [KeepAll] for such
// routes, or make the handler decide with [Decide].
func DefaultStatusPolicy(status int) Decision {
	switch {
	case status >= 500:
		return ReleaseKey
	case status == http.StatusRequestTimeout, status == http.StatusConflict,
		status == http.StatusTooEarly, status == http.StatusTooManyRequests,
		status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ReleaseKey
	}
	return KeepResponse
}

// KeepAll is the Stripe-compatible [StatusPolicy]: once the handler has
// started, its response is kept whatever the status, 5xx included, and every
// retry gets it back.
func KeepAll(int) Decision { return KeepResponse }

// Decide lets a handler override the status policy for its own request: a
// handler that knows a side effect happened can keep a 5xx response, and
// one that knows nothing happened can release the key of a 4xx. It reports
// whether ctx belongs to a request the middleware claimed. The last call
// wins; d must be KeepResponse or ReleaseKey. A handler that writes
// nothing through the ResponseWriter the middleware gave it has its key
// released whatever it decides: there is no response to keep.
func Decide(ctx context.Context, d Decision) bool {
	st, ok := ctx.Value(ctxKey{}).(*execState)
	if !ok || (d != KeepResponse && d != ReleaseKey) {
		return false
	}
	st.decision.Store(uint32(d))
	return true
}
