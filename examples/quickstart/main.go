// Command quickstart is a small orders service on plain net/http that
// composes Backstop's packages with their in-memory stores:
//
//   - every failure is an RFC 9457 problem (problem), panics become a logged
//     500 and internal errors never reach the client;
//   - request bodies are decoded and validated into 4xx problems with JSON
//     Pointers (problem/validation);
//   - POST /orders needs an Idempotency-Key: a retry replays the first
//     response instead of creating a second order (idempotency);
//   - every client address may make 20 requests a second and 600 a minute,
//     announced in RateLimit headers (ratelimit);
//   - GET /orders pages with signed cursors and Link headers (pagination).
//
// Run it and try:
//
//	go run ./examples/quickstart
//	curl -i localhost:8080/orders/1
//	curl -i -H 'Accept: application/problem+xml' localhost:8080/orders/404
//	curl -i -X POST localhost:8080/orders -H 'Authorization: Bearer alice' \
//	     -H 'Idempotency-Key: 7d1a5c0e-retry-me-twice' -H 'Content-Type: application/json' \
//	     -d '{"item":"tea","count":3}'
//	curl -i 'localhost:8080/orders?limit=2'
//
// Swap the memory stores for idempotency/redisstore and ratelimit/redisstore
// to run several instances.
package main

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
	"github.com/backstop-go/backstop/ratelimit"
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

type newOrder struct {
	Item  string `json:"item" validate:"required,max=64"`
	Count int    `json:"count" validate:"min=1,max=100"`
}

// store keeps orders in memory, newest (highest id) first in listings.
type store struct {
	mu     sync.Mutex
	orders []order // ascending id
	nextID int64
}

type service struct {
	orders *store
	valid  *validation.Validator
	pager  *pagination.Paginator
}

// newHandler wires the service. cursorKey signs pagination cursors.
func newHandler(cursorKey []byte) (http.Handler, error) {
	valid, err := validation.New(validation.Options{})
	if err != nil {
		return nil, err
	}
	codec, err := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: cursorKey}}, pagination.CodecOptions{TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	byNewest := pagination.NewSort(pagination.Key{Column: "id", Desc: true, Unique: true})
	pager, err := pagination.New(codec, byNewest, pagination.Options{DefaultLimit: 10, MaxLimit: 50})
	if err != nil {
		return nil, err
	}
	// A nil scope keeps callers apart by their Authorization header; a real
	// service passes its authenticated principal instead.
	idem := idempotency.New(idempotency.NewMemoryStore(idempotency.MemoryOptions{}), nil, idempotency.Options{})
	limiter, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{
		ratelimit.PerSecond("burst", 20),
		ratelimit.PerMinute("steady", 600),
	}, ratelimit.MemoryOptions{})
	if err != nil {
		return nil, err
	}
	// Add TrustedProxies to ClientIPOptions behind a load balancer.
	limit := ratelimit.New(limiter, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})

	s := &service{orders: &store{nextID: 1}, valid: valid, pager: pager}
	s.orders.add("coffee", 2)

	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", problem.HandlerFunc(s.get))
	mux.Handle("GET /orders", problem.HandlerFunc(s.list))
	mux.Handle("POST /orders", idem.Handler(problem.HandlerFunc(s.create)))
	mux.Handle("GET /panic", problem.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		panic("this is logged, the client sees a plain 500")
	}))
	return problem.Recover(limit.Handler(mux)), nil
}

func (st *store) add(item string, count int) order {
	st.mu.Lock()
	defer st.mu.Unlock()
	o := order{ID: st.nextID, Item: item, Count: count}
	st.nextID++
	st.orders = append(st.orders, o)
	return o
}

func (s *service) get(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return problem.New(http.StatusBadRequest, "The order id must be a positive integer.").
			With("parameter", "id")
	}
	s.orders.mu.Lock()
	i, found := slices.BinarySearchFunc(s.orders.orders, id, func(o order, id int64) int { return cmp.Compare(o.ID, id) })
	var o order
	if found {
		o = s.orders.orders[i]
	}
	s.orders.mu.Unlock()
	if !found {
		return ErrOrderNotFound.New("There is no order " + strconv.FormatInt(id, 10) + ".")
	}
	return writeJSON(w, http.StatusOK, o)
}

func (s *service) create(w http.ResponseWriter, r *http.Request) error {
	var in newOrder
	if err := s.valid.Decode(r, &in); err != nil {
		return err
	}
	o := s.orders.add(in.Item, in.Count)
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	return writeJSON(w, http.StatusCreated, o)
}

// list pages through the orders, newest first. The in-memory filter below
// is what pagination.Keyset renders as SQL for a database.
func (s *service) list(w http.ResponseWriter, r *http.Request) error {
	req, err := s.pager.Parse(r)
	if err != nil {
		return err
	}
	s.orders.mu.Lock()
	all := slices.Clone(s.orders.orders)
	s.orders.mu.Unlock()

	slices.Reverse(all) // canonical order: id descending
	var rows []order
	cur, hasCursor := req.Cursor()
	for _, o := range all {
		if hasCursor {
			boundary := cur.Values[0].(int64) // Parse verified the cursor was ours
			if req.Direction() == pagination.Forward && o.ID >= boundary ||
				req.Direction() == pagination.Backward && o.ID <= boundary {
				continue
			}
		}
		rows = append(rows, o)
	}
	if req.Direction() == pagination.Backward {
		slices.Reverse(rows) // travel direction: nearest to the cursor first
	}
	rows = rows[:min(len(rows), req.FetchLimit())]

	page, err := pagination.NewPage(req, rows, func(o order) []any { return []any{o.ID} })
	if err != nil {
		return err
	}
	page.SetLinkHeader(w, r)
	return writeJSON(w, http.StatusOK, page)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // nothing written yet: becomes a logged 500 problem
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "localhost:8080"
	}
	// Cursors are signed with a key made at start-up: they stay valid until
	// the process restarts. A real service reads its key from a secret store.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		slog.Error("cannot make a cursor key", "error", err)
		os.Exit(1)
	}
	h, err := newHandler(key)
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	slog.Info("quickstart listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("server stopped", "error", err)
		os.Exit(1)
	}
}
