package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/idempotency"
)

// extendCounter counts the calls of Extend and the successful ones.
type extendCounter struct {
	idempotency.Store
	calls, renewed atomic.Int64
}

func (s *extendCounter) Extend(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, lease time.Duration) error {
	s.calls.Add(1)
	err := s.Store.Extend(ctx, key, o, lease)
	if err == nil {
		s.renewed.Add(1)
	}
	return err
}

// The tests below run in a synctest bubble: the memory store, the
// heartbeat and the handler all use the bubble's fake clock, so a handler
// can run for many leases without the test waiting, and "nothing happens
// afterwards" is checked once every goroutine is idle (synctest.Wait), not
// by sleeping and hoping.

// A handler that runs ten leases long keeps its claim: the heartbeat renews
// it at least every Lease/2, a retry in the middle is told the request is
// in flight (no takeover), and once the handler returns the heartbeat stops
// for good.
func TestHeartbeatRenewsUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 30 * time.Second
		store := &extendCounter{Store: newMemory(t, nil)}
		var runs atomic.Int64
		h := newMW(t, store, idempotency.Options{Lease: lease}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs.Add(1)
			time.Sleep(10 * lease)
			w.WriteHeader(http.StatusCreated)
		}))
		done := make(chan int)
		go func() { done <- serve(h, req{}).Code }()
		time.Sleep(5 * lease)
		assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
		if code := <-done; code != http.StatusCreated {
			t.Fatalf("first = %d", code)
		}
		if renewed := store.renewed.Load(); renewed < 20 {
			t.Fatalf("%d renewals over 10 leases, want at least 20 (one per Lease/2)", renewed)
		}
		calls := store.calls.Load()
		time.Sleep(10 * lease)
		synctest.Wait()
		if n := store.calls.Load(); n != calls {
			t.Fatalf("%d calls of Extend after the handler returned, want none", n-calls)
		}
		if rec := serve(h, req{}); rec.Header().Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
			t.Fatalf("retry = %d, runs %d; want the replay", rec.Code, runs.Load())
		}
	})
}

// A client that goes away while its handler still works must not strand
// or lose the claim: the heartbeat, the completion and the release run on
// a context detached from the request. The memory store refuses calls on a
// canceled context, so any of them made on the request's context fails
// here.
func TestClientGoneMidHandler(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		wantRerun bool // the retry runs again (5xx released) or replays
	}{
		{"completed", http.StatusCreated, false},
		{"released", http.StatusBadGateway, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const lease = 30 * time.Second
				store := &extendCounter{Store: newMemory(t, nil)}
				var runs atomic.Int64
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				h := newMW(t, store, idempotency.Options{Lease: lease}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if runs.Add(1) == 1 {
						cancel() // the client hangs up; the work goes on
						time.Sleep(5 * lease)
					}
					w.WriteHeader(tc.status)
				}))
				done := make(chan struct{})
				go func() {
					defer close(done)
					serve2(h, req{}.build().WithContext(ctx))
				}()
				time.Sleep(3 * lease)
				assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
				<-done
				if store.renewed.Load() == 0 {
					t.Fatal("the claim was never renewed after the client left")
				}
				rec := serve(h, req{})
				if tc.wantRerun {
					if runs.Load() != 2 || rec.Code != tc.status || rec.Header().Get(idempotency.HeaderReplayed) != "" {
						t.Fatalf("retry after a released %d = %d, runs %d; want a second run", tc.status, rec.Code, runs.Load())
					}
				} else if runs.Load() != 1 || rec.Code != tc.status || rec.Header().Get(idempotency.HeaderReplayed) != "true" {
					t.Fatalf("retry = %d, runs %d; want the replay of %d", rec.Code, runs.Load(), tc.status)
				}
				// The heartbeat loop ends on its first tick with no claim
				// left; the bubble must not end before it.
				time.Sleep(lease)
			})
		})
	}
}

// concurrencyStore records how many Extend calls run at once.
type concurrencyStore struct {
	idempotency.Store
	now, most, calls atomic.Int64
}

func (s *concurrencyStore) Extend(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, lease time.Duration) error {
	n := s.now.Add(1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	time.Sleep(time.Millisecond) // a round trip
	s.now.Add(-1)
	s.calls.Add(1)
	return s.Store.Extend(ctx, key, o, lease)
}

// The leases of many running claims are renewed in one batch, one after
// the other: no goroutine per renewal, however many claims are due.
func TestHeartbeatRenewsInOneBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease, handlers = 30 * time.Second, 50
		store := &concurrencyStore{Store: newMemory(t, nil)}
		h := newMW(t, store, idempotency.Options{Lease: lease}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * lease)
			w.WriteHeader(http.StatusCreated)
		}))
		var wg sync.WaitGroup
		for i := range handlers {
			wg.Go(func() {
				if code := serve(h, req{keys: []string{fmt.Sprintf("batch-key-%04d-0123456789", i)}}).Code; code != http.StatusCreated {
					t.Errorf("request %d = %d", i, code)
				}
			})
		}
		wg.Wait()
		if calls := store.calls.Load(); calls < 3*handlers {
			t.Fatalf("%d renewals of %d claims over two leases, want at least %d", calls, handlers, 3*handlers)
		}
		if most := store.most.Load(); most != 1 {
			t.Fatalf("up to %d renewals ran at once, want them one after the other", most)
		}
		time.Sleep(lease) // let the heartbeat loop see there is nothing left
	})
}
