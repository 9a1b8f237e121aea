// Package redisstore is an idempotency.Store in Redis, for services with
// more than one instance.
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true}) // or a Cluster, Sentinel or Ring client
//	store := redisstore.New(client, redisstore.Options{Prefix: "orders-api:idem"})
//	if err := store.CheckPolicy(ctx); err != nil { ... } // maxmemory-policy noeviction
//	m := idempotency.New(store, principalOf, idempotency.Options{})
//
// The records of one caller share a hash tag, and each transition is one
// Lua script on that caller's keys that reads the time from Redis itself,
// so it works on Redis Cluster and with app instances whose clocks
// disagree. New does no I/O; every call is bounded by Options.Timeout
// (50 ms), and [Store.Ping] makes a store a readiness check. See [Store]
// for the layout, the behaviour when Redis fails, and the operational
// requirements.
//
// # Errors
//
// Errors that Redis causes wrap idempotency.ErrStoreUnavailable, the
// sentinel every store wraps when its backend fails; the middleware
// answers them with the 503 problem idempotency.ErrUnavailable.
// [ErrEvictionPolicy] is this package's own sentinel.
package redisstore
