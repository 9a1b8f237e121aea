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
// costs nothing in Redis. Every call is bounded by Options.Timeout (100ms
// by default, up to a quarter more: calls share deadline timers); errors wrap ratelimit.ErrStoreUnavailable, and the ratelimit
// middleware turns them into its configured FailurePolicy.
//
// Windows are aligned to the Unix epoch on the server clock, so all keys of
// a policy roll over at the same instant.
package redisstore
