package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/clocktest"
	"github.com/backstop-go/backstop/problem"
)

const testKey = "key-0123456789abcdef"

func newMemory(t testing.TB, clock *fakeClock) *idempotency.MemoryStore {
	t.Helper()
	o := idempotency.MemoryOptions{}
	if clock != nil {
		o.Now = clock.Now
	}
	return idempotency.NewMemoryStore(o)
}

func newMW(t testing.TB, store idempotency.Store, o idempotency.Options) *idempotency.Middleware {
	t.Helper()
	return idempotency.New(store, nil, o)
}

type req struct {
	method, target, body, auth string
	keys                       []string
}

func (q req) build() *http.Request {
	if q.method == "" {
		q.method = http.MethodPost
	}
	if q.target == "" {
		q.target = "/orders"
	}
	r := httptest.NewRequest(q.method, q.target, strings.NewReader(q.body))
	if q.auth == "" {
		q.auth = "Bearer alice"
	}
	if q.auth != "-" {
		r.Header.Set("Authorization", q.auth)
	}
	if q.keys == nil {
		q.keys = []string{testKey}
	}
	for _, k := range q.keys {
		r.Header.Add(idempotency.HeaderKey, k)
	}
	return r
}

func serve(h http.Handler, q req) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, q.build())
	return rec
}

func serve2(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// postOver sends the default request (req{}) to srv over a real
// connection and returns the response with its body read (resp.Body is a
// fresh reader over the same bytes, so problem.Parse still works).
func postOver(t *testing.T, srv *httptest.Server) (*http.Response, []byte) {
	t.Helper()
	hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", nil)
	hr.Header = req{}.build().Header
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, body
}

// counter is a handler that counts its runs and answers with what status
// returns, echoing the body.
type counter struct {
	runs   atomic.Int64
	status func(run int64) int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.runs.Add(1)
	body, _ := io.ReadAll(r.Body)
	status := http.StatusCreated
	if c.status != nil {
		status = c.status(n)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"run":` + string(rune('0'+n)) + `,"body":"` + string(body) + `"}`))
}

func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, want problem.Type) *problem.Problem {
	t.Helper()
	if rec.Code != want.Status {
		t.Fatalf("status = %d, want %d; body %q", rec.Code, want.Status, rec.Body)
	}
	p, err := problem.Parse(rec.Result())
	if err != nil {
		t.Fatalf("not a problem: %v; body %q", err, rec.Body)
	}
	if !errors.Is(p, want) {
		t.Fatalf("problem type = %q, want %q", p.Type, want.URI)
	}
	return p
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// signalStore reports claims and completions on channels.
type signalStore struct {
	idempotency.Store
	claims    chan idempotency.Outcome
	completes chan error
	extends   chan error
}

func (s *signalStore) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	res, err := s.Store.Claim(ctx, r)
	if s.claims != nil && err == nil {
		select {
		case s.claims <- res.Outcome:
		default: // a waiting request polls; never block it on a full channel
		}
	}
	return res, err
}

func (s *signalStore) Complete(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, resp idempotency.Response, ret time.Duration) error {
	err := s.Store.Complete(ctx, key, o, resp, ret)
	if s.completes != nil {
		s.completes <- err
	}
	return err
}

func (s *signalStore) Extend(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, lease time.Duration) error {
	err := s.Store.Extend(ctx, key, o, lease)
	if s.extends != nil {
		select {
		case s.extends <- err:
		default:
		}
	}
	return err
}

// failingStore fails every call while down is set.
type failingStore struct {
	idempotency.Store
	down atomic.Bool
}

var errDown = errors.New("store is down")

func (s *failingStore) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	if s.down.Load() {
		return idempotency.ClaimResult{}, errDown
	}
	return s.Store.Claim(ctx, r)
}

// recordKeyFor learns the record key the middleware uses for r by letting
// the middleware claim it on a scratch store.
func recordKeyFor(t *testing.T, r *http.Request) idempotency.RecordKey {
	t.Helper()
	spy := &keySpy{Store: newMemory(t, nil)}
	m := newMW(t, spy, idempotency.Options{})
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), r)
	return spy.key
}

type keySpy struct {
	idempotency.Store
	key idempotency.RecordKey
}

func (s *keySpy) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	s.key = r.Key
	return s.Store.Claim(ctx, r)
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

// flakyCompleteStore fails the first Complete with a transient error, as a
// Redis connection reset or failover would.
type flakyCompleteStore struct {
	idempotency.Store
	failures atomic.Int64
}

func (s *flakyCompleteStore) Complete(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, resp idempotency.Response, ret time.Duration) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return s.Store.Complete(ctx, key, o, resp, ret)
}

// failingBody fails at once, whatever length the request declared.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func (failingBody) Close() error { return nil }

// fakeClock is a clock that moves only when told to.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock { return clocktest.New() }
