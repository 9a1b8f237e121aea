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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/problem"
)

const testKey = "key-0123456789abcdef"

func newMemory(t testing.TB, clock *fakeClock) *idempotency.MemoryStore {
	t.Helper()
	o := idempotency.MemoryOptions{}
	if clock != nil {
		o.Now = clock.Now
	}
	s, err := idempotency.NewMemoryStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMW(t testing.TB, store idempotency.Store, o idempotency.Options) *idempotency.Middleware {
	t.Helper()
	m, err := idempotency.New(store, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
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

func TestReplayFidelity(t *testing.T) {
	var runs atomic.Int64
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		h := w.Header()
		h.Set("Content-Type", "application/vnd.api+json")
		h.Set("Location", "/orders/42")
		h.Set("ETag", `"v1"`)
		h.Add("Link", "</a>; rel=a")
		h.Add("Link", "</b>; rel=b")
		h.Set("Set-Cookie", "session=secret")
		h.Set("X-Request-Id", "r1")
		h.Set("Cache-Control", "private")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("part1,"))
		_, _ = w.Write([]byte("\x00part2"))
	}))
	first := serve(h, req{body: "b"})
	if first.Code != http.StatusCreated || first.Header().Get(idempotency.HeaderReplayed) != "" {
		t.Fatalf("first = %d %v", first.Code, first.Header())
	}
	for i := 0; i < 2; i++ {
		rep := serve(h, req{body: "b"})
		if rep.Code != http.StatusCreated || rep.Body.String() != "part1,\x00part2" {
			t.Fatalf("replay = %d %q", rep.Code, rep.Body)
		}
		want := http.Header{
			"Content-Type":             {"application/vnd.api+json"},
			"Location":                 {"/orders/42"},
			"Etag":                     {`"v1"`},
			"Link":                     {"</a>; rel=a", "</b>; rel=b"},
			"Cache-Control":            {"private"},
			idempotency.HeaderReplayed: {"true"},
		}
		for k, v := range want {
			if got := rep.Header()[k]; strings.Join(got, "|") != strings.Join(v, "|") {
				t.Errorf("replayed %s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"Set-Cookie", "X-Request-Id"} {
			if v := rep.Header().Get(k); v != "" {
				t.Errorf("replayed %s = %q, want it absent", k, v)
			}
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

func TestKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		opts idempotency.Options
		q    req
		want problem.Type
	}{
		{"missing", idempotency.Options{}, req{keys: []string{}}, idempotency.ErrKeyMissing},
		{"empty", idempotency.Options{}, req{keys: []string{""}}, idempotency.ErrKeyMissing},
		{"too short", idempotency.Options{}, req{keys: []string{"short"}}, idempotency.ErrKeyInvalid},
		{"too long", idempotency.Options{MaxKeyLength: 20}, req{keys: []string{strings.Repeat("k", 21)}}, idempotency.ErrKeyInvalid},
		{"two lines", idempotency.Options{}, req{keys: []string{testKey, testKey}}, idempotency.ErrKeyInvalid},
		{"list", idempotency.Options{}, req{keys: []string{`"` + testKey + `", "` + testKey + `"`}}, idempotency.ErrKeyInvalid},
		{"non-ascii", idempotency.Options{}, req{keys: []string{testKey + "é"}}, idempotency.ErrKeyInvalid},
		{"bad escape", idempotency.Options{}, req{keys: []string{`"` + testKey + `\n"`}}, idempotency.ErrKeyInvalid},
		{"unscoped", idempotency.Options{}, req{auth: "-"}, idempotency.ErrUnscoped},
		{"body too large", idempotency.Options{MaxBodyBytes: 4}, req{body: "12345"}, idempotency.ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{}
			h := newMW(t, newMemory(t, nil), tc.opts).Handler(c)
			assertProblem(t, serve(h, tc.q), tc.want)
			if c.runs.Load() != 0 {
				t.Fatal("handler ran")
			}
		})
	}
}

func TestPassThrough(t *testing.T) {
	tests := []struct {
		name string
		opts idempotency.Options
		q    req
	}{
		{"GET", idempotency.Options{}, req{method: http.MethodGet, keys: []string{}}},
		{"PUT not covered by default", idempotency.Options{}, req{method: http.MethodPut, keys: []string{}}},
		{"key optional", idempotency.Options{KeyOptional: true}, req{keys: []string{}}},
		{"unscoped allowed", idempotency.Options{AllowUnscoped: true}, req{auth: "-"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{}
			h := newMW(t, newMemory(t, nil), tc.opts).Handler(c)
			if rec := serve(h, tc.q); rec.Code != http.StatusCreated {
				t.Fatalf("status %d %q", rec.Code, rec.Body)
			}
		})
	}
}

func TestKeyForms(t *testing.T) {
	// The draft's quoted form and Stripe's bare form name the same record.
	c := &counter{}
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(c)
	serve(h, req{keys: []string{testKey}})
	rep := serve(h, req{keys: []string{`"` + testKey + `";v=1`}})
	if rep.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("quoted form did not replay the bare form: %d %v", rep.Code, rep.Header())
	}
}

func TestMismatch(t *testing.T) {
	tests := []struct {
		name   string
		second req
		want   bool // true: replay
	}{
		{"same request", req{target: "/orders?a=1&b=2", body: "x"}, true},
		{"query order", req{target: "/orders?b=2&a=1", body: "x"}, true},
		{"other body", req{target: "/orders?a=1&b=2", body: "y"}, false},
		{"other query", req{target: "/orders?a=1&b=3", body: "x"}, false},
		{"dry run added", req{target: "/orders?a=1&b=2&dry=1", body: "x"}, false},
		{"other path", req{target: "/payments?a=1&b=2", body: "x"}, false},
		{"other method", req{method: http.MethodPatch, target: "/orders?a=1&b=2", body: "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{}
			h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(c)
			serve(h, req{target: "/orders?a=1&b=2", body: "x"})
			rec := serve(h, tc.second)
			if tc.want {
				if rec.Header().Get(idempotency.HeaderReplayed) != "true" {
					t.Fatalf("want a replay, got %d %q", rec.Code, rec.Body)
				}
			} else {
				assertProblem(t, rec, idempotency.ErrKeyReused)
			}
			if c.runs.Load() != 1 {
				t.Fatalf("handler ran %d times", c.runs.Load())
			}
		})
	}
}

func TestScopeIsolation(t *testing.T) {
	c := &counter{}
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(c)
	a := serve(h, req{auth: "Bearer alice", body: "a"})
	b := serve(h, req{auth: "Bearer bob", body: "a"})
	if c.runs.Load() != 2 || a.Body.String() == b.Body.String() {
		t.Fatalf("two callers with one key shared a record: runs %d, %q vs %q", c.runs.Load(), a.Body, b.Body)
	}
	// Another caller's key is not even visible as a mismatch.
	if rec := serve(h, req{auth: "Bearer carol", body: "other"}); rec.Code != http.StatusCreated {
		t.Fatalf("third caller = %d", rec.Code)
	}
	// A custom scope function.
	c2 := &counter{}
	m, err := idempotency.New(newMemory(t, nil), func(r *http.Request) (string, error) {
		if r.Header.Get("X-Tenant") == "" {
			return "", problem.New(http.StatusUnauthorized, "no tenant")
		}
		return r.Header.Get("X-Tenant"), nil
	}, idempotency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h2 := m.Handler(c2)
	r1 := req{}.build()
	r1.Header.Set("X-Tenant", "t1")
	h2.ServeHTTP(httptest.NewRecorder(), r1)
	r2 := req{}.build()
	r2.Header.Set("X-Tenant", "t2")
	h2.ServeHTTP(httptest.NewRecorder(), r2)
	if c2.runs.Load() != 2 {
		t.Fatalf("tenants shared a record")
	}
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, req{}.build())
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("scope error = %d, want the scope function's 401", rec.Code)
	}
}

func TestStatusPolicy(t *testing.T) {
	tests := []struct {
		name      string
		policy    idempotency.StatusPolicy
		first     int
		wantRerun bool
	}{
		{"2xx kept", nil, 200, false},
		{"3xx kept", nil, 303, false},
		{"400 kept", nil, 400, false},
		{"404 kept", nil, 404, false},
		{"408 released", nil, 408, true},
		{"409 released", nil, 409, true},
		{"425 released", nil, 425, true},
		{"429 released", nil, 429, true},
		{"500 released", nil, 500, true},
		{"503 released", nil, 503, true},
		{"500 kept with KeepAll", idempotency.KeepAll, 500, false},
		{"429 kept with KeepAll", idempotency.KeepAll, 429, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{status: func(n int64) int {
				if n == 1 {
					return tc.first
				}
				return http.StatusCreated
			}}
			h := newMW(t, newMemory(t, nil), idempotency.Options{StatusPolicy: tc.policy}).Handler(c)
			if rec := serve(h, req{}); rec.Code != tc.first {
				t.Fatalf("first = %d", rec.Code)
			}
			second := serve(h, req{})
			third := serve(h, req{})
			if tc.wantRerun {
				if c.runs.Load() != 2 || second.Code != http.StatusCreated || third.Header().Get(idempotency.HeaderReplayed) != "true" || third.Code != http.StatusCreated {
					t.Fatalf("want a rerun after %d: runs %d, second %d, third %d", tc.first, c.runs.Load(), second.Code, third.Code)
				}
			} else if c.runs.Load() != 1 || second.Code != tc.first || second.Header().Get(idempotency.HeaderReplayed) != "true" {
				t.Fatalf("want a replay of %d: runs %d, second %d", tc.first, c.runs.Load(), second.Code)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	var runs atomic.Int64
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		if !idempotency.Decide(r.Context(), idempotency.KeepResponse) {
			t.Error("Decide reported an unclaimed request")
		}
		http.Error(w, "charged, but the receipt failed", http.StatusInternalServerError)
	}))
	serve(h, req{})
	if rec := serve(h, req{}); rec.Code != 500 || rec.Header().Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
		t.Fatalf("Decide(KeepResponse) on a 500: second %d, runs %d", rec.Code, runs.Load())
	}
	if idempotency.Decide(context.Background(), idempotency.ReleaseKey) {
		t.Fatal("Decide on a plain context reported true")
	}
}

func TestPanicReleases(t *testing.T) {
	store := newMemory(t, nil)
	var runs atomic.Int64
	h := newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		w.WriteHeader(http.StatusCreated)
	}))
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want the handler's panic to continue", v)
			}
		}()
		serve(h, req{})
	}()
	if n := store.Len(); n != 0 {
		t.Fatalf("store holds %d records after the panic, want the claim released", n)
	}
	if rec := serve(h, req{}); rec.Code != http.StatusCreated || runs.Load() != 2 {
		t.Fatalf("retry after panic = %d, runs %d", rec.Code, runs.Load())
	}
}

func TestInFlight(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	c := &counter{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		c.ServeHTTP(w, r)
	})
	store := newMemory(t, nil)
	h := newMW(t, store, idempotency.Options{RetryAfter: 1500 * time.Millisecond}).Handler(inner)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(h, req{}) }()
	<-started
	rec := serve(h, req{})
	assertProblem(t, rec, idempotency.ErrInFlight)
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After = %q, want 2 (1.5 s rounded up)", got)
	}
	// A different request with the same key is a misuse even in flight.
	assertProblem(t, serve(h, req{body: "other"}), idempotency.ErrKeyReused)
	close(finish)
	if first := <-done; first.Code != http.StatusCreated {
		t.Fatalf("first = %d", first.Code)
	}
}

func TestWaitThenReplay(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		close(started)
		<-finish
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("done"))
	})
	store := &signalStore{Store: newMemory(t, nil), claims: make(chan idempotency.Outcome, 100)}
	h := newMW(t, store, idempotency.Options{WaitTimeout: time.Minute}).Handler(inner)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve(h, req{}) }()
	<-started
	<-store.claims // the first claim
	second := make(chan *httptest.ResponseRecorder)
	go func() { second <- serve(h, req{}) }()
	if o := <-store.claims; o != idempotency.InFlight {
		t.Fatalf("second claim = %v", o)
	}
	close(finish)
	<-first
	rec := <-second
	if rec.Code != http.StatusAccepted || rec.Body.String() != "done" || rec.Header().Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
		t.Fatalf("waiting request = %d %q %v, runs %d; want the replay", rec.Code, rec.Body, rec.Header(), runs.Load())
	}
}

func TestWaitTimesOut(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	h := newMW(t, newMemory(t, nil), idempotency.Options{WaitTimeout: 20 * time.Millisecond}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
	}))
	go serve(h, req{})
	<-started
	defer close(finish)
	assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
}

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

func (s *signalStore) Complete(ctx context.Context, key string, o idempotency.Owner, resp idempotency.Response, ret time.Duration) error {
	err := s.Store.Complete(ctx, key, o, resp, ret)
	if s.completes != nil {
		s.completes <- err
	}
	return err
}

func (s *signalStore) Extend(ctx context.Context, key string, o idempotency.Owner, lease time.Duration) error {
	err := s.Store.Extend(ctx, key, o, lease)
	if s.extends != nil {
		select {
		case s.extends <- err:
		default:
		}
	}
	return err
}

func TestClientDisconnect(t *testing.T) {
	store := &signalStore{Store: newMemory(t, nil), completes: make(chan error, 1)}
	started := make(chan struct{})
	var runs atomic.Int64
	srv := httptest.NewServer(newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		close(started)
		<-r.Context().Done() // the client went away; finish the work anyway
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("saved"))
	})))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	r := req{}.build()
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/orders", nil)
	hr.Header = r.Header
	errc := make(chan error)
	go func() {
		resp, err := srv.Client().Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("client request succeeded; want it canceled")
	}
	if err := <-store.completes; err != nil {
		t.Fatalf("Complete after the client left: %v", err)
	}
	resp, body := postOver(t, srv)
	if resp.StatusCode != http.StatusCreated || string(body) != "saved" || resp.Header.Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
		t.Fatalf("retry = %d %q, runs %d; want the replay of the finished work", resp.StatusCode, body, runs.Load())
	}
}

func TestBodyRestored(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	var got string
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	}))
	r := req{body: big}.build()
	r.ContentLength = -1 // unknown length: read until EOF
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != big {
		t.Fatalf("handler read %d bytes, want %d", len(got), len(big))
	}
	// A body cut by an outer http.MaxBytesReader is a 413 too.
	h2 := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	rec := httptest.NewRecorder()
	r = req{body: big}.build()
	r.ContentLength = -1
	r.Body = http.MaxBytesReader(rec, r.Body, 10)
	h2.ServeHTTP(rec, r)
	assertProblem(t, rec, idempotency.ErrBodyTooLarge)
}

func TestNotReplayable(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  string
	}{
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), 64))
			_, _ = w.Write(bytes.Repeat([]byte("y"), 64))
		}, "too_large"},
		{"flushed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("b"))
		}, "streamed"},
		{"response controller flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("a"))
			_ = http.NewResponseController(w).Flush()
		}, "streamed"},
		{"event stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			_, _ = w.Write([]byte("data: 1\n\n"))
		}, "streamed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int64
			h := newMW(t, newMemory(t, nil), idempotency.Options{MaxResponseBytes: 100}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				tc.handler(w, r)
			}))
			first := serve(h, req{})
			if first.Code != http.StatusOK || first.Body.Len() == 0 {
				t.Fatalf("first = %d %q; want the full response", first.Code, first.Body)
			}
			p := assertProblem(t, serve(h, req{}), idempotency.ErrNotReplayable)
			if p.Extensions["reason"] != tc.reason || runs.Load() != 1 {
				t.Fatalf("reason = %v, runs %d; want %s, 1", p.Extensions["reason"], runs.Load(), tc.reason)
			}
		})
	}
}

func TestHijackNotReplayable(t *testing.T) {
	var runs atomic.Int64
	srv := httptest.NewServer(newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = brw.Flush()
		conn.Close()
	})))
	defer srv.Close()
	do := func() *http.Response {
		resp, _ := postOver(t, srv)
		return resp
	}
	if resp := do(); resp.StatusCode != 200 {
		t.Fatalf("first = %d", resp.StatusCode)
	}
	// The client has the hijacked response as soon as the handler closes the
	// connection, which is before the middleware has recorded the outcome; a
	// retry in that window is correctly told the request is in flight.
	var (
		resp *http.Response
		p    *problem.Problem
		err  error
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		resp = do()
		p, err = problem.Parse(resp)
		if err != nil || !errors.Is(p, idempotency.ErrInFlight) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !errors.Is(p, idempotency.ErrNotReplayable) || p.Extensions["reason"] != "hijacked" || runs.Load() != 1 {
		t.Fatalf("retry after hijack = %d %v %v, runs %d", resp.StatusCode, p, err, runs.Load())
	}
}

func TestImplicitStatus(t *testing.T) {
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/x")
	}))
	serve(h, req{})
	rec := serve(h, req{})
	if rec.Code != http.StatusOK || rec.Header().Get("Location") != "/x" || rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replay of an empty 200 = %d %v", rec.Code, rec.Header())
	}
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

func TestStoreFailure(t *testing.T) {
	store := &failingStore{Store: newMemory(t, nil)}
	store.down.Store(true)
	c := &counter{}
	closed := newMW(t, store, idempotency.Options{RetryAfter: 3 * time.Second, Logger: discardLogger()}).Handler(c)
	rec := serve(closed, req{})
	p := assertProblem(t, rec, idempotency.ErrStoreUnavailable)
	if rec.Header().Get("Retry-After") != "3" || c.runs.Load() != 0 || strings.Contains(rec.Body.String(), errDown.Error()) {
		t.Fatalf("fail closed: Retry-After %q, runs %d, body %q", rec.Header().Get("Retry-After"), c.runs.Load(), rec.Body)
	}
	if !errors.Is(p, idempotency.ErrStoreUnavailable) {
		t.Fatal(p)
	}
	open := newMW(t, store, idempotency.Options{FailOpen: true, Logger: discardLogger()}).Handler(c)
	if rec := serve(open, req{}); rec.Code != http.StatusCreated || c.runs.Load() != 1 {
		t.Fatalf("fail open = %d, runs %d", rec.Code, c.runs.Load())
	}
	store.down.Store(false)
	if rec := serve(closed, req{}); rec.Code != http.StatusCreated || c.runs.Load() != 2 {
		t.Fatalf("after recovery = %d", rec.Code)
	}
}

func TestStoreFullIs503(t *testing.T) {
	s, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := newMW(t, s, idempotency.Options{}).Handler(&counter{})
	serve(h, req{})
	assertProblem(t, serve(h, req{keys: []string{"another-key-0123456789"}}), idempotency.ErrStoreUnavailable)
}

func TestHeartbeatKeepsClaim(t *testing.T) {
	mem := newMemory(t, nil)
	store := &signalStore{Store: mem, extends: make(chan error)}
	finish := make(chan struct{})
	h := newMW(t, store, idempotency.Options{Lease: 30 * time.Millisecond}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-finish
		w.WriteHeader(http.StatusCreated)
	}))
	done := make(chan int)
	go func() { done <- serve(h, req{}).Code }()
	// Whatever the scheduling, three successful renewals mean the claim
	// was renewed well past its first 30 ms lease.
	for i := 0; i < 3; i++ {
		if err := <-store.extends; err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	close(finish)
	if code := <-done; code != http.StatusCreated {
		t.Fatalf("status %d", code)
	}
	rec := serve(h, req{})
	if rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("not completed: %d", rec.Code)
	}
	// That the heartbeat stops once the handler returns is checked on a
	// fake clock by TestHeartbeatRenewsUntilDone.
}

func TestCrashedHolderTakeover(t *testing.T) {
	clock := newFakeClock()
	store := newMemory(t, clock)
	m := newMW(t, store, idempotency.Options{Lease: time.Second})
	var exec idempotency.Execution
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exec, _ = idempotency.FromContext(r.Context())
		w.WriteHeader(http.StatusCreated)
	}))
	// Another instance claimed the key, then died without a heartbeat.
	first := req{}.build()
	fp, _ := idempotency.Fingerprint(first, nil)
	crashed := newMW(t, store, idempotency.Options{Lease: time.Second})
	_ = crashed
	// Claim through the middleware of the crashed instance: a handler that
	// never returns stands for the crash, so claim directly instead.
	key := recordKeyFor(t, store, first)
	res, err := store.Claim(context.Background(), idempotency.ClaimRequest{Key: key, Fingerprint: fp, Lease: time.Second, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Claimed {
		t.Fatal(res, err)
	}
	assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
	clock.Advance(time.Second + time.Millisecond)
	if rec := serve(h, req{}); rec.Code != http.StatusCreated {
		t.Fatalf("after the lease = %d %q", rec.Code, rec.Body)
	}
	if !exec.Takeover || exec.Fence != 2 {
		t.Fatalf("Execution = %+v, want a takeover with fence 2", exec)
	}
	if err := store.Complete(context.Background(), key, res.Owner, idempotency.Response{Status: 500}, time.Hour); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("late completion by the crashed holder = %v, want ErrNotOwner", err)
	}
}

// recordKeyFor learns the record key the middleware uses for r by letting
// the middleware claim it on a scratch store.
func recordKeyFor(t *testing.T, _ idempotency.Store, r *http.Request) string {
	t.Helper()
	spy := &keySpy{Store: newMemory(t, nil)}
	m := newMW(t, spy, idempotency.Options{})
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), r)
	return spy.key
}

type keySpy struct {
	idempotency.Store
	key string
}

func (s *keySpy) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	s.key = r.Key
	return s.Store.Claim(ctx, r)
}

func TestRetentionExpiry(t *testing.T) {
	clock := newFakeClock()
	c := &counter{}
	h := newMW(t, newMemory(t, clock), idempotency.Options{Retention: time.Hour}).Handler(c)
	serve(h, req{})
	clock.Advance(59 * time.Minute)
	serve(h, req{})
	if c.runs.Load() != 1 {
		t.Fatal("ran again within retention")
	}
	clock.Advance(2 * time.Minute)
	if rec := serve(h, req{}); rec.Header().Get(idempotency.HeaderReplayed) != "" || c.runs.Load() != 2 {
		t.Fatalf("after retention: runs %d", c.runs.Load())
	}
}

func TestRecordKeyHidesKeyAndScope(t *testing.T) {
	spy := &keySpy{Store: newMemory(t, nil)}
	newMW(t, spy, idempotency.Options{}).Handler(&counter{}).ServeHTTP(httptest.NewRecorder(), req{auth: "Bearer secret-token"}.build())
	if len(spy.key) != 64 || strings.Contains(spy.key, testKey) || strings.Contains(spy.key, "secret") {
		t.Fatalf("record key %q is not an opaque hash", spy.key)
	}
}

func TestStorm(t *testing.T) {
	store := newMemory(t, nil)
	storetest.Storm(t, 200, newMW(t, store, idempotency.Options{}), newMW(t, store, idempotency.Options{}))
}

func TestNewValidates(t *testing.T) {
	store := newMemory(t, nil)
	tests := []struct {
		name string
		s    idempotency.Store
		o    idempotency.Options
	}{
		{"nil store", nil, idempotency.Options{}},
		{"safe method", store, idempotency.Options{Methods: []string{http.MethodGet}}},
		{"Set-Cookie replayed", store, idempotency.Options{ReplayHeaders: []string{"set-cookie"}}},
		{"Transfer-Encoding replayed", store, idempotency.Options{ReplayHeaders: []string{"Transfer-Encoding"}}},
		{"max below min", store, idempotency.Options{MinKeyLength: 10, MaxKeyLength: 5}},
		{"negative body", store, idempotency.Options{MaxBodyBytes: -1}},
		{"tiny lease", store, idempotency.Options{Lease: time.Millisecond}},
		{"negative wait", store, idempotency.Options{WaitTimeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := idempotency.New(tc.s, nil, tc.o); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestFromContext(t *testing.T) {
	if _, ok := idempotency.FromContext(context.Background()); ok {
		t.Fatal("plain context has an Execution")
	}
	ctx := idempotency.NewContext(context.Background(), idempotency.Execution{Fence: 7})
	if e, ok := idempotency.FromContext(ctx); !ok || e.Fence != 7 {
		t.Fatal(e, ok)
	}
	var seen sync.WaitGroup
	seen.Add(1)
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer seen.Done()
		if e, ok := idempotency.FromContext(r.Context()); !ok || e.Fence != 1 || e.Takeover {
			t.Errorf("FromContext = %+v, %v", e, ok)
		}
	}))
	serve(h, req{})
	seen.Wait()
}

func TestInformationalNotRecorded(t *testing.T) {
	var runs atomic.Int64
	store := &signalStore{Store: newMemory(t, nil), completes: make(chan error, 1)}
	srv := httptest.NewServer(newMW(t, store, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("made"))
	})))
	defer srv.Close()
	for i := range 2 {
		resp, body := postOver(t, srv)
		if resp.StatusCode != http.StatusCreated || string(body) != "made" || resp.Header.Get("Link") == "" {
			t.Fatalf("response %d = %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
		if replayed := resp.Header.Get(idempotency.HeaderReplayed) == "true"; replayed != (i == 1) {
			t.Fatalf("response %d replayed = %v", i, replayed)
		}
		if i == 0 {
			// The client may see the response before the middleware has
			// recorded it (net/http sends 1xx at once and may flush the
			// rest before the handler chain returns): retry only after.
			if err := <-store.completes; err != nil {
				t.Fatalf("Complete: %v", err)
			}
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("runs = %d", runs.Load())
	}
}

// TestLostClaimCompletionRefused: a handler stalls past its lease, another
// request takes the key over and finishes; the stalled run's late response
// must not overwrite the record.
func TestLostClaimCompletionRefused(t *testing.T) {
	clock := newFakeClock()
	store := &signalStore{Store: newMemory(t, clock), completes: make(chan error, 2)}
	var h http.Handler
	var runs atomic.Int64
	m := newMW(t, store, idempotency.Options{Lease: time.Hour, Logger: discardLogger()})
	h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		if n == 1 {
			// Stall past the lease; the retry takes over and completes.
			clock.Advance(2 * time.Hour)
			rec := serve(h, req{})
			if rec.Code != http.StatusAccepted || rec.Header().Get(idempotency.HeaderReplayed) != "" {
				t.Errorf("takeover = %d", rec.Code)
			}
			if err := <-store.completes; err != nil {
				t.Errorf("takeover completion: %v", err)
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		if e, _ := idempotency.FromContext(r.Context()); !e.Takeover || e.Fence != 2 {
			t.Errorf("takeover Execution = %+v", e)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	if rec := serve(h, req{}); rec.Code != http.StatusCreated {
		t.Fatalf("stalled run = %d", rec.Code)
	}
	if err := <-store.completes; !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("late completion = %v, want ErrNotOwner", err)
	}
	if rec := serve(h, req{}); rec.Code != http.StatusAccepted || rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replay = %d, want the takeover's 202", rec.Code)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestMethodsOption(t *testing.T) {
	c := &counter{}
	h := newMW(t, newMemory(t, nil), idempotency.Options{Methods: []string{http.MethodPut}}).Handler(c)
	serve(h, req{method: http.MethodPut})
	if rec := serve(h, req{method: http.MethodPut}); rec.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("PUT retry = %d, runs %d; want a replay", rec.Code, c.runs.Load())
	}
	// POST is no longer covered: it runs every time, even without a key.
	serve(h, req{keys: []string{}})
	if rec := serve(h, req{}); rec.Code != http.StatusCreated || rec.Header().Get(idempotency.HeaderReplayed) != "" || c.runs.Load() != 3 {
		t.Fatalf("POST = %d, runs %d; want it passed through", rec.Code, c.runs.Load())
	}
}

func TestFingerprintOption(t *testing.T) {
	// A fingerprint that ignores the body: a retry that changed only the
	// body is still a retry.
	c := &counter{}
	var seen []string
	h := newMW(t, newMemory(t, nil), idempotency.Options{Fingerprint: func(r *http.Request, body []byte) (string, error) {
		seen = append(seen, string(body))
		if r.URL.Query().Has("bad") {
			return "", problem.New(http.StatusBadRequest, "unreadable JSON")
		}
		return r.Method + " " + r.URL.Path, nil
	}}).Handler(c)
	serve(h, req{body: "a"})
	if rec := serve(h, req{body: "b"}); rec.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("retry with another body = %d, runs %d; want a replay", rec.Code, c.runs.Load())
	}
	if strings.Join(seen, ",") != "a,b" {
		t.Fatalf("fingerprint saw bodies %q", seen)
	}
	if rec := serve(h, req{target: "/orders?bad", keys: []string{"another-key-0123456789"}}); rec.Code != http.StatusBadRequest || c.runs.Load() != 1 {
		t.Fatalf("fingerprint error = %d, runs %d; want its 400", rec.Code, c.runs.Load())
	}
}
