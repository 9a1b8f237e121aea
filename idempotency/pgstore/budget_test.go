package pgstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// serveKey sends POST /orders with key (and X-Then: then) straight to h.
func serveKey(h http.Handler, key, then string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item":"tea"}`))
	req.Header.Set(idempotency.HeaderKey, key)
	req.Header.Set("X-Note", "tea")
	if then != "" {
		req.Header.Set("X-Then", then)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantTooManyKeys fails t unless rec is the 429 ErrTooManyKeys problem.
func wantTooManyKeys(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a new key over the budget got %d %s, want 429", rec.Code, rec.Body)
	}
	p, err := problem.Parse(rec.Result())
	if err != nil || p.Type != idempotency.ErrTooManyKeys.URI {
		t.Fatalf("a new key over the budget got %v %v, want the problem %s", p, err, idempotency.ErrTooManyKeys.URI)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// TestTxBudgetCountsCompletedKeys checks the per-scope budget in the
// transactional mode: once a caller's completed records fill it, a new
// key gets 429 ErrTooManyKeys and runs nothing, while its earlier keys
// still replay.
func TestTxBudgetCountsCompletedKeys(t *testing.T) {
	t.Parallel()
	pool := newPool(t, ordersURL(t), 4)
	s := newServiceOptions(pool, pgx.TxOptions{}, idempotency.Options{MaxRecordsPerScope: 2}, nil)
	for _, k := range []string{"budget-key-one-0001", "budget-key-two-0002"} {
		if rec := serveKey(s.handler, k, ""); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", k, rec.Code, rec.Body)
		}
	}
	wantTooManyKeys(t, serveKey(s.handler, "budget-key-three-0003", ""))
	if n := count(t, pool, "orders"); n != 2 {
		t.Fatalf("%d orders, want 2: the refused request ran", n)
	}
	if rec := serveKey(s.handler, "budget-key-one-0001", ""); rec.Code != http.StatusCreated || rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("a retry over the budget: %d %s, want the replay", rec.Code, rec.Body)
	}
}

// TestTxBudgetOverrunBoundedByKeysInFlight pins the documented bound of
// the transactional mode: a claim cannot see the records of the caller's
// other transactions still open, so a caller that holds budget-1 records
// and starts k new keys at once ends with budget-1+k records, and no
// more; its next new key is refused.
func TestTxBudgetOverrunBoundedByKeysInFlight(t *testing.T) {
	t.Parallel()
	const budget, inFlight = 2, 3
	pool := newPool(t, ordersURL(t), inFlight+1)
	inserted := make(chan struct{}, inFlight)
	s := newServiceOptions(pool, pgx.TxOptions{}, idempotency.Options{MaxRecordsPerScope: budget}, func() { inserted <- struct{}{} })
	for i := range budget - 1 {
		if rec := serveKey(s.handler, fmt.Sprintf("budget-done-%04d", i), ""); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		<-inserted
	}
	var wg sync.WaitGroup
	codes := make([]int, inFlight)
	for i := range inFlight {
		wg.Go(func() { codes[i] = serveKey(s.handler, fmt.Sprintf("budget-held-%04d", i), "hold").Code })
	}
	for range inFlight {
		<-inserted // every held request has claimed its key: all passed the check at once
	}
	s.release()
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Errorf("held request %d: %d, want 201", i, c)
		}
	}
	if n := count(t, pool, "backstop_idempotency"); n != budget-1+inFlight {
		t.Fatalf("%d records, want the bound %d", n, budget-1+inFlight)
	}
	wantTooManyKeys(t, serveKey(s.handler, "budget-next-0001", ""))
	if n := count(t, pool, "orders"); n != budget-1+inFlight {
		t.Fatalf("%d orders, want %d", n, budget-1+inFlight)
	}
}
