package idempotency_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

// Made-up credentials cannot fill the store: with the default scope (the
// Authorization header) each made-up value is a caller of its own, and the
// handler's 401 releases its key instead of keeping it for the retention.
func TestForgedCallersCannotFillTheStore(t *testing.T) {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 100})
	h := newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer alice":
			w.WriteHeader(http.StatusCreated)
		case "Bearer bob":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	for i := range 1000 {
		if rec := serve(h, req{auth: fmt.Sprintf("Bearer forged-%d", i)}); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d", i, rec.Code)
		}
	}
	serve(h, req{auth: "Bearer bob"})
	if n := store.Len(); n != 0 {
		t.Fatalf("%d records kept for 401 and 403 answers, want none", n)
	}
	if rec := serve(h, req{auth: "Bearer alice"}); rec.Code != http.StatusCreated {
		t.Fatalf("legitimate caller after a flood of forged ones = %d %s", rec.Code, rec.Body)
	}
}

// A caller that uses more new keys than its budget gets 429 with
// Retry-After for each new one; its earlier requests are still answered,
// and other callers are not affected.
func TestCallerOverBudgetGets429(t *testing.T) {
	const budget = 5
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 3 * budget})
	c := &counter{}
	h := newMW(t, store, idempotency.Options{MaxRecordsPerScope: budget}).Handler(c)
	key := func(i int) []string { return []string{fmt.Sprintf("flood-key-%06d-0123456789", i)} }
	for i := range 4 * budget {
		rec := serve(h, req{auth: "Bearer mallory", keys: key(i)})
		if i < budget {
			if rec.Code != http.StatusCreated {
				t.Fatalf("request %d within the budget = %d %s", i, rec.Code, rec.Body)
			}
			continue
		}
		assertProblem(t, rec, idempotency.ErrTooManyKeys)
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s <= 0 {
			t.Fatalf("429 Retry-After = %q, want the seconds until the caller's oldest record expires", rec.Header().Get("Retry-After"))
		}
	}
	if c.runs.Load() != budget {
		t.Fatalf("handler ran %d times, want %d", c.runs.Load(), budget)
	}
	if rec := serve(h, req{auth: "Bearer mallory", keys: key(0)}); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("retry of an earlier request over the budget = %d, want its replay", rec.Code)
	}
	for i := range budget {
		if rec := serve(h, req{auth: "Bearer alice", keys: key(i)}); rec.Code != http.StatusCreated {
			t.Fatalf("another caller's request %d = %d %s", i, rec.Code, rec.Body)
		}
	}
	if store.Evictions() != 0 {
		t.Fatalf("%d records dropped", store.Evictions())
	}
}

// A negative budget means none: a single-caller service can turn it off.
func TestNegativeBudgetIsUnbounded(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{MaxRecordsPerScope: -1, MaxBytesPerScope: -1}).Handler(&counter{})
	for i := range 50 {
		if rec := serve(h, req{keys: []string{fmt.Sprintf("unbounded-%06d-0123456789", i)}}); rec.Code != http.StatusCreated {
			t.Fatalf("request %d = %d", i, rec.Code)
		}
	}
}

// The budget of bytes works as the budget of records: a caller whose kept
// responses reach MaxBytesPerScope gets 429 for new keys while its earlier
// requests still replay and other callers are not affected.
func TestCallerOverByteBudgetGets429(t *testing.T) {
	const budget = 10_000
	body := strings.Repeat("x", 4000) // each kept response holds about 4 KB
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	c := &counter{}
	h := newMW(t, store, idempotency.Options{MaxBytesPerScope: budget}).Handler(c)
	key := func(i int) []string { return []string{fmt.Sprintf("bytes-key-%06d-0123456789", i)} }
	refused := 0
	for i := range 20 {
		rec := serve(h, req{auth: "Bearer mallory", keys: key(i), body: body})
		switch rec.Code {
		case http.StatusCreated:
			if refused > 0 {
				t.Fatalf("request %d ran after an earlier one was refused", i)
			}
		default:
			assertProblem(t, rec, idempotency.ErrTooManyKeys)
			refused++
		}
	}
	// The request that crosses the budget runs (its size is unknown until
	// it has run); every new key after it is refused.
	if runs := c.runs.Load(); runs != 3 {
		t.Fatalf("handler ran %d times with 4 KB responses and a %d-byte budget, want 3", runs, budget)
	}
	if rec := serve(h, req{auth: "Bearer mallory", keys: key(0), body: body}); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("retry of an earlier request over the budget = %d, want its replay", rec.Code)
	}
	if rec := serve(h, req{auth: "Bearer alice", keys: key(0), body: body}); rec.Code != http.StatusCreated {
		t.Fatalf("another caller = %d %s", rec.Code, rec.Body)
	}
}
