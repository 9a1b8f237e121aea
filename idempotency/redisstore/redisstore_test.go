package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// generous is the Timeout of tests that are not about timeouts: CI is a
// loaded 2-core machine, and the default, 50 ms, is for production.
const generous = 10 * time.Second

func newStore(t testing.TB, c redis.UniversalClient) *redisstore.Store {
	t.Helper()
	return redisstore.New(c, redisstore.Options{Prefix: strings.TrimSuffix(redistest.Prefix(t), ":"), Timeout: generous})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store { return newStore(t, redistest.Client(t)) }, storetest.Options{})
}

func TestConformanceCluster(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store { return newStore(t, redistest.Cluster(t)) }, storetest.Options{})
}

func newMW(s idempotency.Store, o idempotency.Options) *idempotency.Middleware {
	return idempotency.New(s, nil, o)
}

func TestStorm(t *testing.T) {
	s := newStore(t, redistest.Client(t))
	storetest.Storm(t, 200, newMW(s, idempotency.Options{}))
}

func TestStormCluster(t *testing.T) {
	s := newStore(t, redistest.Cluster(t))
	storetest.Storm(t, 200, newMW(s, idempotency.Options{}))
}

// TestStormTwoInstances stands two app instances, each with its own client
// and store, in front of one Redis.
func TestStormTwoInstances(t *testing.T) {
	c1 := redistest.Client(t)
	opt := c1.(*redis.Client).Options()
	c2 := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})
	t.Cleanup(func() { c2.Close() })
	prefix := strings.TrimSuffix(redistest.Prefix(t), ":")
	s1 := redisstore.New(c1, redisstore.Options{Prefix: prefix, Timeout: generous})
	s2 := redisstore.New(c2, redisstore.Options{Prefix: prefix, Timeout: generous})
	storetest.Storm(t, 200, newMW(s1, idempotency.Options{}), newMW(s2, idempotency.Options{}))
}

func TestNewPanicsOnImpossibleArguments(t *testing.T) {
	c := redistest.Client(t)
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		prefix string
		want   string
	}{
		{"nil client", nil, "", "nil client"},
		{"open brace", c, "a{b", "Options.Prefix"},
		{"close brace", c, "a}b", "Options.Prefix"},
		{"hash tag", c, "{x}", "Options.Prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if v, _ := recover().(string); !strings.Contains(v, tc.want) {
					t.Fatalf("New panicked with %q, want a message naming %s", v, tc.want)
				}
			}()
			redisstore.New(tc.client, redisstore.Options{Prefix: tc.prefix})
		})
	}
}

// A zero Store fails every call with an error, not a panic at request
// time.
func TestZeroStoreFails(t *testing.T) {
	var s redisstore.Store
	ctx := context.Background()
	if _, err := s.Claim(ctx, idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k"}, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour}); !errors.Is(err, idempotency.ErrStoreUnavailable) {
		t.Fatalf("Claim on a zero Store = %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, idempotency.ErrStoreUnavailable) {
		t.Fatalf("Ping on a zero Store = %v", err)
	}
}

// The records of one caller share a hash tag with the caller's
// bookkeeping, so every script touches one Cluster slot.
func TestKeyLayout(t *testing.T) {
	c := redistest.Client(t)
	prefix := strings.TrimSuffix(redistest.Prefix(t), ":")
	s := redisstore.New(c, redisstore.Options{Prefix: prefix, Timeout: generous})
	ctx := context.Background()
	key := idempotency.RecordKey{Scope: "scope", ID: "abc"}
	res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	record := prefix + ":{scope}:abc"
	if typ := c.Type(ctx, record).Val(); typ != "hash" {
		t.Fatalf("record %q is a %q, want one hash", record, typ)
	}
	if ttl := c.PTTL(ctx, record).Val(); ttl <= time.Hour || ttl > time.Hour+time.Minute {
		t.Fatalf("pending TTL = %v, want lease+retention", ttl)
	}
	for name, typ := range map[string]string{prefix + ":{scope}:x": "zset", prefix + ":{scope}:u": "hash"} {
		if got := c.Type(ctx, name).Val(); got != typ {
			t.Fatalf("scope key %q is a %q, want a %s", name, got, typ)
		}
		if ttl := c.PTTL(ctx, name).Val(); ttl < time.Hour {
			t.Fatalf("scope key %q lives %v, want at least as long as its record", name, ttl)
		}
		if redistest.Slot(name) != redistest.Slot(record) {
			t.Fatalf("%q and %q are in different slots", name, record)
		}
	}
	// A released record leaves nothing of a scope that holds no other.
	if err := s.Release(ctx, key, res.Owner); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, record, prefix+":{scope}:x", prefix+":{scope}:u").Val(); n != 0 {
		t.Fatalf("%d keys left after the scope's only record was released, want none", n)
	}
}

// New touches nothing: a store can be built before Redis is up.
func TestNewDoesNoIO(t *testing.T) {
	c, _, hook := countedStore(t)
	redisstore.New(c, redisstore.Options{})
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("New sent %d commands, want none", n)
	}
}

func TestCheckPolicy(t *testing.T) {
	srv := redistest.NewServer(t)
	c := srv.Client(t)
	ctx := context.Background()
	s := redisstore.New(c, redisstore.Options{Timeout: generous})
	if err := s.CheckPolicy(ctx); err != nil {
		t.Fatalf("noeviction: %v", err)
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPolicy(ctx); !errors.Is(err, redisstore.ErrEvictionPolicy) || !strings.Contains(err.Error(), "allkeys-lru") {
		t.Fatalf("allkeys-lru: %v, want ErrEvictionPolicy naming the policy", err)
	}
}

func TestCheckPolicyCluster(t *testing.T) {
	s := redisstore.New(redistest.Cluster(t), redisstore.Options{Timeout: generous})
	if err := s.CheckPolicy(context.Background()); err != nil {
		t.Fatalf("cluster with noeviction: %v", err)
	}
}

// A keyless command goes to one shard of a Ring; every shard holds
// records, so every shard is asked.
func TestCheckPolicyAsksEveryRingShard(t *testing.T) {
	a, b := redistest.NewServer(t), redistest.NewServer(t)
	ctx := context.Background()
	for _, evicting := range []*redistest.Server{a, b} {
		for _, s := range []*redistest.Server{a, b} {
			policy := "noeviction"
			if s == evicting {
				policy = "allkeys-lru"
			}
			if err := s.Client(t).ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
				t.Fatal(err)
			}
		}
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
		err := redisstore.New(ring, redisstore.Options{Timeout: generous}).CheckPolicy(ctx)
		ring.Close()
		if !errors.Is(err, redisstore.ErrEvictionPolicy) {
			t.Fatalf("ring with one evicting shard: CheckPolicy = %v, want ErrEvictionPolicy", err)
		}
	}
}

func TestPing(t *testing.T) {
	for name, c := range map[string]redis.UniversalClient{"single": redistest.Client(t), "cluster": redistest.Cluster(t)} {
		if err := redisstore.New(c, redisstore.Options{Timeout: generous}).Ping(context.Background()); err != nil {
			t.Fatalf("%s: Ping = %v", name, err)
		}
	}
	srv := redistest.NewServer(t)
	s := redisstore.New(srv.Client(t), redisstore.Options{})
	srv.Stop(t)
	start := time.Now()
	err := s.Ping(context.Background())
	if !errors.Is(err, idempotency.ErrStoreUnavailable) {
		t.Fatalf("Ping of a stopped server = %v, want ErrStoreUnavailable", err)
	}
	if d := time.Since(start); d > redisstore.DefaultTimeout+time.Second {
		t.Fatalf("Ping of a stopped server took %v, want about Timeout (%v)", d, redisstore.DefaultTimeout)
	}
}

// roundTrips counts the commands a client sends, but those go-redis sends
// to set up a new connection (HELLO, CLIENT, in a pipeline). The store
// sends no pipelines.
type roundTrips struct {
	n     atomic.Int64
	mu    sync.Mutex
	names []string
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "hello" && name != "client" {
			h.n.Add(1)
			h.mu.Lock()
			h.names = append(h.names, name)
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// countedStore returns a Store on a private Redis whose client counts its
// round trips in hook.
func countedStore(t *testing.T) (*redis.Client, *redisstore.Store, *roundTrips) {
	t.Helper()
	c := redistest.NewServer(t).Client(t)
	s := redisstore.New(c, redisstore.Options{Timeout: generous})
	hook := &roundTrips{}
	c.AddHook(hook)
	return c, s, hook
}

func TestRoundTrips(t *testing.T) {
	c, s, hook := countedStore(t)
	h := newMW(s, idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	if err := s.Ping(context.Background()); err != nil { // scripts are loaded on first use: the first call may EVAL
		t.Fatal(err)
	}
	do()
	hook.n.Store(0)
	do2 := func(key string) {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader("{}"))
		r.Header.Set(idempotency.HeaderKey, key)
		r.Header.Set("Authorization", "Bearer a")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	do2("round-trip-key-abcdefghij")
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
	if n := hook.n.Swap(0); n != 2 {
		t.Fatalf("replay after SCRIPT FLUSH took %d round trips, want 2 (EVALSHA, EVAL)", n)
	}
}

func TestRoundTripsWithHeartbeat(t *testing.T) {
	_, s, hook := countedStore(t)
	beats := &countingStore{Store: s, extended: make(chan struct{}, 16)}
	finish := make(chan struct{})
	h := newMW(beats, idempotency.Options{Lease: 60 * time.Millisecond}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	// Each script costs one round trip, plus one EVAL the first time the
	// server sees it.
	if got, want := hook.n.Load(), 2+beats.n.Load()+3; got != want {
		t.Fatalf("%d round trips %v, want %d (claim, complete, %d heartbeats, 3 first EVALs)", got, hook.names, want, beats.n.Load())
	}
}

type countingStore struct {
	idempotency.Store
	n        atomic.Int64
	extended chan struct{}
}

func (s *countingStore) Extend(ctx context.Context, key idempotency.RecordKey, o idempotency.Owner, lease time.Duration) error {
	err := s.Store.Extend(ctx, key, o, lease)
	s.n.Add(1)
	select {
	case s.extended <- struct{}{}:
	default:
	}
	return err
}

func TestHeaderRoundTrip(t *testing.T) {
	s := newStore(t, redistest.Client(t))
	ctx := context.Background()
	key := idempotency.RecordKey{Scope: "s", ID: "h"}
	h := http.Header{"A": {""}, "B": {"x", "y", strings.Repeat("z", 300)}, "Empty": {}}
	res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, key, res.Owner, idempotency.Response{Status: 200, Header: h}, time.Hour); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Response.Header) != 3 || rec.Response.Header["B"][2] != h["B"][2] || len(rec.Response.Header["Empty"]) != 0 {
		t.Fatalf("header = %v", rec.Response.Header)
	}
}

// A caller over its budget is refused by the Redis store too, on a
// Cluster: its records and their bookkeeping share one slot.
func TestBudgetThroughTheMiddlewareCluster(t *testing.T) {
	s := newStore(t, redistest.Cluster(t))
	h := newMW(s, idempotency.Options{MaxRecordsPerScope: 3}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	send := func(auth string, i int) int {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set(idempotency.HeaderKey, fmt.Sprintf("budget-key-%04d-0123456789", i))
		r.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
		return rec.Code
	}
	for i := range 6 {
		want := http.StatusCreated
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if got := send("Bearer mallory", i); got != want {
			t.Fatalf("mallory's request %d = %d, want %d", i, got, want)
		}
	}
	for i := range 3 {
		if got := send("Bearer alice", i); got != http.StatusCreated {
			t.Fatalf("alice's request %d = %d, want 201", i, got)
		}
	}
}
