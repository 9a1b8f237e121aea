package idempotency_test

// Regression tests for defects found in review. Each failed before its fix.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
)

// A "keep forever" retention used to wrap Lease+Retention around to a
// negative lifetime: the memory store expired the claim at once, and a
// retry arriving while the handler ran claimed the key and ran it again.
func TestRetentionOverflow(t *testing.T) {
	if _, err := idempotency.New(newMemory(t, nil), nil, idempotency.Options{Retention: math.MaxInt64}); err == nil {
		t.Fatal("New accepted a Lease+Retention that overflows time.Duration")
	}
	store := newMemory(t, nil)
	req := idempotency.ClaimRequest{Key: "k", Fingerprint: "fp", Lease: time.Minute, Retention: math.MaxInt64}
	if res, err := store.Claim(context.Background(), req); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("first Claim = %+v, %v", res, err)
	}
	if res, err := store.Claim(context.Background(), req); err != nil || res.Outcome != idempotency.InFlight {
		t.Fatalf("second Claim while the first holds its lease = %+v, %v; want in_flight", res.Outcome, err)
	}
}

// failingBody fails at once, whatever length the request declared.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
func (failingBody) Close() error             { return nil }

// The middleware used to allocate Content-Length bytes before reading any:
// a header alone made the server reserve up to MaxBodyBytes per request.
func TestBodyBufferFollowsArrivedBytes(t *testing.T) {
	const declared = 64 << 20
	h := newMW(t, newMemory(t, nil), idempotency.Options{MaxBodyBytes: declared}).Handler(&counter{})
	r := req{}.build()
	r.Body = failingBody{}
	r.ContentLength = declared
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec := serve2(h, r)
	runtime.ReadMemStats(&after)
	assertProblem(t, rec, idempotency.ErrBodyUnreadable)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("reading a body that sent nothing allocated %d bytes for a declared %d", got, declared)
	}
	// A large body of known length still arrives whole.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes
	var got []byte
	h = newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	r = req{body: string(big)}.build()
	if r.ContentLength != int64(len(big)) {
		t.Fatalf("ContentLength = %d", r.ContentLength)
	}
	serve2(h, r)
	if !bytes.Equal(got, big) {
		t.Fatalf("handler read %d bytes, want %d", len(got), len(big))
	}
}

func serve2(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// corruptStore answers every claim with a completed record of a status
// net/http refuses.
type corruptStore struct {
	idempotency.Store
	status int
}

func (s corruptStore) Claim(context.Context, idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	return idempotency.ClaimResult{Outcome: idempotency.Completed, Response: idempotency.Response{Status: s.status, Body: []byte("x")}}, nil
}

// A stored response with an invalid status used to reach WriteHeader,
// which panics: never panic at request time.
func TestReplayOfInvalidStatus(t *testing.T) {
	for _, status := range []int{0, 99, 101, 1000} {
		c := &counter{}
		h := newMW(t, corruptStore{Store: newMemory(t, nil), status: status}, idempotency.Options{Logger: discardLogger()}).Handler(c)
		var rec *httptest.ResponseRecorder
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("status %d: replay panicked: %v", status, v)
				}
			}()
			rec = serve(h, req{})
		}()
		assertProblem(t, rec, idempotency.ErrStoreUnavailable)
		if c.runs.Load() != 0 {
			t.Fatalf("status %d: handler ran", status)
		}
	}
}

// storetest.Storm with fewer than two requests used to hang forever: its
// handler waits for n/2 other answers.
func TestStormNeedsTwoRequests(t *testing.T) {
	if os.Getenv("IDEMPOTENCY_STORM_CHILD") == "1" {
		storetest.Storm(t, 1, newMW(t, newMemory(t, nil), idempotency.Options{}))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStormNeedsTwoRequests$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDEMPOTENCY_STORM_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatal("Storm(t, 1) hung")
	}
	if err == nil || !strings.Contains(string(out), "want at least 2") {
		t.Fatalf("Storm(t, 1) = %v; output %q", err, out)
	}
}

// The fingerprint used the decoded path, so a key reused on /files/a%2Fb
// after /files/a/b (two resources) replayed the first instead of a 422.
func TestFingerprintKeepsEscapedPath(t *testing.T) {
	c := &counter{}
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(c)
	serve(h, req{target: "/files/a/b"})
	assertProblem(t, serve(h, req{target: "/files/a%2Fb"}), idempotency.ErrKeyReused)
	if rec := serve(h, req{target: "/files/a/b"}); rec.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("retry = %d, runs %d; want a replay", rec.Code, c.runs.Load())
	}
}

// A header set under a non-canonical name (h["ETag"], which net/http sends
// as it is) used to be missing from the replay: the allow-list holds
// canonical names only.
func TestReplayNonCanonicalHeaderName(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["ETag"] = []string{`"v1"`}
		w.Header()["set-cookie"] = []string{"s=1"}
		w.WriteHeader(http.StatusCreated)
	}))
	serve(h, req{})
	rep := serve(h, req{})
	if got := rep.Header()["ETag"]; len(got) != 1 || got[0] != `"v1"` || rep.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replayed header = %v", rep.Header())
	}
	if _, ok := rep.Header()["set-cookie"]; ok {
		t.Fatalf("replayed a cookie: %v", rep.Header())
	}
}

// flakyCompleteStore fails the first Complete with a transient error, as a
// Redis connection reset or failover would.
type flakyCompleteStore struct {
	idempotency.Store
	failures atomic.Int64
}

func (s *flakyCompleteStore) Complete(ctx context.Context, key string, o idempotency.Owner, resp idempotency.Response, ret time.Duration) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return s.Store.Complete(ctx, key, o, resp, ret)
}

// One failed Complete used to leave the record pending after the handler
// had run: retries got 409 until the lease ran out, then took the record
// over and ran the request a second time. Completion is retried within
// StoreTimeout.
func TestCompleteRetriedAfterTransientError(t *testing.T) {
	store := &flakyCompleteStore{Store: newMemory(t, nil)}
	store.failures.Store(2)
	c := &counter{}
	h := newMW(t, store, idempotency.Options{Logger: discardLogger()}).Handler(c)
	if rec := serve(h, req{}); rec.Code != http.StatusCreated {
		t.Fatalf("first = %d", rec.Code)
	}
	rec := serve(h, req{})
	if rec.Code != http.StatusCreated || rec.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("retry = %d %q, runs %d; want the replay", rec.Code, rec.Body, c.runs.Load())
	}
}
