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
//     allocation for a known key, a lock per key found without a shared lock.
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
// tracked, forgetting an approximately least recently used one. No background goroutine is
// started, so there is nothing to close.
//
// # Middleware
//
// Middleware.Handler limits HTTP requests by a KeyFunc, which is required:
// ClientIP (the socket peer, or behind declared trusted proxies the
// rightmost untrusted X-Forwarded-For or Forwarded address; IPv6 grouped
// by /64), Header (a request header, with a fallback key), or any function
// of the request such as the authenticated principal. A request is never
// let through because its key is missing.
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
// # Telemetry
//
// The middleware counts decisions with the OpenTelemetry metric API
// (backstop.ratelimit.decisions, attributes ratelimit.result =
// allowed|denied|error, ratelimit.policy, ratelimit.dry_run, and for errors
// ratelimit.failure_policy) and adds a "ratelimit.denied" event to the
// request's span on denial and a "ratelimit.error" event when the limiter
// fails. Keys never appear in metrics, spans or logs.
// The meter comes from Options.MeterProvider, by default the global
// provider, a no-op until an SDK is installed.
package ratelimit
