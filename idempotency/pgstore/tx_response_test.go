package pgstore_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
)

// TestTxHandlerAnswerAfterFailedStatementIsSent checks a handler that
// answers a failed statement of its transaction with a client error (a
// unique violation answered 422, as most services do): the transaction
// can record nothing, and nothing of the handler took effect, so the
// client gets the handler's 422, not a 503 that every retry with the same
// key would get again; the retry runs the handler again.
func TestTxHandlerAnswerAfterFailedStatementIsSent(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	if _, err := pool.Exec(ctxFor(t), "CREATE UNIQUE INDEX orders_note ON orders (note); INSERT INTO orders (note) VALUES ('taken')"); err != nil {
		t.Fatal(err)
	}
	store := pgstore.New(pool, pgstore.Options{})
	m := pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principal, idempotency.Options{Logger: slog.New(slog.DiscardHandler)})
	runs := 0
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		tx, _ := pgstore.FromContext(r.Context())
		_, err := tx.Exec(r.Context(), "INSERT INTO orders (note) VALUES ('taken')")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Errorf("insert = %v, want a unique violation", err)
		}
		http.Error(w, "an order with this note exists", http.StatusUnprocessableEntity)
	}))
	for i := range 2 {
		req := httptest.NewRequest(http.MethodPost, "/orders", nil)
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("request %d: %d %q, want the handler's 422", i+1, rec.Code, rec.Body)
		}
	}
	if runs != 2 || count(t, pool, "orders") != 1 || count(t, pool, "backstop_idempotency") != 0 {
		t.Fatalf("%d runs, %d orders, %d records; want 2 runs, the 1 order there was, no record",
			runs, count(t, pool, "orders"), count(t, pool, "backstop_idempotency"))
	}
}

// TestTxSuccessAfterFailedStatementIsRefused checks the other side: a
// handler that ignores a failed statement and answers 201 claims effects
// that never happened, so the client gets 503 ErrUnavailable (nothing was
// done; retry) and no record is kept.
func TestTxSuccessAfterFailedStatementIsRefused(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	if _, err := pool.Exec(ctxFor(t), "CREATE UNIQUE INDEX orders_note ON orders (note); INSERT INTO orders (note) VALUES ('taken')"); err != nil {
		t.Fatal(err)
	}
	m := pgstore.NewTxMiddleware(pgstore.New(pool, pgstore.Options{}), pool, pgx.TxOptions{}, principal,
		idempotency.Options{Logger: slog.New(slog.DiscardHandler)})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx, _ := pgstore.FromContext(r.Context())
		_, _ = tx.Exec(r.Context(), "INSERT INTO orders (note) VALUES ('taken')") // fails; ignored
		w.WriteHeader(http.StatusCreated)
	}))
	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d %q, want 503", rec.Code, rec.Body)
	}
	if n := count(t, pool, "backstop_idempotency"); n != 0 {
		t.Fatalf("%d records, want none", n)
	}
}

// TestTxHeaderSetAfterWriteHeaderIsNotSent checks that the buffered
// response follows net/http: a header set after WriteHeader is not sent,
// so the first response and its replay carry the same headers.
func TestTxHeaderSetAfterWriteHeaderIsNotSent(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	m := pgstore.NewTxMiddleware(pgstore.New(pool, pgstore.Options{}), pool, pgx.TxOptions{}, principal, idempotency.Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("Location", "/orders/1") // too late: net/http ignores it
		_, _ = w.Write([]byte("created"))
		w.Header().Set("X-Checksum", "c0ffee") // a trailer: net/http sends it
	}))
	var got [2]http.Header
	for i := range got {
		req := httptest.NewRequest(http.MethodPost, "/orders", nil)
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("request %d: %d %q", i+1, rec.Code, rec.Body)
		}
		got[i] = rec.Result().Header
		if i == 0 && rec.Result().Trailer.Get("X-Checksum") != "c0ffee" {
			t.Fatalf("trailer X-Checksum = %q, want c0ffee", rec.Result().Trailer.Get("X-Checksum"))
		}
	}
	if got[1].Get(idempotency.HeaderReplayed) != "true" {
		t.Fatal("the retry was not a replay")
	}
	if a, b := got[0].Get("Location"), got[1].Get("Location"); a != b || a != "" {
		t.Fatalf("Location: first response %q, replay %q; want neither (it was set after WriteHeader)", a, b)
	}
}
