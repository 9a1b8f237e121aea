package redisstore_test

import (
	"context"
	"log"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
)

// Wiring the Redis store into the middleware. It needs a running Redis, so
// it is compiled but not run.
func Example() {
	ctx := context.Background()
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	store, err := redisstore.New(ctx, client, redisstore.Options{
		Prefix:               "orders-api:idem",
		RefuseEvictingPolicy: true, // refuse to start on a server that may evict records
	})
	if err != nil {
		log.Fatal(err)
	}
	principal := func(r *http.Request) (string, error) { return r.Header.Get("X-Account"), nil }
	m, err := idempotency.New(store, principal, idempotency.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /orders", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	log.Fatal(http.ListenAndServe(":8080", mux))
}
