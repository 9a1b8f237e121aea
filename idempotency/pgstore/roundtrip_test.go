package pgstore_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
)

// countingConn counts the messages the client flushes to the server: each
// flush is followed by a wait for the answer, so each is a round trip.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// countingPool returns a pool of one connection whose round trips n
// counts.
func countingPool(t *testing.T, url string, n *atomic.Int64) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: n}, nil
	}
	pool, err := pgxpool.NewWithConfig(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestRoundTrips pins the round trips each mode costs, once the pool's
// connection has prepared its statements: the handler's own transaction
// (BEGIN, INSERT, COMMIT) is 3. The plain mode adds the claim and the
// record; the transactional mode sends the claim with BEGIN and adds only
// the record. A replay is one round trip in plain mode; in the
// transactional mode, BEGIN and the claim are one round trip before the
// answer, and a ROLLBACK goes out with it, which the client does not wait
// for (TestTxReplayAnsweredBeforeRollback).
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	url := ordersURL(t)
	var n atomic.Int64
	pool := countingPool(t, url, &n)
	store := pgstore.New(pool, pgstore.Options{})
	plainOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx, err := pool.Begin(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = tx.Rollback(r.Context()) }()
		if _, err := tx.Exec(r.Context(), "INSERT INTO orders (note) VALUES ('x')"); err != nil {
			t.Error(err)
		}
		if err := tx.Commit(r.Context()); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
	})
	txOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx, _ := pgstore.FromContext(r.Context())
		if _, err := tx.Exec(r.Context(), "INSERT INTO orders (note) VALUES ('x')"); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
	})
	handlers := map[string]http.Handler{
		"none":  plainOrder,
		"plain": idempotency.New(store, principal, idempotency.Options{}).Handler(plainOrder),
		"tx":    pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principal, idempotency.Options{}).Handler(txOrder),
	}
	trips := func(h http.Handler, key string) int64 {
		req := httptest.NewRequest(http.MethodPost, "/orders", nil)
		req.Header.Set(idempotency.HeaderKey, key)
		before := n.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d %s", rec.Code, rec.Body)
		}
		return n.Load() - before
	}
	for _, tt := range []struct {
		mode          string
		first, replay int64
	}{
		{"none", 3, 3},
		{"plain", 5, 1},
		{"tx", 4, 2},
	} {
		h := handlers[tt.mode]
		trips(h, strings.Repeat("w", 20)+tt.mode) // prepares the statements on the connection
		if got := trips(h, strings.Repeat("k", 20)+tt.mode); got != tt.first {
			t.Errorf("%s: a first request took %d round trips, want %d", tt.mode, got, tt.first)
		}
		if got := trips(h, strings.Repeat("k", 20)+tt.mode); got != tt.replay {
			t.Errorf("%s: a replay took %d round trips, want %d", tt.mode, got, tt.replay)
		}
	}
}
