// Package ratelimit limits how often a subject (a client address, an API
// key, a user) may do something, in memory or, with ratelimit/redisstore,
// across every instance of a service sharing one Redis or Redis Cluster.
//
// # Limiters
//
// A Limiter checks a key against one or more policies at once ("10 per
// second and 1000 per hour") and is all-or-nothing: if any policy denies,
// no policy is charged. Requests may cost more than one unit. The Decision
// says whether the request may proceed, how much quota remains, when the
// window frees capacity, and, when denied, how long until the same request
// would succeed.
//
//   - SlidingWindow: the weighted two-window counter (Cloudflare's sliding
//     window) in memory: smooth, O(1) state per key and policy, no
//     allocation for a known key, keys sharded over independently locked
//     maps.
//   - TokenBucket: golang.org/x/time/rate buckets per key, with the same
//     interface, sharding and eviction; admits bursts up to the quota.
//   - redisstore.Limiter: the same sliding window in Redis, one round trip
//     per decision, on the Redis server's clock.
//
// The sliding window approximates the trailing window by assuming the
// previous window's requests were spread evenly. Its worst case, a burst at
// the very end of one window followed by steady traffic, admits up to twice
// the quota within one trailing window; in exchange it needs two counters,
// not a log of requests.
//
// Every in-memory limiter bounds its memory: keys idle long enough to hold
// no state are dropped lazily, and MemoryOptions.MaxKeys caps the keys
// tracked, forgetting an approximately least recently used key that has
// quota left; a key being denied is forgotten only when nothing else is
// left, so flooding the table with new keys cannot reset an exhausted one.
// No background goroutine is started, so there is nothing to close.
//
// # Middleware
//
// New builds the middleware from a Limiter and a KeyFunc, both required,
// in one expression:
//
//	m := ratelimit.New(limiter, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})
//	mux.Handle("/", m.Handler(next))
//
// The KeyFunc says who a request is limited as: ClientIP (the socket peer,
// or behind declared trusted proxies the rightmost untrusted
// X-Forwarded-For or Forwarded address; IPv6 grouped by /64), Header (a
// request header's value, only for values an identify function
// recognises, such as API keys the service issued), or any function of the
// request such as the authenticated principal. A request is never let
// through because its key is missing. Never key by a header's raw value:
// a client that makes up a new value per request gets a fresh budget each
// time.
//
// Responses carry the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers ("burst";q=100;w=60 and
// "burst";r=50;t=30), optionally the legacy X-RateLimit-* fields; denials
// are 429 with Retry-After (omitted when the request costs more than a
// policy allows, since waiting cannot help) and an RFC 9457 problem of type
// https://iana.org/assignments/http-problem-types#quota-exceeded listing the
// violated policies. If the limiter's store fails, a FailurePolicy chosen
// per middleware lets requests through (the default), answers 503, or
// falls back to a local in-memory limiter; failures are logged with slog
// (never the key), counted, and recorded on the active span. DryRun
// computes everything but never rejects.
//
// # Errors
//
// Exported errors follow one scheme across Backstop. Values of type
// problem.Type are what clients receive: ErrQuotaExceeded (429) and
// ErrUnavailable (503, the limiter's store failed under FailClosed). The
// others are sentinels that functions return, for errors.Is:
// ErrStoreUnavailable is what a Limiter wraps when its backing store fails
// or times out, ErrInvalidPolicy and ErrInvalidCost report bad input, and
// ErrMismatchedResults a NewDecision call with results that are not one
// per policy. A Limiter error of any kind is handled by the middleware's
// FailurePolicy; a negative cost from Options.Cost is answered 500.
//
// # Telemetry
//
// The middleware counts decisions with the OpenTelemetry metric API
// (backstop.ratelimit.requests, attributes backstop.ratelimit.result =
// allowed|denied|error, backstop.ratelimit.policy, backstop.ratelimit.dry_run, and for errors
// backstop.ratelimit.failure_policy, or error.type=invalid_cost for a negative cost)
// and, on the request's span, sets the attribute backstop.ratelimit.result
// (the metric's value) and adds a "backstop.ratelimit.denied" event on denial and a
// "backstop.ratelimit.error" event when the limiter fails. Keys never appear in metrics, spans or logs.
// The meter comes from Options.MeterProvider, by default the global
// provider, a no-op until an SDK is installed.
package ratelimit
