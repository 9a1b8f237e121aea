package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/internal/redistest"
)

// exampleRedis is the server the example runs against; in your code,
// &redis.Options{Addr: "localhost:6379"} or a Cluster or Sentinel client.
func exampleRedis() *redis.Options {
	opt, err := redistest.Options()
	if err != nil {
		panic(err)
	}
	return opt
}

// Wiring the Redis store into the middleware: the second request with the
// same key is answered from Redis, without running the handler again.
func Example() {
	client := redis.NewClient(exampleRedis()) // any redis.UniversalClient
	defer client.Close()
	store, err := redisstore.New(context.Background(), client, redisstore.Options{
		Prefix: "example:" + rand.Text(),
	})
	if err != nil {
		panic(err)
	}
	principal := func(r *http.Request) (string, error) { return r.Header.Get("X-Account"), nil }
	m, err := idempotency.New(store, principal, idempotency.Options{})
	if err != nil {
		panic(err)
	}
	orders := 0
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orders++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order %d", orders)
	}))
	for range 2 {
		req := httptest.NewRequest("POST", "/orders", nil)
		req.Header.Set("X-Account", "acct-1")
		req.Header.Set(idempotency.HeaderKey, "8e0f1c2a-create-order")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Printf("%d %s replayed=%q\n", rec.Code, rec.Body, rec.Header().Get(idempotency.HeaderReplayed))
	}
	// Output:
	// 201 order 1 replayed=""
	// 201 order 1 replayed="true"
}
