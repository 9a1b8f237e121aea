package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/backstop-go/backstop/client"
	"github.com/backstop-go/backstop/idempotency"
)

// A POST that meets a busy server is retried with the Idempotency-Key it
// was first sent with, after the wait the server asked for.
func Example() {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	c := client.NewClient(client.Options{}) // or &http.Client{Transport: client.New(base, opts)}
	resp, err := c.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"item":"tea"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()

	fmt.Println(resp.Status)
	fmt.Println("attempts:", len(keys), "same key:", keys[0] == keys[1] && keys[0] != "")
	// Output:
	// 201 Created
	// attempts: 2 same key: true
}

// Error turns a failure response into an error that matches the problem
// types the server declared, here those of package idempotency.
func ExampleError() {
	store, _ := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	idem, _ := idempotency.New(store, func(*http.Request) (string, error) { return "account-42", nil }, idempotency.Options{})
	srv := httptest.NewServer(idem.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	defer srv.Close()

	c := client.NewClient(client.Options{})
	order := func(body string) error {
		req, _ := http.NewRequest("POST", srv.URL+"/orders", strings.NewReader(body))
		req.Header.Set("Idempotency-Key", "order-2024-0001-tea") // the caller's own key
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return client.Error(resp)
	}

	fmt.Println("first:", order(`{"item":"tea"}`))
	err := order(`{"item":"coffee"}`) // the same key for another order
	switch {
	case errors.Is(err, idempotency.ErrKeyReused):
		fmt.Println("second: key reused for another request")
	case errors.Is(err, idempotency.ErrInFlight):
		fmt.Println("second: still running")
	case err != nil:
		fmt.Println("second:", err)
	}
	var se *client.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.Problem.Title)
	}
	// Output:
	// first: <nil>
	// second: key reused for another request
	// 422 Idempotency-Key is already used
}

// NewContext changes the rules for one request: here no Idempotency-Key,
// so the POST is sent once.
func ExampleNewContext() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("key: %q\n", r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	ctx := client.NewContext(context.Background(), client.RequestOptions{NoKey: true})
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/webhooks", strings.NewReader("{}"))
	resp, err := client.NewClient(client.Options{}).Do(req)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// key: ""
	// 503
}
