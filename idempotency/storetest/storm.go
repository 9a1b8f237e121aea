package storetest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
)

// Storm sends n concurrent identical requests with one Idempotency-Key,
// spread round-robin over the middlewares (which stand for app instances
// sharing one store), and fails t unless the handler ran exactly once and
// every response is either the handler's own, its replay, or a 409
// in-flight problem. The handler holds its claim until half the storm has
// been answered, so the in-flight path is always exercised; a final request
// checks the replay. The middlewares must use the default scope, accept
// 20-byte keys and not wait (Options.WaitTimeout zero).
func Storm(t *testing.T, n int, mws ...*idempotency.Middleware) {
	t.Helper()
	if len(mws) == 0 {
		t.Fatal("storetest.Storm: no middleware")
	}
	if n < 2 {
		// The handler holds its claim until n/2 other requests are
		// answered: with fewer than two it would wait forever.
		t.Fatalf("storetest.Storm: n = %d, want at least 2", n)
	}
	var runs atomic.Int64
	release := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		<-release // hold the claim while the storm arrives
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(append([]byte("created "), body...))
	})
	handlers := make([]http.Handler, len(mws))
	for i, m := range mws {
		handlers[i] = m.Handler(inner)
	}
	newReq := func() *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/orders?x=1", strings.NewReader("storm"))
		req.Header.Set(idempotency.HeaderKey, "storm-key-0123456789")
		req.Header.Set("Authorization", "Bearer storm")
		return req
	}
	start := make(chan struct{})
	recs := make([]*httptest.ResponseRecorder, n+1)
	var answered atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := newReq()
			rec := httptest.NewRecorder()
			<-start
			handlers[i%len(handlers)].ServeHTTP(rec, req)
			recs[i] = rec
			if answered.Add(1) >= int64(n/2) {
				once.Do(func() { close(release) })
			}
		})
	}
	close(start)
	wg.Wait()
	recs[n] = httptest.NewRecorder()
	handlers[n%len(handlers)].ServeHTTP(recs[n], newReq())
	if recs[n].Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("request after the storm = %d %q, want a replay", recs[n].Code, recs[n].Body)
	}

	if got := runs.Load(); got != 1 {
		t.Fatalf("handler ran %d times for %d identical requests, want exactly 1", got, n)
	}
	first, replays, conflicts := 0, 0, 0
	for _, rec := range recs {
		switch rec.Code {
		case http.StatusCreated:
			if !bytes.Equal(rec.Body.Bytes(), []byte("created storm")) || rec.Header().Get("Content-Type") != "text/plain" {
				t.Fatalf("201 response = %q %v", rec.Body, rec.Header())
			}
			if rec.Header().Get(idempotency.HeaderReplayed) == "true" {
				replays++
			} else {
				first++
			}
		case http.StatusConflict:
			p, err := parseProblem(rec)
			if err != nil || !errors.Is(p, idempotency.ErrInFlight) || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("409 response is not an in-flight problem with Retry-After: %v %q %v", err, rec.Body, rec.Header())
			}
			conflicts++
		default:
			t.Fatalf("unexpected response %d %q", rec.Code, rec.Body)
		}
	}
	if first != 1 {
		t.Fatalf("%d first responses, want 1 (replays %d, conflicts %d)", first, replays, conflicts)
	}
	t.Logf("storm of %d: 1 run, %d replays, %d in-flight conflicts", n, replays, conflicts)
}

func parseProblem(rec *httptest.ResponseRecorder) (*problem.Problem, error) {
	return problem.Parse(rec.Result())
}
