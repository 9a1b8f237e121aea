package idempotency_test

// Regression tests for defects found in review. Each failed before its fix.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/problem"
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

// badOutcomeStore answers every claim with an outcome that does not exist.
type badOutcomeStore struct{ idempotency.Store }

func (badOutcomeStore) Claim(context.Context, idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	return idempotency.ClaimResult{}, nil
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
	//lint:ignore SA1008 the replay must keep the handler's spelling
	if got := rep.Header()["ETag"]; len(got) != 1 || got[0] != `"v1"` || rep.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replayed header = %v", rep.Header())
	}
	//lint:ignore SA1008 the handler's spelling is what could leak
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

// logTag marks the contexts of one test's requests, so that taggedLog keeps
// only their records, whatever else logs at the same time.
type logTag struct{}

// taggedLog is a slog.Handler that keeps the text of the records logged
// with a context carrying logTag.
type taggedLog struct {
	mu    sync.Mutex
	lines []string
}

func (h *taggedLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *taggedLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *taggedLog) WithGroup(string) slog.Handler            { return h }
func (h *taggedLog) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil || ctx.Value(logTag{}) == nil {
		return nil
	}
	var b strings.Builder
	_ = slog.NewTextHandler(&b, nil).Handle(ctx, r)
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *taggedLog) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.lines)
}

// The default ErrorHandler was problem.Write, which logs every 5xx to
// slog.Default(): each request refused during a store outage was logged
// twice, once by the middleware and once by problem.Write, and the second
// ignored Options.Logger. A failure is now logged once, to Options.Logger,
// without the key or the caller's credentials.
func TestOneLogRecordPerFailure(t *testing.T) {
	const auth = "Bearer secret-token-of-alice"
	tests := []struct {
		name    string
		store   func() idempotency.Store
		scope   idempotency.ScopeFunc
		status  int
		records int
	}{
		{"store outage", func() idempotency.Store {
			s := &failingStore{Store: newMemory(t, nil)}
			s.down.Store(true)
			return s
		}, nil, http.StatusServiceUnavailable, 1},
		{"invalid stored response", func() idempotency.Store {
			return corruptStore{Store: newMemory(t, nil), status: 0}
		}, nil, http.StatusServiceUnavailable, 1},
		{"invalid claim outcome", func() idempotency.Store {
			return badOutcomeStore{Store: newMemory(t, nil)}
		}, nil, http.StatusServiceUnavailable, 1},
		{"scope function error", func() idempotency.Store { return newMemory(t, nil) },
			func(*http.Request) (string, error) { return "", errors.New("auth backend down") }, http.StatusInternalServerError, 1},
		{"scope function client error", func() idempotency.Store { return newMemory(t, nil) },
			func(*http.Request) (string, error) { return "", problem.New(http.StatusUnauthorized, "who are you") }, http.StatusUnauthorized, 0},
		{"bad key", func() idempotency.Store { return newMemory(t, nil) }, nil, http.StatusBadRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			own, def := &taggedLog{}, &taggedLog{}
			old := slog.Default()
			slog.SetDefault(slog.New(def))
			t.Cleanup(func() { slog.SetDefault(old) })
			spy := &keySpy{Store: tc.store()}
			m, err := idempotency.New(spy, tc.scope, idempotency.Options{Logger: slog.New(own)})
			if err != nil {
				t.Fatal(err)
			}
			q := req{auth: auth}
			if tc.name == "bad key" {
				q.keys = []string{"short"}
			}
			r := q.build()
			r = r.WithContext(context.WithValue(r.Context(), logTag{}, true))
			rec := serve2(m.Handler(&counter{}), r)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tc.status, rec.Body)
			}
			if got := def.records(); len(got) != 0 {
				t.Errorf("slog.Default() got %d records, want none (Options.Logger is set): %q", len(got), got)
			}
			got := own.records()
			if len(got) != tc.records {
				t.Fatalf("Options.Logger got %d records, want %d: %q", len(got), tc.records, got)
			}
			for _, line := range got {
				for _, secret := range []string{testKey, "secret-token", spy.key} {
					if secret != "" && strings.Contains(line, secret) {
						t.Errorf("log record holds %q: %s", secret, line)
					}
				}
			}
		})
	}
}
