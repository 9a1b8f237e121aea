// Package idempotency makes retried HTTP requests safe: a request that
// carries an Idempotency-Key runs at most once, and every retry with the
// same key gets the first response back instead of running again.
//
// It follows draft-ietf-httpapi-idempotency-key-header-07 and stays
// compatible with Stripe's behaviour and clients.
//
//	m := idempotency.New(idempotency.NewMemoryStore(idempotency.MemoryOptions{}), principalOf, idempotency.Options{})
//	mux.Handle("POST /orders", m.Handler(createOrder))
//
// # Protocol
//
// The middleware covers POST and PATCH by default (Options.Methods). The key
// comes from the Idempotency-Key header, as the draft's quoted
// structured-field string ("8e03...") or Stripe's bare form (8e03...), which
// name the same key; 16 to 255 printable ASCII characters by default. The
// answers, all RFC 9457 problems written by package problem with a stable
// type URI (see the Err variables):
//
//	400 ErrKeyMissing       no key on a covered request (unless KeyOptional)
//	400 ErrKeyInvalid       malformed, repeated or out-of-range key
//	400 ErrUnscoped         the caller cannot be identified
//	413 ErrBodyTooLarge     body over MaxBodyBytes (it is read to fingerprint it)
//	400 ErrBodyUnreadable   the body could not be read to the end
//	422 ErrKeyReused        the key was used for a different request
//	409 ErrInFlight         the first request still runs; Retry-After says when to retry
//	409 ErrNotReplayable    the first request ran but its response was not recorded
//	429 ErrTooManyKeys      the caller holds its whole budget of records; nothing ran
//	503 ErrUnavailable      the store failed or is full; nothing ran (fail closed)
//
// The first request's status, allow-listed headers ([DefaultReplayHeaders];
// never Set-Cookie or hop-by-hop headers) and body are replayed byte for
// byte, with "Idempotent-Replayed: true". Options.WaitTimeout makes an
// in-flight retry wait for the first request and replay it instead of
// answering 409.
//
// # Errors
//
// Two kinds of Err values, as in every Backstop package that has a
// store: the [problem.Type] values above are what clients receive (their
// type URI is their pkg.go.dev link), and the plain sentinels in store.go
// are what stores return. A store wraps [ErrStoreUnavailable] when its
// backend fails; the middleware answers that with [ErrUnavailable].
// Every error handed to Options.ErrorHandler is a new *problem.Problem that
// the handler may decorate.
//
// # Who shares a record
//
// Records are keyed by SHA-256 digests of the caller's scope and the
// client's key ([RecordKey]), so one caller's key can never return another
// caller's response, and neither the key nor the caller's identity is
// stored in clear or logged. Pass a [ScopeFunc] that returns the
// authenticated principal (tenant and user). Without one, the
// Authorization header is the scope ([AuthorizationScope]); a request
// without it is refused, never put into a shared bucket, unless
// Options.AllowUnscoped says there is only one caller.
//
// A request's fingerprint (method, path, canonical query and body; see
// [Fingerprint]) is stored with the record. A retry must match it; another
// request with the same key is a client bug and gets 422, including while
// the first is in flight. Method and path are in the fingerprint, not in
// the record key, so reusing a key on another endpoint is reported rather
// than silently treated as a new operation.
//
// # What is stored
//
// [DefaultStatusPolicy] keeps 2xx–4xx responses except 401, 403, 408, 409,
// 425 and 429, and releases the key on 5xx, so a retry after a transient
// failure runs again and made-up credentials leave nothing behind.
// [KeepAll] is Stripe's "store everything once the handler started". A
// handler that knows better calls [Decide]. What is recorded is what the
// handler wrote through the ResponseWriter the middleware gave it; a
// handler that wrote nothing through it (a router that renders errors
// itself after the middleware returned) releases the key, never records an
// implicit 200. A response that is streamed (Flush, text/event-stream),
// hijacked, or larger than MaxResponseBytes is sent in full but recorded as
// not replayable: the request never runs twice and a retry gets
// ErrNotReplayable, never a truncated body.
//
// # Budgets, and a full store
//
// Each caller (each scope) may hold Options.MaxRecordsPerScope records
// (10,000) and Options.MaxBytesPerScope bytes of recorded responses
// (16 MiB) at a time; a request with a new key beyond that gets 429
// ErrTooManyKeys with Retry-After, and nothing runs. Retries of the
// caller's earlier requests are still answered, and other callers are not
// affected: no caller can take the whole store. Records count until their
// retention ends, so size the budget for your busiest legitimate caller.
// A full [MemoryStore] drops its oldest completed records, shortening its
// effective retention, rather than refusing callers who did nothing
// wrong; see its documentation for the requests per second a store of a
// given size sustains for its retention.
//
// Put rate limiting and authentication in front of the middleware, in
// that order, so that floods and made-up credentials are turned away
// before they reach the store:
//
//	handler := limit.Handler(authenticate(idem.Handler(mux)))
//
// # Leases, crashes and fencing
//
// A claim holds a short lease (Options.Lease, 30 s) renewed every Lease/3 to Lease/2
// while the handler runs, separate from the retention of the response
// (Options.Retention, 24 h). If the process dies, its key becomes claimable
// once the lease runs out, not after a day. The next claim takes the record
// over with a new owner token and a greater fence; completion and release
// are compare-and-set on (token, fence), so a stalled owner that wakes up
// late cannot overwrite the new run's result. Fences also grow across
// releases (see [Owner]): the handler sees its fence through
// [FromContext] and can make its own writes conditional on it. A panicking
// handler releases its claim and the panic continues. The claim, the
// completion and the release run on context.WithoutCancel plus a timeout,
// so a client that disconnects does not strand its record.
//
// # Guarantees
//
// At most once per key and scope while the record lives, unless the store
// loses data. A crash after the handler's side effect and before the
// response is recorded leaves the record pending until its lease runs out;
// a retry then runs again, with Execution.Takeover set. So does a store
// that stays unreachable for Options.StoreTimeout after the handler
// returned (the completion is retried until then). Only a shared
// transaction between the side effect and the record, or a fence check in
// the handler's own writes, closes that gap (see Brandur Leach's
// "Implementing Stripe-like Idempotency Keys in Postgres"). Publish
// Options.Retention in your API documentation, as the draft asks.
//
// # Stores
//
// [MemoryStore] keeps records in one process: bounded, swept as it goes,
// with an injectable clock; it does not protect against retries that reach
// another replica. Package redisstore shares records between instances
// through Redis (single node, Sentinel or Cluster). Package storetest holds
// the conformance suite every [Store] passes.
//
// # Choices that differ from others
//
//   - Mismatch is 422, as the draft says, not Stripe's 400/409: 409 means
//     "retry later" here, and a changed request must not be retried.
//   - A response that cannot be replayed is a 409 without Retry-After rather
//     than a replayed 500 (faustbrian/go-idempotency): the operation did
//     happen, and a 500 would invite a retry with a new key.
//   - The store fails closed by default (Options.FailOpen to change it): an
//     outage rejects requests instead of running them twice.
package idempotency
