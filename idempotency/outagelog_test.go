package idempotency_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/idempotency"
)

// During a store outage every request fails the same way. The middleware
// writes at most one record a second, with the number left out, so an
// outage at 10,000 requests a second is not 10,000 ERROR records a second.
// In a synctest bubble time stands still until the test sleeps, so the
// counts are exact.
func TestStoreOutageLogIsRateLimited(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail closed", true: "fail open"}[failOpen], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &failingStore{Store: newMemory(t, nil)}
				st.down.Store(true)
				logs := &taggedLog{}
				m, err := idempotency.New(st, nil, idempotency.Options{Logger: slog.New(logs), FailOpen: failOpen})
				if err != nil {
					t.Fatal(err)
				}
				h := m.Handler(&counter{})
				want := http.StatusServiceUnavailable
				if failOpen {
					want = http.StatusCreated
				}
				send := func(n int) {
					for range n {
						r := req{}.build()
						r = r.WithContext(context.WithValue(r.Context(), logTag{}, true))
						if rec := serve2(h, r); rec.Code != want {
							t.Fatalf("status = %d, want %d", rec.Code, want)
						}
					}
				}
				send(50)
				if got := logs.records(); len(got) != 1 || !strings.Contains(got[0], "suppressed=0") {
					t.Fatalf("after 50 failures in one instant: %d records, the first %q; want 1 with suppressed=0", len(got), got[:min(1, len(got))])
				}
				time.Sleep(999 * time.Millisecond)
				send(1)
				if got := logs.records(); len(got) != 1 {
					t.Fatalf("within the second: %d records, want still 1", len(got))
				}
				time.Sleep(time.Millisecond)
				send(1)
				got := logs.records()
				if len(got) != 2 || !strings.Contains(got[1], "suppressed=50") {
					t.Fatalf("a second later: %d records %q; want 2, the second with suppressed=50", len(got), got)
				}
			})
		})
	}
}
