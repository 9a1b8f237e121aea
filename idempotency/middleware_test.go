package idempotency_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/problem"
)

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
		{"key optional, empty value", idempotency.Options{KeyOptional: true}, req{keys: []string{" "}}},
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
	m := idempotency.New(newMemory(t, nil), func(r *http.Request) (string, error) {
		if r.Header.Get("X-Tenant") == "" {
			return "", problem.New(http.StatusUnauthorized, "no tenant")
		}
		return r.Header.Get("X-Tenant"), nil
	}, idempotency.Options{})
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
		{"422 kept", nil, 422, false},
		{"401 released", nil, 401, true},
		{"403 released", nil, 403, true},
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

// A request that finds its key in flight waits WaitTimeout for the first
// to finish, no less and not much more, then answers ErrInFlight. Time is
// the synctest bubble's, so the bounds are exact.
func TestWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const wait = 10 * time.Second
		started, finish := make(chan struct{}), make(chan struct{})
		h := newMW(t, newMemory(t, nil), idempotency.Options{WaitTimeout: wait}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-finish
			w.WriteHeader(http.StatusCreated)
		}))
		first := make(chan struct{})
		go func() { serve(h, req{}); close(first) }()
		<-started
		begin := time.Now()
		assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
		// Between polls the wait sleeps at most 200 ms.
		if waited := time.Since(begin); waited < wait || waited > wait+200*time.Millisecond {
			t.Fatalf("waited %v, want WaitTimeout, %v", waited, wait)
		}
		close(finish)
		<-first
		// The heartbeat loop ends on its first tick with no claim left;
		// the bubble must not end before it.
		time.Sleep(time.Minute)
	})
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

func TestStoreFailure(t *testing.T) {
	store := &failingStore{Store: newMemory(t, nil)}
	store.down.Store(true)
	c := &counter{}
	closed := newMW(t, store, idempotency.Options{RetryAfter: 3 * time.Second, Logger: discardLogger()}).Handler(c)
	rec := serve(closed, req{})
	p := assertProblem(t, rec, idempotency.ErrUnavailable)
	if rec.Header().Get("Retry-After") != "3" || c.runs.Load() != 0 || strings.Contains(rec.Body.String(), errDown.Error()) {
		t.Fatalf("fail closed: Retry-After %q, runs %d, body %q", rec.Header().Get("Retry-After"), c.runs.Load(), rec.Body)
	}
	if !errors.Is(p, idempotency.ErrUnavailable) {
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

// A memory store full of requests in flight answers 503: nothing can be
// dropped without running a request twice.
func TestStoreFullOfRequestsInFlightIs503(t *testing.T) {
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 1})
	started, finish := make(chan struct{}), make(chan struct{})
	h := newMW(t, s, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		w.WriteHeader(http.StatusCreated)
	}))
	done := make(chan struct{})
	go func() { serve(h, req{}); close(done) }()
	<-started
	rec := serve(h, req{keys: []string{"another-key-0123456789"}})
	close(finish)
	<-done
	assertProblem(t, rec, idempotency.ErrUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
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
	// A handler that never returns would stand for the crash; claiming
	// directly is simpler.
	key := recordKeyFor(t, first)
	res, err := store.Claim(context.Background(), idempotency.ClaimRequest{Key: key, Fingerprint: fp, Lease: time.Second, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Claimed {
		t.Fatal(res, err)
	}
	assertProblem(t, serve(h, req{}), idempotency.ErrInFlight)
	clock.Advance(time.Second + time.Millisecond)
	if rec := serve(h, req{}); rec.Code != http.StatusCreated {
		t.Fatalf("after the lease = %d %q", rec.Code, rec.Body)
	}
	if !exec.Takeover || exec.Fence <= res.Owner.Fence {
		t.Fatalf("Execution = %+v, want a takeover with a fence above the crashed holder's %d", exec, res.Owner.Fence)
	}
	if err := store.Complete(context.Background(), key, res.Owner, idempotency.Response{Status: 500}, time.Hour); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("late completion by the crashed holder = %v, want ErrNotOwner", err)
	}
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
	for _, part := range []string{spy.key.Scope, spy.key.ID} {
		if len(part) != 32 || strings.Trim(part, "0123456789abcdef") != "" {
			t.Fatalf("record key %+v is not two 128-bit hex digests", spy.key)
		}
	}
	if spy.key.Scope == spy.key.ID {
		t.Fatalf("record key %+v: scope and ID are the same", spy.key)
	}
	// One scope, another key: the same Scope, another ID.
	other := &keySpy{Store: newMemory(t, nil)}
	newMW(t, other, idempotency.Options{}).Handler(&counter{}).ServeHTTP(httptest.NewRecorder(), req{auth: "Bearer secret-token", keys: []string{"another-key-0123456789"}}.build())
	if other.key.Scope != spy.key.Scope || other.key.ID == spy.key.ID {
		t.Fatalf("keys %+v and %+v of one caller: want one Scope, two IDs", spy.key, other.key)
	}
}

func TestStorm(t *testing.T) {
	store := newMemory(t, nil)
	storetest.Storm(t, 200, newMW(t, store, idempotency.Options{}), newMW(t, store, idempotency.Options{}))
}

// New and Handler refuse, when the service starts, what no correct
// program asks for: a panic that names the argument, never at request
// time.
func TestNewPanicsOnImpossibleArguments(t *testing.T) {
	store := newMemory(t, nil)
	tests := []struct {
		name string
		s    idempotency.Store
		o    idempotency.Options
		want string
	}{
		{"nil store", nil, idempotency.Options{}, "nil Store"},
		{"zero memory store", &idempotency.MemoryStore{}, idempotency.Options{}, "NewMemoryStore"},
		{"safe method", store, idempotency.Options{Methods: []string{http.MethodGet}}, "Options.Methods"},
		{"Set-Cookie replayed", store, idempotency.Options{ReplayHeaders: []string{"set-cookie"}}, "Options.ReplayHeaders"},
		{"Transfer-Encoding replayed", store, idempotency.Options{ReplayHeaders: []string{"Transfer-Encoding"}}, "Options.ReplayHeaders"},
		{"max below min", store, idempotency.Options{MinKeyLength: 10, MaxKeyLength: 5}, "Options.MaxKeyLength"},
		{"negative body", store, idempotency.Options{MaxBodyBytes: -1}, "Options.MaxBodyBytes"},
		{"negative response", store, idempotency.Options{MaxResponseBytes: -1}, "Options.MaxResponseBytes"},
		{"tiny lease", store, idempotency.Options{Lease: time.Millisecond}, "Options.Lease"},
		{"negative retention", store, idempotency.Options{Retention: -1}, "Options.Retention"},
		{"lease and retention overflow", store, idempotency.Options{Retention: math.MaxInt64}, "Options.Lease+Retention"},
		{"negative wait", store, idempotency.Options{WaitTimeout: -1}, "Options.WaitTimeout"},
		{"negative store timeout", store, idempotency.Options{StoreTimeout: -1}, "Options.StoreTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if msg, _ := v.(string); !strings.Contains(msg, tc.want) {
					t.Fatalf("New panicked with %v, want a message naming %s", v, tc.want)
				}
			}()
			idempotency.New(tc.s, nil, tc.o)
		})
	}
}

// A zero Middleware is not usable: its Handler panics when the service
// wires it, rather than passing requests through unprotected.
func TestZeroMiddlewarePanicsAtWrapTime(t *testing.T) {
	for name, m := range map[string]*idempotency.Middleware{"zero": {}, "nil": nil} {
		func() {
			defer func() {
				if v, _ := recover().(string); !strings.Contains(v, "idempotency.New") {
					t.Errorf("%s Middleware: Handler panicked with %q, want a message pointing at New", name, v)
				}
			}()
			m.Handler(&counter{})
		}()
	}
	defer func() {
		if v, _ := recover().(string); !strings.Contains(v, "nil http.Handler") {
			t.Errorf("Handler(nil) panicked with %q", v)
		}
	}()
	newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(nil)
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
		if e, ok := idempotency.FromContext(r.Context()); !ok || e.Fence <= 0 || e.Takeover {
			t.Errorf("FromContext = %+v, %v", e, ok)
		}
	}))
	serve(h, req{})
	seen.Wait()
}

// TestHandlerContextKeepsParentValuesAndCancellation: the context the
// handler gets carries the request context's values and ends with it,
// also through contexts derived from it.
func TestHandlerContextKeepsParentValuesAndCancellation(t *testing.T) {
	type userKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), userKey{}, "alice"))
	defer cancel()
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if v, _ := ctx.Value(userKey{}).(string); v != "alice" {
			t.Errorf("parent value = %q, want alice", v)
		}
		if _, ok := idempotency.FromContext(ctx); !ok {
			t.Error("FromContext found no Execution")
		}
		child, stop := context.WithCancel(ctx)
		defer stop()
		cancel()
		<-ctx.Done()
		<-child.Done()
		if !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("child.Err() = %v", child.Err())
		}
		w.WriteHeader(http.StatusCreated)
	}))
	serve2(h, req{}.build().WithContext(parent))
}

// TestMemoryStoreRecordsAfterClientLeft: with the MemoryStore, a response
// whose client left while the handler ran is still recorded, and the
// retry replays it.
func TestMemoryStoreRecordsAfterClientLeft(t *testing.T) {
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		cancel() // the client hangs up; the handler finishes
		w.WriteHeader(http.StatusCreated)
	}))
	serve2(h, req{}.build().WithContext(ctx))
	rec := serve(h, req{})
	if rec.Code != http.StatusCreated || rec.Header().Get(idempotency.HeaderReplayed) != "true" || runs.Load() != 1 {
		t.Fatalf("retry: status %d, replayed %q, runs %d; want a replay of the one run",
			rec.Code, rec.Header().Get(idempotency.HeaderReplayed), runs.Load())
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
	var firstFence int64
	m := newMW(t, store, idempotency.Options{Lease: time.Hour, Logger: discardLogger()})
	h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		if n == 1 {
			e, _ := idempotency.FromContext(r.Context())
			firstFence = e.Fence
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
		if e, _ := idempotency.FromContext(r.Context()); !e.Takeover || e.Fence <= firstFence {
			t.Errorf("takeover Execution = %+v, want a fence above the stalled run's %d", e, firstFence)
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

// storetest.Storm fails, rather than hangs, with fewer than two requests:
// its handler waits for n/2 other answers.
func TestStormRefusesFewerThanTwoRequests(t *testing.T) {
	if os.Getenv("IDEMPOTENCY_STORM_CHILD") == "1" {
		storetest.Storm(t, 1, newMW(t, newMemory(t, nil), idempotency.Options{}))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStormRefusesFewerThanTwoRequests$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDEMPOTENCY_STORM_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatal("Storm(t, 1) hung")
	}
	if err == nil || !strings.Contains(string(out), "want at least 2") {
		t.Fatalf("Storm(t, 1) = %v; output %q", err, out)
	}
}

// The fingerprint takes the path as sent: a key reused on /files/a%2Fb
// after /files/a/b (two resources) is a 422, not a replay of the first.
func TestFingerprintKeepsEscapedPath(t *testing.T) {
	c := &counter{}
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(c)
	serve(h, req{target: "/files/a/b"})
	assertProblem(t, serve(h, req{target: "/files/a%2Fb"}), idempotency.ErrKeyReused)
	if rec := serve(h, req{target: "/files/a/b"}); rec.Header().Get(idempotency.HeaderReplayed) != "true" || c.runs.Load() != 1 {
		t.Fatalf("retry = %d, runs %d; want a replay", rec.Code, c.runs.Load())
	}
}

// A failed Complete is tried again within StoreTimeout: left pending after
// the handler ran, the record would answer retries with 409 until its
// lease ran out, and then let one take it over and run the request twice.
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

// disconnectingStore stands for a networked store whose client goes away
// between the store's write and its reply: Claim claims, then cancels the
// request, then answers as a network store does when the context of the
// call is done by then.
type disconnectingStore struct {
	idempotency.Store
	cancel context.CancelFunc
}

func (s *disconnectingStore) Claim(ctx context.Context, r idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	res, err := s.Store.Claim(context.WithoutCancel(ctx), r)
	s.cancel()
	if ctx.Err() != nil {
		return idempotency.ClaimResult{}, ctx.Err() // the reply is lost
	}
	return res, err
}

// A client that disconnects while its claim is on the way leaves no claim
// behind: the claim is made on a context of its own, and released when
// the client turns out to be gone. A phantom claim would answer the
// client's retry with 409 for a whole lease.
func TestClientGoneDuringClaimLeavesNoClaim(t *testing.T) {
	mem := newMemory(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c := &counter{}
	gone := newMW(t, &disconnectingStore{Store: mem, cancel: cancel}, idempotency.Options{}).Handler(c)
	serve2(gone, req{}.build().WithContext(ctx))
	if c.runs.Load() != 0 {
		t.Fatal("the handler ran for a client that had gone")
	}
	if n := mem.Len(); n != 0 {
		t.Fatalf("%d records left after the client went away during its claim, want none", n)
	}
	retry := serve(newMW(t, mem, idempotency.Options{}).Handler(c), req{})
	if retry.Code != http.StatusCreated || c.runs.Load() != 1 {
		t.Fatalf("retry = %d %q, runs %d; want it to run", retry.Code, retry.Body, c.runs.Load())
	}
}

// flakyReleaseStore fails the first Release with a transient error.
type flakyReleaseStore struct {
	idempotency.Store
	failures atomic.Int64
}

func (s *flakyReleaseStore) Release(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return s.Store.Release(ctx, key, o)
}

// A failed Release is tried again within StoreTimeout, as a completion
// is: left pending after a 5xx, the record would answer the client's
// retry with 409 until its lease ran out.
func TestReleaseRetriedAfterTransientError(t *testing.T) {
	store := &flakyReleaseStore{Store: newMemory(t, nil)}
	store.failures.Store(2)
	c := &counter{status: func(run int64) int {
		if run == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusCreated
	}}
	h := newMW(t, store, idempotency.Options{Logger: discardLogger()}).Handler(c)
	if rec := serve(h, req{}); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("first = %d", rec.Code)
	}
	if rec := serve(h, req{}); rec.Code != http.StatusCreated || c.runs.Load() != 2 {
		t.Fatalf("retry after a released 503 = %d %q, runs %d; want it to run again", rec.Code, rec.Body, c.runs.Load())
	}
}
