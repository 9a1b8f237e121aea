// Package pgstore keeps idempotency records in PostgreSQL, in two modes.
//
// The plain mode, [Store], is an idempotency.Store like the in-memory and
// Redis stores (claims with leases and fences, one round trip per
// transition), for a service that has PostgreSQL and no Redis:
//
//	pool, _ := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if err := pgstore.Migrate(ctx, pool); err != nil { ... } // once, at startup; safe from every instance
//	store := pgstore.New(pool, pgstore.Options{})             // no I/O
//	idem := idempotency.New(store, principalOf, idempotency.Options{})
//	mux.Handle("POST /orders", idem.Handler(createOrder))
//
// The transactional mode, [TxMiddleware], closes the gap that every
// separate store leaves: with it, the claim, the handler's own writes and
// the recorded response are one transaction of the service's database,
// committed before the response is sent. A crash, a panic, a 5xx or a
// lost connection before the commit leaves neither the handler's effects
// nor a record, and the retry runs cleanly at once; after the commit, the
// retry gets the replay. No lease can expire under a handler whose
// effects are committed and no fence check is needed in its writes:
//
//	idem := pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principalOf, idempotency.Options{}) // your isolation level
//	mux.Handle("POST /orders", idem.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		tx, _ := pgstore.FromContext(r.Context()) // the request's transaction: write through it, never commit it
//		err := tx.QueryRow(r.Context(), "INSERT INTO orders ... RETURNING id", ...).Scan(&id)
//		...
//	})))
//
// The claim travels with BEGIN (one batch), so a first request costs the
// handler's own transaction plus one round trip (the record), and a
// replay is answered after one round trip.
//
// It applies to handlers whose effects are all in this database. A handler
// that also calls another service (a payment provider, a queue) still
// needs that service's own idempotency key for those calls (derive it
// from the fence: idempotency.FromContext), or Brandur Leach's recovery
// points.
//
// # Choosing a driver
//
// The package is built on pgx (github.com/jackc/pgx/v5), in a module of its
// own so that Backstop's root module requires no driver. The handler of the
// transactional mode receives a pgx.Tx, which sqlc's generated code (New
// takes a DBTX that pgx.Tx satisfies) and hand-written pgx code take as
// they are. Only pgx can begin a transaction and run the claim in one
// round trip (pgx.Batch.BeginTx), and the store's statements use pgx's
// binary protocol and statement cache. database/sql would have served
// lib/pq users too, but it gives handlers a *sql.Tx that pgx-based code
// cannot use, and it costs a round trip for BEGIN alone. [DB] and
// [BatchSender] are the small interfaces of a pgx pool that the package
// needs, so a wrapped pool fits.
//
// # Schema and clock
//
// [Schema] (the embedded file schema.sql) creates one table,
// backstop_idempotency, an index on expiry and the function
// backstop_idempotency_claim, in the first schema of the search_path.
// Records are keyed by the digests the middleware computes
// (idempotency.RecordKey): neither the client's key nor the caller's
// identity is stored. Expired rows answer nothing; [Store.Cleanup] deletes
// them in bounded batches and can run from every instance at once.
//
// Time is the database's clock (clock_timestamp()) unless Options.Now is
// set: every instance then agrees on leases and retention, as the Redis
// store uses Redis's clock. Options.Now exists for tests that must not
// wait.
//
// # Errors
//
// Errors that the database causes wrap idempotency.ErrStoreUnavailable,
// the sentinel every store wraps when its backend fails; the middleware
// answers them with the 503 problem idempotency.ErrUnavailable (fail
// closed, unless idempotency.Options.FailOpen). [ErrTxManaged] is this
// package's own sentinel: what the handler's transaction answers to
// Commit and Rollback.
package pgstore
