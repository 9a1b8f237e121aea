package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/backstop-go/backstop/idempotency"
)

func ExampleMiddleware_Handler() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	// The scope is whoever the authentication middleware said the caller is.
	principal := func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }
	m := idempotency.New(store, principal, idempotency.Options{})
	orders := 0
	createOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orders++
		w.Header().Set("Location", fmt.Sprintf("/orders/%d", orders))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d}`, orders)
	})
	h := m.Handler(createOrder)

	send := func(key, body string) {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
		r.Header.Set("X-User", "alice")
		r.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		if w.Code >= 400 {
			b = []byte(w.Header().Get("Content-Type"))
		}
		fmt.Printf("%d location=%q replayed=%q %s\n", w.Code, w.Header().Get("Location"), w.Header().Get("Idempotent-Replayed"), b)
	}
	send(`"5b3c9a4e-1f0e-4d7b-9a55-0c1f6e2d8a10"`, `{"item":"book"}`) // runs
	send(`5b3c9a4e-1f0e-4d7b-9a55-0c1f6e2d8a10`, `{"item":"book"}`)   // a retry: replayed
	send(`5b3c9a4e-1f0e-4d7b-9a55-0c1f6e2d8a10`, `{"item":"pen"}`)    // the key reused: 422
	fmt.Println("orders created:", orders)
	// Output:
	// 201 location="/orders/1" replayed="" {"id":1}
	// 201 location="/orders/1" replayed="true" {"id":1}
	// 422 location="" replayed="" application/problem+json
	// orders created: 1
}

func ExampleNewMemoryStore() {
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 10_000})
	ctx := context.Background()
	key := idempotency.RecordKey{Scope: "scope-hash", ID: "record-hash"} // the middleware makes these
	req := idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: 30 * time.Second, Retention: 24 * time.Hour}

	first, _ := store.Claim(ctx, req)
	fmt.Println(first.Outcome, first.Owner.Fence > 0)

	second, _ := store.Claim(ctx, req)
	fmt.Println(second.Outcome)

	_ = store.Complete(ctx, key, first.Owner, idempotency.Response{Status: 201, Body: []byte("done")}, req.Retention)
	third, _ := store.Claim(ctx, req)
	fmt.Println(third.Outcome, third.Response.Status, string(third.Response.Body))
	// Output:
	// claimed true
	// in_flight
	// completed 201 done
}

func ExampleFromContext() {
	// A handler guards its own write with the fence, so that a run that
	// lost its claim cannot overwrite the run that took over.
	handler := func(w http.ResponseWriter, r *http.Request) {
		exec, ok := idempotency.FromContext(r.Context())
		if !ok {
			http.Error(w, "not an idempotent request", http.StatusBadRequest)
			return
		}
		// UPDATE orders SET ..., fence = $1 WHERE id = $2 AND fence < $1
		fmt.Println("fence", exec.Fence, "takeover", exec.Takeover)
	}
	ctx := idempotency.NewContext(context.Background(), idempotency.Execution{Fence: 3, Takeover: true})
	handler(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil).WithContext(ctx))
	// Output: fence 3 takeover true
}

func ExampleKeepAll() {
	// Stripe's behaviour: once the handler started, every response is kept
	// and replayed, 5xx included.
	store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	m := idempotency.New(store, nil, idempotency.Options{StatusPolicy: idempotency.KeepAll})
	runs := 0
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		http.Error(w, "the charge went through, the receipt did not", http.StatusInternalServerError)
	}))
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/charges", nil)
		r.Header.Set("Authorization", "Bearer alice")
		r.Header.Set(idempotency.HeaderKey, "0f8e2b1c-charge-once")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d replayed=%q\n", w.Code, w.Header().Get(idempotency.HeaderReplayed))
	}
	fmt.Println("runs:", runs)
	// Output:
	// 500 replayed=""
	// 500 replayed="true"
	// runs: 1
}
