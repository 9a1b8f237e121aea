//go:build unix

package redisstore_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/internal/redistest"
)

// A claim sent to a paused Redis times out (503, nothing ran); Redis runs
// it once it resumes, with an owner token nobody knows. The store withdraws
// such a claim, so the client's retry runs the request instead of being
// told "in flight" until the lease runs out.
func TestClaimToPausedServerIsWithdrawn(t *testing.T) {
	srv := redistest.NewServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	hook := &scriptCalls{}
	client.AddHook(hook)
	ctx := context.Background()
	// A pooled connection, so the claim is sent at once, and the claim
	// script in the server's cache, so it is one EVALSHA that runs when
	// the server resumes.
	warm := idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "warm"}, Fingerprint: "fp", Lease: time.Hour, Retention: time.Hour}
	if _, err := redisstore.New(client, redisstore.Options{Timeout: generous}).Claim(ctx, warm); err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(client, redisstore.Options{Timeout: 100 * time.Millisecond})
	var runs atomic.Int64
	m := newMW(s, idempotency.Options{Lease: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	do := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set(idempotency.HeaderKey, "paused-claim-0123456789")
		r.Header.Set("Authorization", "Bearer a")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	hook.failed.Store(0) // the warm-up's NOSCRIPT
	resume := srv.Pause(t)
	if rec := do(); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("claim to a paused server = %d, want 503", rec.Code)
	}
	// Keep Redis paused until the store has given up on the claim and on
	// a first withdrawal: both failed (each within Timeout), and no call is
	// in progress (the withdrawal retries with backoff until Redis answers;
	// this holds between two tries).
	waitFor(t, "the store's calls to the paused server to end", func() bool {
		return hook.failed.Load() >= 2 && hook.inFlight.Load() == 0
	})
	resume()
	// The retry must run the request, within a bound far below the lease.
	deadline := time.Now().Add(10 * time.Second)
	var codes []int
	for {
		rec := do()
		codes = append(codes, rec.Code)
		if rec.Code == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retries after Redis resumed: %v; want 201 (the unanswered claim withdrawn), not 409 until the lease (1h) runs out", codes[max(0, len(codes)-5):])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if runs.Load() != 1 {
		t.Fatalf("runs = %d", runs.Load())
	}
}

// scriptCalls counts the script calls (EVALSHA, EVAL) in progress and
// those that failed.
type scriptCalls struct {
	inFlight, failed atomic.Int64
}

func (h *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "evalsha" && cmd.Name() != "eval" {
			return next(ctx, cmd)
		}
		h.inFlight.Add(1)
		err := next(ctx, cmd)
		if err != nil {
			h.failed.Add(1)
		}
		h.inFlight.Add(-1)
		return err
	}
}
func (h *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// waitFor polls cond until it holds, failing t after a bound generous for
// a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
