package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/examples/internal/pgtest"
	"github.com/backstop-go/backstop/problem"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// failAfterCreate stores the order, then fails: a handler that breaks
// after its insert.
type failAfterCreate struct{ Orders }

func (f failAfterCreate) Create(ctx context.Context, o Order) (Order, error) {
	if _, err := f.Orders.Create(ctx, o); err != nil {
		return Order{}, err
	}
	return Order{}, errors.New("failing after the insert")
}

// TestPostgresOrderCommitsWithItsIdempotencyRecord: with DATABASE_URL, an
// order is written in the transaction of the idempotency middleware, so a
// request that fails after the insert leaves no order, and its retry with
// the same key creates the order once.
func TestPostgresOrderCommitsWithItsIdempotencyRecord(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"DATABASE_URL": pgtest.Database(t)}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if _, ok := a.Handlers.Orders.(PostgresOrders); !ok {
		t.Fatalf("orders in %T with DATABASE_URL, want PostgresOrders", a.Handlers.Orders)
	}
	who := &authn.Principal{Issuer: "test", Subject: "tx"}
	owner := Owner{Issuer: who.Issuer, Subject: who.Subject}
	post := func(h *Handlers, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(authn.NewContext(t.Context(), who), "POST", "/v1/orders",
			strings.NewReader(`{"item":"tea","quantity":2}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		a.Idempotency.Handler(problem.HandlerFunc(h.CreateOrder)).ServeHTTP(w, r)
		return w
	}
	count := func() int {
		t.Helper()
		orders, err := a.Handlers.Orders.List(t.Context(), owner, ListQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(orders)
	}

	key := "order-key-" + strings.Repeat("1", 16)
	failing := *a.Handlers
	failing.Orders = failAfterCreate{a.Handlers.Orders}
	if w := post(&failing, key); w.Code != http.StatusInternalServerError {
		t.Fatalf("handler failing after the insert: %d %s, want 500", w.Code, w.Body)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d orders after the request failed: the insert escaped the idempotency transaction", n)
	}

	// The failure released the key: the retry runs, once.
	if w := post(a.Handlers, key); w.Code != http.StatusCreated {
		t.Fatalf("retry: %d %s, want 201", w.Code, w.Body)
	}
	if w := post(a.Handlers, key); w.Code != http.StatusCreated || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("second retry: %d %q %s, want the replay", w.Code, w.Header().Get("Idempotent-Replayed"), w.Body)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d orders after a failure and two retries, want 1", n)
	}
}
