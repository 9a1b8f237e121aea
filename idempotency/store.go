package idempotency

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// Store keeps idempotency records. Each method is one atomic step of the
// record's state machine:
//
//	(absent) --Claim--> pending --Complete--> completed --(retention)--> (absent)
//	                    pending --Release---> (absent)
//	                    pending --(lease runs out)--> claimable by the next Claim,
//	                                          which takes over with a new owner
//
// Every method takes a context first, honours its cancellation, and must be
// atomic with respect to every other method on the same key, also across
// processes for a shared store. Extend, Complete and Release are
// compare-and-set on the [Owner] that Claim returned (fencing): a caller
// whose claim was taken over gets [ErrNotOwner] and changes nothing.
//
// A Response is immutable once passed to Complete: the caller does not
// modify it afterwards, and callers of Claim and Get do not modify the
// Response they receive, so a store may keep and hand out shared data.
//
// The middleware chooses the [RecordKey]s; stores must not interpret them
// beyond what RecordKey documents. A store that fails because its backend
// does (a network error, a timeout) returns an error wrapping
// [ErrStoreUnavailable]. Implementations must be safe for concurrent use.
// Package storetest holds a conformance suite that every implementation
// should pass.
type Store interface {
	// Claim looks the key up and, in the same atomic step:
	//   - creates a pending record owned by a new Owner when none exists
	//     (Outcome Claimed), with a lease of req.Lease and a lifetime of
	//     req.Lease+req.Retention, unless the record's scope is over its
	//     budget (Outcome OverBudget, nothing changed; see ClaimRequest);
	//   - reports Mismatch when a record exists with another fingerprint,
	//     whatever its state;
	//   - reports Completed with the stored response when the record is
	//     completed;
	//   - reports InFlight with the time left on the lease when the record
	//     is pending and its lease has not run out;
	//   - takes a pending record whose lease ran out over (Outcome Claimed,
	//     Takeover true) with a new token and a greater fence.
	// The budget is only checked for a new record: retries of a record the
	// scope already holds are answered whatever the scope holds.
	Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error)

	// Extend renews the lease of a pending record held by owner to lease
	// from now, and keeps the record alive at least that long. It returns
	// ErrNotOwner when the record is gone, completed or owned by another.
	Extend(ctx context.Context, key RecordKey, owner Owner, lease time.Duration) error

	// Complete stores resp as the record's final response and keeps it for
	// retention from now. It succeeds for the owner of a pending record even
	// when its lease has run out, as long as nobody took over; otherwise it
	// returns ErrNotOwner and changes nothing.
	Complete(ctx context.Context, key RecordKey, owner Owner, resp Response, retention time.Duration) error

	// Release deletes a pending record held by owner, so that the next Claim
	// starts afresh (with a fence greater than owner's). It returns
	// ErrNotOwner when owner no longer holds it.
	Release(ctx context.Context, key RecordKey, owner Owner) error

	// Get returns the record stored under key, or ErrNotFound.
	Get(ctx context.Context, key RecordKey) (Record, error)
}

// RecordKey names a record. The middleware derives both parts from the
// caller's scope and the client's Idempotency-Key with SHA-256 (128 bits
// of each digest, as 32 hex digits), so neither the key nor the caller's
// identity reaches a store in clear.
type RecordKey struct {
	// Scope identifies the caller. The records of one scope share its
	// budget (ClaimRequest.MaxRecords and MaxBytes); a store may keep them
	// together.
	Scope string
	// ID identifies the record among all scopes.
	ID string
}

// ClaimRequest is the argument of [Store.Claim].
type ClaimRequest struct {
	// Key identifies the record.
	Key RecordKey
	// Fingerprint identifies the request; a later request under the same
	// key must carry the same fingerprint.
	Fingerprint string
	// Lease is how long the claim holds without being extended. Positive.
	Lease time.Duration
	// Retention is how long a record is kept once completed; a pending
	// record lives for Lease+Retention. Positive.
	Retention time.Duration
	// MaxRecords and MaxBytes are the budget of Key.Scope: a Claim that
	// would create a record while the scope already holds MaxRecords
	// records (pending or completed) or MaxBytes bytes of recorded
	// responses (bodies and headers) reports OverBudget instead. Zero or
	// negative means no bound.
	MaxRecords int
	MaxBytes   int64
}

// Outcome is the result of [Store.Claim].
type Outcome uint8

// Outcomes of a claim.
const (
	// Claimed: the caller owns the record and must run the request, then
	// Complete or Release it.
	Claimed Outcome = iota + 1
	// InFlight: another owner holds a live lease.
	InFlight
	// Completed: the request already ran; ClaimResult.Response holds its
	// response.
	Completed
	// Mismatch: the key was used with another fingerprint.
	Mismatch
	// OverBudget: the record does not exist and the scope holds as many
	// records or bytes as ClaimRequest allows; nothing was created.
	OverBudget
)

// String returns the outcome's name, suitable for logs and metrics.
func (o Outcome) String() string {
	switch o {
	case Claimed:
		return "claimed"
	case InFlight:
		return "in_flight"
	case Completed:
		return "completed"
	case Mismatch:
		return "mismatch"
	case OverBudget:
		return "over_budget"
	}
	return "unknown"
}

// ClaimResult is what [Store.Claim] found or did.
type ClaimResult struct {
	// Outcome says what happened.
	Outcome Outcome
	// Owner identifies the claim when Outcome is Claimed.
	Owner Owner
	// Takeover is true when Outcome is Claimed and a previous owner's lease
	// had run out.
	Takeover bool
	// Response is the stored response when Outcome is Completed.
	Response Response
	// LeaseRemaining is the time left on the holder's lease when Outcome is
	// InFlight.
	LeaseRemaining time.Duration
	// RetryAfter is, when Outcome is OverBudget, the time until the
	// scope's oldest record expires and frees room, or zero when the store
	// cannot tell.
	RetryAfter time.Duration
}

// Owner identifies one claim of a record. Token is random and unguessable;
// Fence orders the claims of a key, so a handler can guard its own writes
// with it (see [FromContext]).
type Owner struct {
	// Token is the claim's random secret; only its holder can complete,
	// extend or release the record.
	Token string
	// Fence is positive and greater than the fence of every earlier claim
	// of the same key that the store still remembers: a takeover's is
	// greater than the owner's it replaces, and a claim made after a
	// release is greater than the released one's. The stores in this
	// module take the larger of their clock in microseconds since the Unix
	// epoch and one more than the last fence they issued (to the scope, in
	// Redis), so fences also grow across retention and restarts while the
	// clock does not step back. Compare fences of one key only.
	Fence int64
}

// State is the state of a stored record.
type State uint8

// States of a record.
const (
	// Pending: claimed and not yet completed.
	Pending State = iota + 1
	// Done: completed; the response is stored.
	Done
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Done:
		return "done"
	}
	return "unknown"
}

// Record is a stored record, as [Store.Get] returns it.
type Record struct {
	// State is Pending or Done.
	State State
	// Fingerprint is the fingerprint of the request that created the record.
	Fingerprint string
	// Fence is the fence of the current or last owner.
	Fence int64
	// LeaseRemaining is the time left on the lease of a pending record;
	// zero or negative when it has run out.
	LeaseRemaining time.Duration
	// Response is the stored response of a Done record.
	Response Response
}

// Response is a recorded response. When NotReplayable is not empty the
// request ran but its response could not be recorded; Status still holds
// the status that was sent, and Header and Body are empty.
type Response struct {
	// Status is the response status code.
	Status int
	// Header holds the allow-listed response headers.
	Header http.Header
	// Body is the response body.
	Body []byte
	// NotReplayable is empty for a recorded response, or why it could not
	// be recorded. Stores keep it as they got it, including values they do
	// not know.
	NotReplayable Reason
}

// Reason says why a response that was sent could not be recorded for
// replay. Retries of its request get [ErrNotReplayable] with the reason in
// its "reason" member.
type Reason string

// Reasons a response is not replayable.
const (
	// ReasonStreamed: the handler flushed the response or sent
	// text/event-stream.
	ReasonStreamed Reason = "streamed"
	// ReasonHijacked: the handler took the connection over (Hijack, or a
	// 101 Switching Protocols).
	ReasonHijacked Reason = "hijacked"
	// ReasonTooLarge: the body was larger than Options.MaxResponseBytes.
	ReasonTooLarge Reason = "too_large"
)

// Errors that stores return. Each is a sentinel for errors.Is; the problem
// types clients receive are in problems.go.
var (
	// ErrStoreUnavailable is wrapped by the errors a store returns when
	// its backend fails: the network, a timeout, an unexpected reply. The
	// middleware answers them with [ErrUnavailable].
	ErrStoreUnavailable = errors.New("idempotency: store unavailable")
	// ErrNotOwner is returned by Extend, Complete and Release when the
	// caller no longer owns the record: it was taken over after the lease
	// ran out, released, completed or expired.
	ErrNotOwner = errors.New("idempotency: claim is no longer owned")
	// ErrNotFound is returned by Get when no record exists.
	ErrNotFound = errors.New("idempotency: record not found")
	// ErrStoreFull is returned by Claim when a bounded store has no room
	// for a new record and nothing it may drop: every record it holds is
	// in flight. The middleware answers it with [ErrUnavailable].
	ErrStoreFull = errors.New("idempotency: store is full")
)

// NewToken returns a fresh owner token for Store implementations: 128
// random bits in hex, unique across processes with overwhelming
// probability. Tokens identify a claim between the middleware and its
// store and never reach clients, so they come from math/rand/v2 (ChaCha8,
// seeded by the runtime from the OS) rather than a system call per token.
func NewToken() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
