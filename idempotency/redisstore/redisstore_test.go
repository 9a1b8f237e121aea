package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/problem"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func newStore(t testing.TB, c redis.UniversalClient) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(context.Background(), c, redisstore.Options{Prefix: strings.TrimSuffix(redistest.Prefix(t), ":")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store { return newStore(t, redistest.Client(t)) }, storetest.Options{})
}

func TestConformanceCluster(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store { return newStore(t, redistest.Cluster(t)) }, storetest.Options{})
}

func newMW(t testing.TB, s idempotency.Store, o idempotency.Options) *idempotency.Middleware {
	t.Helper()
	m, err := idempotency.New(s, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStorm(t *testing.T) {
	s := newStore(t, redistest.Client(t))
	storetest.Storm(t, 200, newMW(t, s, idempotency.Options{}))
}

func TestStormCluster(t *testing.T) {
	s := newStore(t, redistest.Cluster(t))
	storetest.Storm(t, 200, newMW(t, s, idempotency.Options{}))
}

// TestStormTwoInstances stands two app instances, each with its own client
// and store, in front of one Redis.
func TestStormTwoInstances(t *testing.T) {
	c1 := redistest.Client(t)
	opt := c1.(*redis.Client).Options()
	c2 := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})
	t.Cleanup(func() { c2.Close() })
	prefix := strings.TrimSuffix(redistest.Prefix(t), ":")
	s1, err := redisstore.New(context.Background(), c1, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := redisstore.New(context.Background(), c2, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Storm(t, 200, newMW(t, s1, idempotency.Options{}), newMW(t, s2, idempotency.Options{}))
}

func TestNewValidates(t *testing.T) {
	c := redistest.Client(t)
	for _, p := range []string{"a{b", "a}b", "{x}"} {
		if _, err := redisstore.New(context.Background(), c, redisstore.Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := redisstore.New(context.Background(), nil, redisstore.Options{}); err == nil {
		t.Error("nil client accepted")
	}
}

func TestKeyLayout(t *testing.T) {
	c := redistest.Client(t)
	prefix := strings.TrimSuffix(redistest.Prefix(t), ":")
	s, err := redisstore.New(context.Background(), c, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Claim(ctx, idempotency.ClaimRequest{Key: "abc", Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	key := prefix + ":{abc}"
	if typ := c.Type(ctx, key).Val(); typ != "hash" {
		t.Fatalf("record %q is a %q, want one hash", key, typ)
	}
	ttl := c.PTTL(ctx, key).Val()
	if ttl <= time.Hour || ttl > time.Hour+time.Minute {
		t.Fatalf("pending TTL = %v, want lease+retention", ttl)
	}
}

func TestPolicyCheck(t *testing.T) {
	srv := redistest.NewServer(t)
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := redisstore.New(ctx, c, redisstore.Options{Logger: logger}); err != nil {
		t.Fatalf("warn mode: %v", err)
	}
	if !strings.Contains(logs.String(), "allkeys-lru") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
	if _, err := redisstore.New(ctx, c, redisstore.Options{RefuseEvictingPolicy: true}); !errors.Is(err, redisstore.ErrEvictionPolicy) {
		t.Fatalf("refuse mode = %v, want ErrEvictionPolicy", err)
	}
	if _, err := redisstore.New(ctx, c, redisstore.Options{RefuseEvictingPolicy: true, SkipPolicyCheck: true}); err != nil {
		t.Fatalf("skipped check: %v", err)
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	if _, err := redisstore.New(ctx, c, redisstore.Options{RefuseEvictingPolicy: true, Logger: logger}); err != nil || logs.Len() != 0 {
		t.Fatalf("noeviction: %v, logs %q", err, logs.String())
	}
}

func TestPolicyCheckCluster(t *testing.T) {
	if _, err := redisstore.New(context.Background(), redistest.Cluster(t), redisstore.Options{RefuseEvictingPolicy: true}); err != nil {
		t.Fatalf("cluster with noeviction: %v", err)
	}
}

// roundTrips counts the commands a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// countedStore returns a Store on a private Redis whose client counts its
// round trips in hook.
func countedStore(t *testing.T) (*redis.Client, *redisstore.Store, *roundTrips) {
	t.Helper()
	c := redistest.NewServer(t).Client(t)
	s, err := redisstore.New(context.Background(), c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hook := &roundTrips{}
	c.AddHook(hook)
	return c, s, hook
}

func TestRoundTrips(t *testing.T) {
	c, s, hook := countedStore(t)
	h := newMW(t, s, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("ok"))
	}))
	do := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader("{}"))
		r.Header.Set(idempotency.HeaderKey, "round-trip-key-0123456789")
		r.Header.Set("Authorization", "Bearer a")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	do()
	if n := hook.n.Swap(0); n != 2 {
		t.Fatalf("first request took %d round trips, want 2 (claim, complete)", n)
	}
	if rec := do(); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatal("no replay")
	}
	if n := hook.n.Swap(0); n != 1 {
		t.Fatalf("replay took %d round trips, want 1", n)
	}
	// After the script cache is flushed (a restart or failover), EVALSHA
	// fails once per script and EVAL takes over.
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	hook.n.Store(0)
	if rec := do(); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatal("no replay after SCRIPT FLUSH")
	}
}

func TestRoundTripsWithHeartbeat(t *testing.T) {
	_, s, hook := countedStore(t)
	beats := &countingStore{Store: s, extended: make(chan struct{}, 16)}
	finish := make(chan struct{})
	h := newMW(t, beats, idempotency.Options{Lease: 60 * time.Millisecond}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-finish
		w.WriteHeader(http.StatusCreated)
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set(idempotency.HeaderKey, "heartbeat-key-0123456789")
		r.Header.Set("Authorization", "Bearer a")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	<-beats.extended
	<-beats.extended
	close(finish)
	<-done
	if got, want := hook.n.Load(), 2+beats.n.Load(); got != want {
		t.Fatalf("%d round trips, want %d (claim, complete, %d heartbeats)", got, want, beats.n.Load())
	}
}

type countingStore struct {
	idempotency.Store
	n        atomic.Int64
	extended chan struct{}
}

func (s *countingStore) Extend(ctx context.Context, key string, o idempotency.Owner, lease time.Duration) error {
	err := s.Store.Extend(ctx, key, o, lease)
	s.n.Add(1)
	select {
	case s.extended <- struct{}{}:
	default:
	}
	return err
}

// TestOutage stops Redis in the middle of a test: requests fail closed
// with 503 and never run the handler, then work again once Redis is back,
// with the same store and client.
func TestOutage(t *testing.T) {
	srv := redistest.NewServer(t)
	c := srv.Client(t)
	s, err := redisstore.New(context.Background(), c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	m := newMW(t, s, idempotency.Options{StoreTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	do := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set(idempotency.HeaderKey, key)
		r.Header.Set("Authorization", "Bearer a")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := do("before-outage-0123456789"); rec.Code != http.StatusCreated {
		t.Fatalf("before = %d", rec.Code)
	}
	srv.Stop(t)
	for _, key := range []string{"before-outage-0123456789", "during-outage-0123456789"} {
		rec := do(key)
		p, err := problem.Parse(rec.Result())
		if rec.Code != http.StatusServiceUnavailable || err != nil || !errors.Is(p, idempotency.ErrStoreUnavailable) || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("during outage = %d %q", rec.Code, rec.Body)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran during the outage: %d runs", runs.Load())
	}
	srv.Restart(t)
	if rec := do("after-outage-0123456789"); rec.Code != http.StatusCreated || runs.Load() != 2 {
		t.Fatalf("after restart = %d, runs %d", rec.Code, runs.Load())
	}
	if rec := do("after-outage-0123456789"); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replay after restart = %d", rec.Code)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	s := newStore(t, redistest.Client(t))
	ctx := context.Background()
	h := http.Header{"A": {""}, "B": {"x", "y", strings.Repeat("z", 300)}, "Empty": {}}
	res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: "h", Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "h", res.Owner, idempotency.Response{Status: 200, Header: h}, time.Hour); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Response.Header) != 3 || rec.Response.Header["B"][2] != h["B"][2] || len(rec.Response.Header["Empty"]) != 0 {
		t.Fatalf("header = %v", rec.Response.Header)
	}
}
