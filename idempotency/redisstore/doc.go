// Package redisstore is an idempotency.Store in Redis, for services with
// more than one instance.
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
//	store, err := redisstore.New(ctx, client, redisstore.Options{})
//	m, err := idempotency.New(store, principalOf, idempotency.Options{})
//
// Each record is one hash, prefix:{record-key}, and each transition is one
// Lua script on that key that reads the time from Redis itself, so it works
// on Redis Cluster and with app instances whose clocks disagree. See
// [Store] for the operational requirements (maxmemory-policy noeviction,
// which [New] checks).
package redisstore
