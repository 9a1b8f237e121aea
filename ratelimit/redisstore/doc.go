// Package redisstore is a ratelimit.Limiter on Redis: the sliding-window
// counter of ratelimit.SlidingWindow, shared by every instance of a service.
//
// Each decision is exactly one round trip: one embedded Lua script, run
// with redis.Script (EVALSHA, falling back to EVAL when the server lost its
// script cache), reads the Redis server's clock with TIME, checks every
// policy, and only if all admit the request increments every counter and
// refreshes the expiry (two of the longest windows). A subject's counters
// for all policies are one Redis key whose name carries the hash tag
// {:<key>}, so the script works on Redis Cluster; the client may be any
// redis.UniversalClient.
//
// Keys a client has exhausted are remembered locally until their retry
// time (Options.DeniedCacheSize), so a client repeating a denied request
// costs nothing in Redis.
//
// New does no network I/O; Ping checks that Redis answers, so a Limiter can
// serve as a readiness check. Every call (AllowN, Ping) is bounded by
// Options.Timeout, 50ms by default (up to a quarter more: calls share
// deadline timers), go-redis's retries and backoff included: a Redis that
// refuses connections answers within it, instead of after go-redis's dial
// retries (about 1.7s with its defaults), while a single dropped
// connection still gets go-redis's retry. Errors wrap
// ratelimit.ErrStoreUnavailable (the sentinel stores return), and the
// ratelimit middleware turns them into its configured FailurePolicy (its
// 503 answer is the problem type ratelimit.ErrUnavailable).
//
// Redis evicts nothing by count: a subject's key expires two of the longest
// windows after its last admitted request, so flooding the limiter with
// other keys cannot reset an exhausted one. A server that runs with a
// maxmemory eviction policy may evict keys under memory pressure, which
// restarts their counters: give rate limits enough memory, or a server of
// their own.
//
// Windows are aligned to the Unix epoch on the server clock, so all keys of
// a policy roll over at the same instant.
package redisstore
