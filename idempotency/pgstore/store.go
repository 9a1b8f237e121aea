package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/internal/headercodec"
)

// DB runs the store's statements: a *pgxpool.Pool (or a wrapper of one).
// A single *pgx.Conn also satisfies it but is not safe for concurrent use,
// which a Store needs.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DefaultTimeout is the bound of each call when Options.Timeout is zero.
const DefaultTimeout = 500 * time.Millisecond

// Options configure a [Store]. The zero value of every field is the default
// its comment gives.
type Options struct {
	// Timeout bounds every call of the store, the wait for a pooled
	// connection included: a call that has no answer by then returns an
	// error wrapping idempotency.ErrStoreUnavailable. Zero means
	// DefaultTimeout, 500 ms; negative means only the caller's context
	// bounds a call.
	Timeout time.Duration

	// Now, when set, is the clock of leases, retention and fences, read
	// by the app instance and sent with every statement; for tests. Nil
	// (the default) means the database's clock (clock_timestamp()), which
	// every instance shares whatever their own clocks say.
	Now func() time.Time
}

// Store is an [idempotency.Store] in PostgreSQL, shared by every app
// instance that uses the same database (the plain mode). It also backs the
// transactional mode of [NewTxMiddleware].
//
// Each transition is one statement, so one round trip: a claim calls the
// function backstop_idempotency_claim that [Migrate] creates (one
// lookup, then the insert or update it decides), an extension, completion
// or release is a conditional UPDATE on (token, fence). A replay costs one
// round trip; a first request two (claim, complete), plus one per
// heartbeat.
//
// Rows are keyed by (scope, id), the digests the middleware derives; a
// released or expired row is reused by the next claim of its key, which
// keeps fences growing: a new owner's fence is the larger of the clock in
// microseconds and one more than the row's last fence. A new record of a
// scope is checked against the scope's budget (ClaimRequest.MaxRecords
// and MaxBytes) under a transaction-scoped advisory lock on the scope, so
// concurrent claims cannot overrun it; the check counts the scope's live
// rows, so its cost grows with the records a caller holds. Rows stay until
// [Store.Cleanup] deletes them once expired; until then they take space,
// never budget.
//
// A Store is safe for concurrent use when its DB is. It does not own the
// DB. Create it with [New]; the zero value is not usable.
type Store struct {
	db      DB
	timeout time.Duration
	now     func() time.Time
}

// New returns a Store on db. It does no I/O: call [Migrate] once before
// the first request, and [Store.Ping] as a readiness check. It panics when
// db is nil or an Options field is impossible.
func New(db DB, o Options) *Store {
	if db == nil {
		panic("pgstore: New called with a nil DB")
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		o.Timeout = 0
	}
	return &Store{db: db, timeout: o.Timeout, now: o.Now}
}

// bound returns ctx bounded by the store's timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// clock is the value of the $now parameter of every statement: nil (SQL
// NULL, the database's clock) unless Options.Now is set.
func (s *Store) clock() any {
	if s.now == nil {
		return nil
	}
	return s.now()
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: pgstore: %s: %w", idempotency.ErrStoreUnavailable, op, err)
}

const claimSQL = `SELECT outcome, fence, takeover, wait_us, status, header, body, not_replayable
FROM backstop_idempotency_claim($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10)`

// Claim implements [idempotency.Store].
func (s *Store) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.claim(ctx, s.db, req, false)
	if err != nil {
		return idempotency.ClaimResult{}, unavailable("claim", err)
	}
	return res, nil
}

// claim runs the claim function on q: the pool, or a transaction when
// inTx is set.
func (s *Store) claim(ctx context.Context, q DB, req idempotency.ClaimRequest, inTx bool) (idempotency.ClaimResult, error) {
	token := idempotency.NewToken()
	return scanClaim(q.QueryRow(ctx, claimSQL, s.claimArgs(req, token, inTx)...), token)
}

// claimArgs returns the arguments of claimSQL.
func (s *Store) claimArgs(req idempotency.ClaimRequest, token string, inTx bool) []any {
	return []any{req.Key.Scope, req.Key.ID, req.Fingerprint, token,
		req.Lease.Microseconds(), req.Retention.Microseconds(), int64(req.MaxRecords), req.MaxBytes,
		s.clock(), inTx}
}

// scanClaim reads the row of claimSQL; token is the one it was sent.
func scanClaim(row pgx.Row, token string) (idempotency.ClaimResult, error) {
	var (
		outcome  int16
		fence    *int64
		takeover bool
		waitUS   *int64
		status   *int32
		header   []byte
		body     []byte
		reason   *string
	)
	if err := row.Scan(&outcome, &fence, &takeover, &waitUS, &status, &header, &body, &reason); err != nil {
		return idempotency.ClaimResult{}, err
	}
	res := idempotency.ClaimResult{Outcome: idempotency.Outcome(outcome)}
	switch res.Outcome {
	case idempotency.Claimed:
		if fence == nil {
			return idempotency.ClaimResult{}, errors.New("claim without a fence")
		}
		res.Owner = idempotency.Owner{Token: token, Fence: *fence}
		res.Takeover = takeover
	case idempotency.InFlight:
		if waitUS != nil {
			res.LeaseRemaining = time.Duration(*waitUS) * time.Microsecond
		}
	case idempotency.OverBudget:
		if waitUS != nil {
			res.RetryAfter = time.Duration(*waitUS) * time.Microsecond
		}
	case idempotency.Completed:
		resp, err := response(status, header, body, reason)
		if err != nil {
			return idempotency.ClaimResult{}, err
		}
		res.Response = resp
	case idempotency.Mismatch:
	default:
		return idempotency.ClaimResult{}, fmt.Errorf("claim returned outcome %d", outcome)
	}
	return res, nil
}

func response(status *int32, header, body []byte, reason *string) (idempotency.Response, error) {
	h, err := headercodec.Decode(header)
	if err != nil {
		return idempotency.Response{}, fmt.Errorf("pgstore: %w", err)
	}
	r := idempotency.Response{Header: h, Body: body}
	if status != nil {
		r.Status = int(*status)
	}
	if reason != nil {
		r.NotReplayable = idempotency.Reason(*reason)
	}
	return r, nil
}

// now is the SQL for the statement's clock, from the parameter $1.
const nowCTE = `WITH c AS (SELECT coalesce($1::timestamptz, clock_timestamp()) AS now) `

const extendSQL = nowCTE + `UPDATE backstop_idempotency t
SET lease_until = c.now + $6 * interval '1 microsecond',
    expires_at = greatest(t.expires_at, c.now + $6 * interval '1 microsecond')
FROM c WHERE t.scope = $2 AND t.id = $3 AND t.state = 1 AND t.token = $4 AND t.fence = $5 AND t.expires_at > c.now`

// Extend implements [idempotency.Store].
func (s *Store) Extend(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner, lease time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.change(ctx, s.db, "extend", extendSQL, s.clock(), key.Scope, key.ID, owner.Token, owner.Fence, lease.Microseconds())
}

const completeSQL = nowCTE + `UPDATE backstop_idempotency t
SET state = 2, token = NULL, status = $6, header = $7, body = $8, not_replayable = $9, size = $10,
    lease_until = c.now, expires_at = c.now + $11 * interval '1 microsecond'
FROM c WHERE t.scope = $2 AND t.id = $3 AND t.state = 1 AND t.token = $4 AND t.fence = $5 AND t.expires_at > c.now`

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.complete(ctx, s.db, key, owner, resp, retention)
}

func (s *Store) complete(ctx context.Context, q DB, key idempotency.RecordKey, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) error {
	return s.change(ctx, q, "complete", completeSQL, s.completeArgs(key, owner, resp, retention)...)
}

// completeArgs returns the arguments of completeSQL.
func (s *Store) completeArgs(key idempotency.RecordKey, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) []any {
	header := headercodec.Encode(resp.Header)
	var reason *string
	if resp.NotReplayable != "" {
		r := string(resp.NotReplayable)
		reason = &r
	}
	body := resp.Body
	if body == nil {
		body = []byte{} // an empty body, not an unknown one
	}
	return []any{s.clock(), key.Scope, key.ID, owner.Token, owner.Fence,
		int32(resp.Status), header, body, reason, int64(len(header) + len(resp.Body)), retention.Microseconds()}
}

const releaseSQL = nowCTE + `UPDATE backstop_idempotency t
SET state = 0, token = NULL, size = 0
FROM c WHERE t.scope = $2 AND t.id = $3 AND t.state = 1 AND t.token = $4 AND t.fence = $5 AND t.expires_at > c.now`

// Release implements [idempotency.Store]. The row stays, released, so the
// next claim of its key gets a greater fence; Cleanup deletes it once it
// expires.
func (s *Store) Release(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.change(ctx, s.db, "release", releaseSQL, s.clock(), key.Scope, key.ID, owner.Token, owner.Fence)
}

// change runs a conditional UPDATE of one record held by its owner.
func (s *Store) change(ctx context.Context, q DB, op, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return unavailable(op, err)
	}
	if tag.RowsAffected() == 0 {
		return idempotency.ErrNotOwner
	}
	return nil
}

const getSQL = nowCTE + `SELECT t.state, t.fingerprint, t.fence,
    floor(extract(epoch FROM t.lease_until - c.now) * 1000000)::bigint, t.status, t.header, t.body, t.not_replayable
FROM backstop_idempotency t, c WHERE t.scope = $2 AND t.id = $3 AND t.state <> 0 AND t.expires_at > c.now`

// Get implements [idempotency.Store].
func (s *Store) Get(ctx context.Context, key idempotency.RecordKey) (idempotency.Record, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		state   int16
		rec     idempotency.Record
		leaseUS int64
		status  *int32
		header  []byte
		body    []byte
		reason  *string
	)
	err := s.db.QueryRow(ctx, getSQL, s.clock(), key.Scope, key.ID).
		Scan(&state, &rec.Fingerprint, &rec.Fence, &leaseUS, &status, &header, &body, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return idempotency.Record{}, idempotency.ErrNotFound
	}
	if err != nil {
		return idempotency.Record{}, unavailable("get", err)
	}
	rec.State = idempotency.State(state)
	if rec.State == idempotency.Pending {
		rec.LeaseRemaining = time.Duration(leaseUS) * time.Microsecond
		return rec, nil
	}
	rec.Response, err = response(status, header, body, reason)
	if err != nil {
		return idempotency.Record{}, unavailable("get", err)
	}
	return rec, nil
}

// Ping checks, within the store's timeout, that the database answers and
// that the store's table exists (Migrate has run), so that a Store can
// serve as a readiness check.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.db.Exec(ctx, "SELECT FROM backstop_idempotency LIMIT 0"); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// DefaultCleanupBatch is the number of rows a cleanup statement deletes
// when the batch passed to Cleanup is zero or negative.
const DefaultCleanupBatch = 1000

const cleanupSQL = `DELETE FROM backstop_idempotency WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM backstop_idempotency
    WHERE expires_at <= coalesce($1::timestamptz, clock_timestamp())
    LIMIT $2 FOR UPDATE SKIP LOCKED))`

// Cleanup deletes expired rows, batch at a time (DefaultCleanupBatch when
// batch is not positive), each batch one statement bounded by the store's
// timeout, until a batch deletes fewer than batch rows or ctx ends. It
// returns how many rows it deleted.
//
// Every instance may run it at the same time, on any schedule: a batch
// locks the rows it deletes and skips those another holds (FOR UPDATE SKIP
// LOCKED), so concurrent cleanups share the work instead of waiting on
// each other, and a row that a claim is reviving at that moment is
// skipped, never deleted. Expired rows answer nothing whether they are
// deleted or not: cleanup only gives their space back. Run it every few
// minutes:
//
//	for range time.Tick(5 * time.Minute) {
//		if _, err := store.Cleanup(ctx, 0); err != nil { ... }
//	}
func (s *Store) Cleanup(ctx context.Context, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultCleanupBatch
	}
	var total int64
	for {
		n, err := s.cleanupBatch(ctx, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

func (s *Store) cleanupBatch(ctx context.Context, batch int) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.db.Exec(ctx, cleanupSQL, s.clock(), batch)
	if err != nil {
		return 0, unavailable("cleanup", err)
	}
	return tag.RowsAffected(), nil
}

var _ idempotency.Store = (*Store)(nil)
