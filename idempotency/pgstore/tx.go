package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// BatchSender sends the batch that begins each request's transaction
// (pgx.Batch.BeginTx) with its claim: a *pgxpool.Pool. The transaction it
// returns (pgx.BatchResults.Tx) must give its connection back when it ends,
// as the pool's does.
type BatchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// ErrTxManaged is returned by Commit and Rollback of the transaction that
// [FromContext] hands to a handler: the middleware ends that transaction
// itself, after recording the response in it.
var ErrTxManaged = errors.New("pgstore: the transaction is committed or rolled back by the middleware")

// TxMiddleware is the transactional mode: a request's claim, the
// handler's own writes and its recorded response are one transaction,
// committed before the response is sent, so either the handler's effects
// and the record that replays them commit together, or neither does and a
// retry runs cleanly. Create it with [NewTxMiddleware]; the zero value is
// not usable. A TxMiddleware is safe for concurrent use.
type TxMiddleware struct {
	idem         *idempotency.Middleware
	store        *txStore
	methods      map[string]bool
	errorHandler func(w http.ResponseWriter, r *http.Request, err error)
	logger       *slog.Logger
	retryAfter   string
}

// NewTxMiddleware returns the transactional middleware: the idempotency
// middleware of package idempotency (with scope and o, as
// idempotency.New takes them; every option keeps its meaning), whose
// claims, completions and releases are made, on the table of store, in a
// transaction that it begins for each request on a connection of pool,
// as txOptions says (the isolation level, access mode and deferrable mode,
// or BeginQuery; the zero value is the server's default, usually READ
// COMMITTED). pool is the pool the handlers' data lives in.
//
// It panics when store or pool is nil, or an Options field is impossible
// (as idempotency.New does); it does no I/O.
func NewTxMiddleware(store *Store, pool BatchSender, txOptions pgx.TxOptions, scope idempotency.ScopeFunc, o idempotency.Options) *TxMiddleware {
	if store == nil || store.db == nil {
		panic("pgstore: NewTxMiddleware called with a nil or zero *Store")
	}
	if pool == nil {
		panic("pgstore: NewTxMiddleware called with a nil BatchSender")
	}
	ts := &txStore{s: store, pool: pool, txOptions: txOptions, timeout: o.StoreTimeout, waits: o.WaitTimeout > 0}
	if ts.timeout <= 0 {
		ts.timeout = 5 * time.Second // idempotency.Options' default
	}
	m := &TxMiddleware{idem: idempotency.New(ts, scope, o), store: ts, methods: map[string]bool{}, errorHandler: o.ErrorHandler, logger: o.Logger}
	methods := o.Methods
	if methods == nil {
		methods = []string{http.MethodPost, http.MethodPatch}
	}
	for _, meth := range methods {
		m.methods[meth] = true
	}
	if m.errorHandler == nil {
		m.errorHandler = quietProblems.Write
	}
	ts.logger = m.logger // nil: slog.Default() at the time of each record
	ra := o.RetryAfter
	if ra <= 0 {
		ra = time.Second
	}
	m.retryAfter = strconv.FormatInt(int64((ra+time.Second-1)/time.Second), 10)
	return m
}

// quietProblems writes problems without logging them: failures are
// logged once where they happen.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

// Handler returns next wrapped in the middleware. It panics when next is
// nil or m was not made by [NewTxMiddleware].
//
// It answers as idempotency.Middleware.Handler does (the same problems,
// statuses and headers, the same replay), with these differences:
//   - A request that claims its key runs next inside the transaction,
//     which next reaches through [FromContext]. The response next writes
//     is buffered; once next returns, the middleware records it in the
//     transaction and commits (or, when the status policy releases the
//     key — a 5xx by default — rolls back), and only then sends it. If the
//     commit fails, nothing next did took effect and the client gets 503
//     [idempotency.ErrUnavailable] instead of next's response. When a
//     failed statement of next aborted the transaction and next answered
//     with an error status (4xx), the transaction is rolled back and that
//     answer sent, unrecorded, as for a released key; a success after a
//     failed statement gets the 503, since nothing of it took effect.
//   - A panic in next rolls the transaction back and continues; nothing
//     of next's response has been sent. A database connection that drops,
//     or a process that dies, before the commit has the same effect:
//     PostgreSQL rolls back what it did not see committed.
//   - The per-scope budget (Options.MaxRecordsPerScope and
//     MaxBytesPerScope) is checked against the records committed: a
//     caller's k new keys whose transactions are open at once do not see
//     one another, so it can hold up to MaxRecordsPerScope-1+k records.
//   - Requests of a covered method are buffered even when they carry no
//     key on a KeyOptional route (and then run without a transaction).
//   - An answer that needs no transaction (a replay, 409, 422, 429) is
//     written and flushed (when w is an http.Flusher or unwraps to one)
//     while the transaction, which holds nothing, is rolled back, so the
//     client does not wait for the ROLLBACK; Handler returns when it is
//     done. A buffered response sent without a Content-Length gets one.
//   - A second request with the same key while the first one's
//     transaction is open gets 409 idempotency.ErrInFlight at once (a
//     transaction-scoped advisory lock, taken without waiting); after the
//     first committed, it gets the replay.
//   - The ResponseWriter passed to next buffers: Flush sends nothing (a
//     flushed response is recorded as not replayable, as in
//     idempotency), Hijack fails, and it has no Unwrap, so nothing
//     reaches the client before the commit. 1xx responses are dropped.
//     The whole response is held in memory until then.
//
// Requests whose method is not covered pass straight to next, without a
// transaction.
func (m *TxMiddleware) Handler(next http.Handler) http.Handler {
	if m == nil || m.idem == nil {
		panic("pgstore: Handler called on a TxMiddleware not made by NewTxMiddleware")
	}
	if next == nil {
		panic("pgstore: Handler called with a nil http.Handler")
	}
	inner := m.idem.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.methods[r.Method] {
			next.ServeHTTP(w, r)
			return
		}
		m.serve(w, r, inner)
	})
}

func (m *TxMiddleware) serve(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	x := &struct {
		sl  slot
		buf bufferWriter
	}{}
	sl, buf := &x.sl, &x.buf
	ctx := context.WithoutCancel(r.Context())
	defer func() {
		// A panic: the handler's, after idempotency released the claim.
		sl.end(ctx, m.store.timeout)
	}()
	inner.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), slotKey{}, sl)))
	if sl.commitErr != nil {
		m.errorHandler(w, r, idempotency.ErrUnavailable.New("The transaction could not be committed; nothing was done. Retry later with the same key.").
			WithHeader("Retry-After", m.retryAfter).WithCause(sl.commitErr))
		return
	}
	if sl.tx == nil {
		buf.sendTo(w)
		return
	}
	// The outcome left the transaction open and holding nothing (a
	// replay, 409, 422, 429): the answer does not depend on it. Roll it back
	// while the answer goes out, and flush the answer rather than let
	// net/http send it when the handler returns, so that the client does
	// not wait for the ROLLBACK's round trip. Ending it first instead
	// would make the client wait; ending it after the flush would hold a
	// pooled connection while a slow client reads.
	tx := &slot{tx: sl.tx}
	sl.tx, sl.claimed = nil, false
	done := make(chan struct{})
	go func() {
		defer close(done)
		tx.end(ctx, m.store.timeout)
	}()
	defer func() { <-done }() // the connection is back in the pool when the handler returns
	buf.sendTo(w)
	if buf.status != 0 {
		_ = http.NewResponseController(w).Flush() // without a Flusher, net/http sends it on return
	}
}

// FromContext returns the transaction of the request whose context is
// ctx, and false when the request has none (its method is not covered, it
// carried no key on a KeyOptional route, or the store failed under
// FailOpen): use the pool then. Write through the transaction and do not
// commit or roll it back (its Commit and Rollback return [ErrTxManaged];
// its Begin makes a savepoint, as pgx's does). Make the handler answer
// 5xx, or call idempotency.Decide(ctx, idempotency.ReleaseKey), to roll
// everything back. idempotency.FromContext gives the claim's fence.
func FromContext(ctx context.Context) (pgx.Tx, bool) {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok || !sl.claimed || sl.tx == nil {
		return nil, false
	}
	return handlerTx{sl.tx}, true
}

// handlerTx is the transaction as the handler sees it: everything but the
// end of it.
type handlerTx struct{ pgx.Tx }

func (handlerTx) Commit(context.Context) error   { return ErrTxManaged }
func (handlerTx) Rollback(context.Context) error { return ErrTxManaged }

type slotKey struct{}

// slot is one request's transaction, shared between the outer handler
// (which installs it in the request's context), the store (which begins,
// commits and rolls it back) and the handler (FromContext).
type slot struct {
	tx        pgx.Tx // open, or nil
	claimed   bool   // tx holds the request's claim
	owner     idempotency.Owner
	commitErr error // the commit failed; the response must not be sent
}

// end rolls back a transaction still open, which gives its connection
// back to the pool.
func (sl *slot) end(ctx context.Context, timeout time.Duration) {
	if sl.tx == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_ = sl.tx.Rollback(ctx) // on failure pgx closes the connection
	sl.tx, sl.claimed = nil, false
}

// txStore is the idempotency.Store of the transactional mode: each
// request's claim is made in a transaction of its own, found through the
// context.
type txStore struct {
	s         *Store
	pool      BatchSender
	txOptions pgx.TxOptions
	timeout   time.Duration
	logger    *slog.Logger
	waits     bool // the middleware claims again after InFlight (Options.WaitTimeout)
}

var (
	errOutsideMiddleware = errors.New("pgstore: transactional store called outside TxMiddleware.Handler")
	errNoTx              = errors.New("pgstore: the BatchSender began no transaction (pgx.BatchResults.Tx is nil)")
)

// Claim begins the request's transaction and claims the key in it, in one
// round trip: BEGIN and the claim are sent in one batch.
func (ts *txStore) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok {
		return idempotency.ClaimResult{}, unavailable("claim", errOutsideMiddleware)
	}
	sl.end(context.WithoutCancel(ctx), ts.timeout) // a previous attempt's (WaitTimeout polls)
	token := idempotency.NewToken()
	var b pgx.Batch
	b.BeginTx(ts.txOptions)
	b.Queue(claimSQL, ts.s.claimArgs(req, token, true)...)
	br := ts.pool.SendBatch(ctx, &b)
	sl.tx = br.Tx() // ended by end (or Complete) whatever happens next
	if sl.tx == nil {
		_ = br.Close()
		return idempotency.ClaimResult{}, unavailable("begin", errNoTx)
	}
	_, err := br.Exec()
	var res idempotency.ClaimResult
	if err == nil {
		res, err = scanClaim(br.QueryRow(), token)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sl.end(context.WithoutCancel(ctx), ts.timeout)
		if contended(err) {
			// Under REPEATABLE READ or SERIALIZABLE, a claim whose
			// snapshot predates another request's commit of the same key
			// cannot see it and fails to serialise: that request is, or
			// just was, in flight.
			return idempotency.ClaimResult{Outcome: idempotency.InFlight}, nil
		}
		return idempotency.ClaimResult{}, unavailable("claim", err)
	}
	switch res.Outcome {
	case idempotency.Claimed:
		sl.claimed, sl.owner = true, res.Owner
	case idempotency.InFlight:
		if ts.waits {
			// Free the connection now: the middleware waits and claims
			// again. Otherwise, as after other answers, the transaction
			// is rolled back while the answer is sent.
			sl.end(context.WithoutCancel(ctx), ts.timeout)
		}
	}
	return res, nil
}

// contended reports whether err says another transaction holds or just
// changed the row: a serialization failure, a deadlock, or a lock not
// available.
func contended(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01", "55P03":
		return true
	}
	return false
}

// Extend does nothing: the claim is held by the transaction, not a lease.
func (ts *txStore) Extend(context.Context, idempotency.RecordKey, idempotency.Owner, time.Duration) error {
	return nil
}

// Complete records resp in the request's transaction and commits it.
func (ts *txStore) Complete(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) error {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok || !sl.claimed || sl.tx == nil || sl.owner != owner {
		return idempotency.ErrNotOwner
	}
	if resp.Status >= 400 && sl.tx.Conn().PgConn().TxStatus() == 'E' {
		// A statement of the handler failed and it answered with an
		// error (a unique violation answered 422, say): nothing it did
		// can take effect, and the record cannot be written either. Roll
		// back, as for a released key, and send its answer: a retry runs
		// cleanly, while a 503 would be all that every retry with this key
		// ever got. A success after a failed statement still gets the
		// 503 below: it would claim effects that never happened.
		sl.end(context.WithoutCancel(ctx), ts.timeout)
		return nil
	}
	err := ts.s.complete(ctx, sl.tx, key, owner, resp, retention)
	if err == nil {
		err = sl.tx.Commit(ctx)
		sl.tx, sl.claimed = nil, false
	}
	if err != nil {
		// The handler's writes are gone with the record: the response
		// must not reach the client. The middleware stops at ErrNotOwner
		// rather than trying again a transaction that no longer exists.
		sl.commitErr = err
		sl.end(context.WithoutCancel(ctx), ts.timeout)
		logger := ts.logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.LogAttrs(ctx, slog.LevelError, "pgstore: cannot commit the request's transaction; answering 503, nothing was done",
			slog.String("record", shortID(key.ID)), slog.Any("error", err))
		return fmt.Errorf("%w: %w", idempotency.ErrNotOwner, err)
	}
	return nil
}

// Release rolls the request's transaction back: the handler's writes and
// the claim go together.
func (ts *txStore) Release(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner) error {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok || !sl.claimed || sl.tx == nil || sl.owner != owner {
		return idempotency.ErrNotOwner
	}
	sl.end(context.WithoutCancel(ctx), ts.timeout)
	return nil
}

// Get reads a committed record.
func (ts *txStore) Get(ctx context.Context, key idempotency.RecordKey) (idempotency.Record, error) {
	return ts.s.Get(ctx, key)
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}
