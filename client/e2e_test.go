package client_test

// End-to-end tests: the Transport against the real idempotency middleware,
// with its in-memory store and with Redis, on servers that fail in the
// ways that make naive retries run a request twice.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/client"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/internal/redistest"
)

// fault is what the server does to the first arrival of a key.
type fault int

const (
	noFault        fault = iota
	cutBefore            // close the connection before anything runs
	unavailable          // answer 503 before anything runs
	cutAfterCommit       // run and record the request, then close the connection unanswered
	cutDuring            // close the connection while the request runs
	numFaults
)

var faultNames = [numFaults]string{"none", "cut before", "503", "cut after commit", "cut during"}

// orders is the service under test: an idempotency middleware in front of
// a handler that creates "orders" and counts how often it ran for each.
type orders struct {
	executions atomic.Int64
	mu         sync.Mutex
	runs       map[string]int   // order → executions
	faults     map[string]fault // order → fault of its first arrival
	seen       sync.Map         // idempotency key → struct{}
	handler    http.Handler
}

func newOrders(t *testing.T, store idempotency.Store, faults map[string]fault) *orders {
	t.Helper()
	o := &orders{runs: map[string]int{}, faults: faults}
	o.handler = o.inject(newIdempotency(t, store).Handler(http.HandlerFunc(o.create)))
	return o
}

// newIdempotency returns the middleware under test, with one caller.
func newIdempotency(t *testing.T, store idempotency.Store) *idempotency.Middleware {
	t.Helper()
	m := idempotency.New(store, func(*http.Request) (string, error) { return "tenant-1", nil }, idempotency.Options{})
	return m
}

func (o *orders) create(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	o.executions.Add(1)
	o.mu.Lock()
	o.runs[string(b)]++
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"order":%q}`, b)
}

// inject applies an order's fault to the first arrival of its key, outside
// the idempotency middleware, as a proxy or a network would.
func (o *orders) inject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f := noFault
		if _, again := o.seen.LoadOrStore(r.Header.Get(client.HeaderKey), struct{}{}); !again {
			o.mu.Lock()
			f = o.faults[string(body)]
			o.mu.Unlock()
		}
		switch f {
		case noFault:
			next.ServeHTTP(w, r)
		case cutBefore:
			cut(w)
		case unavailable:
			w.WriteHeader(http.StatusServiceUnavailable)
		case cutAfterCommit:
			next.ServeHTTP(httptest.NewRecorder(), r) // the response is recorded, never sent
			cut(w)
		case cutDuring:
			done := make(chan struct{})
			go func() {
				defer close(done)
				next.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
			}()
			cut(w)
			<-done
		}
	})
}

// stores returns the stores the end-to-end tests run against. Make a
// store outside the synctest bubble: redistest starts its server and
// waits for it on the real clock.
func stores(t *testing.T) map[string]func(t *testing.T) idempotency.Store {
	return map[string]func(t *testing.T) idempotency.Store{
		"memory": func(t *testing.T) idempotency.Store {
			return idempotency.NewMemoryStore(idempotency.MemoryOptions{})
		},
		"redis": func(t *testing.T) idempotency.Store {
			prefix := strings.TrimSuffix(redistest.Prefix(t), ":")
			return redisstore.New(redistest.Client(t), redisstore.Options{Prefix: prefix})
		},
	}
}

// e2eClient retries over inner without a budget, so that only the
// idempotency contract decides the outcome. Its waits are the defaults:
// the tests run in a synctest bubble.
func e2eClient(inner http.RoundTripper) *http.Client {
	return &http.Client{Transport: client.New(inner, client.Options{
		MaxAttempts: 10,
		Budget:      client.Budget{Ratio: -1},
	})}
}

// TestCutAfterCommitGetsTheReplay: the server runs and records the
// request, then the connection drops before the answer. The client's retry
// carries the same key and gets the recorded answer; the order is created
// once.
func TestCutAfterCommitGetsTheReplay(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			synctest.Test(t, func(t *testing.T) {
				defer time.Sleep(time.Minute) // the middleware's heartbeat goroutines end on their next tick
				svc := newOrders(t, store, map[string]fault{"order-1": cutAfterCommit})
				srv := newMemServer(t, svc.handler, nil)
				resp, body, err := do(t, e2eClient(srv.transport()), "POST", srv.URL+"/orders", "order-1")
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 201 || body != `{"order":"order-1"}` || resp.Header.Get(idempotency.HeaderReplayed) != "true" {
					t.Fatalf("%d %s %v, want the replayed 201", resp.StatusCode, body, resp.Header)
				}
				if n := svc.executions.Load(); n != 1 {
					t.Fatalf("the handler ran %d times, want 1", n)
				}
			})
		})
	}
}

// TestConcurrentFaultsRunEachRequestOnce sends 200 requests at once
// through one client, each meeting a random fault on its first arrival:
// every one succeeds with its own answer and the handler runs exactly 200
// times.
func TestConcurrentFaultsRunEachRequestOnce(t *testing.T) {
	const n = 200
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			synctest.Test(t, func(t *testing.T) {
				defer time.Sleep(time.Minute) // the middleware's heartbeat goroutines end on their next tick
				faults := make(map[string]fault, n)
				for i := range n {
					f := fault(rand.IntN(int(numFaults)))
					if i < int(numFaults) {
						f = fault(i) // every fault at least once
					}
					faults["order-"+strconv.Itoa(i)] = f
				}
				svc := newOrders(t, store, faults)
				srv := newMemServer(t, svc.handler, nil)
				c := e2eClient(srv.transport())

				var wg sync.WaitGroup
				errs := make(chan error, n)
				for i := range n {
					wg.Go(func() {
						order := "order-" + strconv.Itoa(i)
						req, _ := http.NewRequest("POST", srv.URL+"/orders", strings.NewReader(order))
						resp, err := c.Do(req)
						if err != nil {
							errs <- fmt.Errorf("%s (%s): %w", order, faultNames[faults[order]], err)
							return
						}
						defer resp.Body.Close()
						b, _ := io.ReadAll(resp.Body)
						if resp.StatusCode != 201 || string(b) != `{"order":"`+order+`"}` {
							errs <- fmt.Errorf("%s (%s): %d %s", order, faultNames[faults[order]], resp.StatusCode, b)
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if got := svc.executions.Load(); got != n {
					t.Errorf("the handler ran %d times, want %d", got, n)
				}
				svc.mu.Lock()
				defer svc.mu.Unlock()
				for order, runs := range svc.runs {
					if runs != 1 {
						t.Errorf("%s (%s) ran %d times", order, faultNames[faults[order]], runs)
					}
				}
			})
		})
	}
}

// TestInFlightRetriedUntilReplay: the connection drops while the handler
// still runs; the retries get the middleware's 409 in-flight problem with
// Retry-After: 1, wait that second, and get the replay once the handler
// finished. It runs on a synctest clock, the service in memory.
func TestInFlightRetriedUntilReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
		release := make(chan struct{})
		var executions atomic.Int64
		svc := newIdempotency(t, store).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			executions.Add(1)
			<-release
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "created")
		}))
		start := time.Now()
		var mu sync.Mutex
		var log []string
		inner := rtFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			first := len(log) == 0
			mu.Unlock()
			r = serverRequest(r)
			if first { // the request reaches the service, the answer never comes back
				go svc.ServeHTTP(httptest.NewRecorder(), r)
				mu.Lock()
				log = append(log, "0s: connection reset")
				mu.Unlock()
				return nil, errors.New("connection reset by peer")
			}
			rec := httptest.NewRecorder()
			svc.ServeHTTP(rec, r)
			mu.Lock()
			log = append(log, fmt.Sprintf("%v: %d", time.Since(start).Truncate(time.Second), rec.Code))
			mu.Unlock()
			return rec.Result(), nil
		})
		go func() {
			time.Sleep(1500 * time.Millisecond)
			close(release)
		}()
		tr := client.New(inner, client.Options{MaxAttempts: 5})
		req, _ := http.NewRequest("POST", "http://orders.test/orders", strings.NewReader(`{"item":"tea"}`))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 || string(b) != "created" || resp.Header.Get(idempotency.HeaderReplayed) != "true" {
			t.Fatalf("%d %q %v, want the replayed 201", resp.StatusCode, b, resp.Header)
		}
		want := []string{"0s: connection reset", "0s: 409", "1s: 409", "2s: 201"}
		if strings.Join(log, ", ") != strings.Join(want, ", ") {
			t.Fatalf("attempts %q, want %q", log, want)
		}
		if executions.Load() != 1 {
			t.Fatalf("the handler ran %d times, want 1", executions.Load())
		}
		time.Sleep(time.Minute) // the middleware's heartbeat goroutine ends on its next tick
	})
}

// serverRequest returns the request a server would see for r: its own
// copy, with the body read off the wire.
func serverRequest(r *http.Request) *http.Request {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	sr := r.Clone(context.WithoutCancel(r.Context()))
	sr.Body = io.NopCloser(bytes.NewReader(body))
	return sr
}
