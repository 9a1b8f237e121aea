package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
)

// Wiring the Redis store into the middleware. New does no I/O: check the
// server at startup, then serve.
func Example() {
	// ContextTimeoutEnabled lets the store's Timeout cut off a server that
	// hangs, not only one that refuses connections.
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true}) // or a Cluster, Sentinel or Ring client
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{Prefix: "orders-api:idem"})
	if err := store.CheckPolicy(context.Background()); err != nil {
		log.Fatal(err) // an evicting maxmemory-policy could make a request run twice
	}
	principal := func(r *http.Request) (string, error) { return r.Header.Get("X-Account"), nil }
	m := idempotency.New(store, principal, idempotency.Options{})
	http.Handle("POST /orders", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// While Redis refuses connections, requests are answered at once with a
// 503 problem and Retry-After, and nothing runs (unless Options.FailOpen):
// each store call gives up within Options.Timeout (50 ms), without
// go-redis's retries. Ping makes the store a readiness check.
func Example_redisDown() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // nothing listens there
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{})

	fmt.Println("ready:", store.Ping(context.Background()) == nil)

	quiet := slog.New(slog.DiscardHandler) // the middleware logs store failures; not here
	m := idempotency.New(store, nil, idempotency.Options{Logger: quiet})
	runs := 0
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++ }))
	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set(idempotency.HeaderKey, "8e0f1c2a-create-order")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), "Retry-After:", rec.Header().Get("Retry-After"), "runs:", runs)
	// Output:
	// ready: false
	// 503 application/problem+json Retry-After: 1 runs: 0
}
