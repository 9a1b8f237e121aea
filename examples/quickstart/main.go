// Command quickstart is a small orders service on plain net/http that shows
// Backstop's defaults: every failure is an RFC 9457 problem, panics become
// a logged 500, and internal errors never reach the client.
//
//	go run ./examples/quickstart
//	curl -i localhost:8080/orders/1
//	curl -i localhost:8080/orders/404
//	curl -i -H 'Accept: application/problem+xml' localhost:8080/orders/404
package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/backstop-go/backstop/problem"
)

// ErrOrderNotFound is the problem type of a missing order.
var ErrOrderNotFound = problem.Type{
	URI:    "https://example.com/problems/order-not-found",
	Title:  "Order not found",
	Status: http.StatusNotFound,
}

type order struct {
	ID    int64  `json:"id"`
	Item  string `json:"item"`
	Count int    `json:"count"`
}

type store struct {
	mu     sync.Mutex
	orders map[int64]order
}

func newHandler() http.Handler {
	s := &store{orders: map[int64]order{1: {ID: 1, Item: "coffee", Count: 2}}}
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", problem.HandlerFunc(s.get))
	mux.Handle("GET /panic", problem.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		panic("this is logged, the client sees a plain 500")
	}))
	return problem.Recover(mux)
}

func (s *store) get(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return problem.New(http.StatusBadRequest, "The order id must be a positive integer.").
			With("parameter", "id")
	}
	s.mu.Lock()
	o, ok := s.orders[id]
	s.mu.Unlock()
	if !ok {
		return ErrOrderNotFound.New("There is no order " + strconv.FormatInt(id, 10) + ".")
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(o)
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "localhost:8080"
	}
	srv := &http.Server{Addr: addr, Handler: newHandler(), ReadHeaderTimeout: 5 * time.Second}
	slog.Info("quickstart listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("server stopped", "error", err)
		os.Exit(1)
	}
}
