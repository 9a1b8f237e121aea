package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
)

// The transactional mode: creating an order and recording its response
// are one transaction.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool); err != nil { // every instance may run it at once
		log.Fatal(err)
	}
	store := pgstore.New(pool, pgstore.Options{})
	go func() { // give expired records' space back
		for range time.Tick(5 * time.Minute) {
			if _, err := store.Cleanup(ctx, 0); err != nil {
				slog.Warn("idempotency cleanup", "error", err)
			}
		}
	}()

	principal := func(r *http.Request) (string, error) { return r.Header.Get("X-Account"), nil }
	idem := pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principal, idempotency.Options{})
	http.Handle("POST /orders", idem.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx, _ := pgstore.FromContext(r.Context())
		var id int64
		if err := tx.QueryRow(r.Context(), "INSERT INTO orders (item) VALUES ($1) RETURNING id", "tea").Scan(&id); err != nil {
			http.Error(w, "cannot create the order", http.StatusInternalServerError) // 5xx: everything rolls back
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated) // sent once the order and this response are committed
		_ = json.NewEncoder(w).Encode(map[string]int64{"id": id})
	})))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// While the database refuses connections, both modes answer at once with
// a 503 problem and Retry-After, and nothing runs (unless
// idempotency.Options.FailOpen). Ping makes the store a readiness check.
func Example_databaseDown() {
	pool, err := pgxpool.New(context.Background(), "postgres://app@127.0.0.1:1/app?sslmode=disable") // nothing listens there
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(pool, pgstore.Options{})
	fmt.Println("ready:", store.Ping(context.Background()) == nil)

	quiet := idempotency.Options{Logger: slog.New(slog.DiscardHandler)} // the middleware logs store failures; not here
	runs := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++ })
	for _, h := range []http.Handler{
		idempotency.New(store, nil, quiet).Handler(next),
		pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, nil, quiet).Handler(next),
	} {
		req := httptest.NewRequest(http.MethodPost, "/orders", nil)
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set(idempotency.HeaderKey, "8e0f1c2a-create-order")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"), "Retry-After:", rec.Header().Get("Retry-After"), "runs:", runs)
	}
	// Output:
	// ready: false
	// 503 application/problem+json Retry-After: 1 runs: 0
	// 503 application/problem+json Retry-After: 1 runs: 0
}
