package bench

// How cost grows with the work: idempotency first requests and replays
// against 1k, 10k and 100k stored records, and the Redis stores against 1,
// 16 and 256 concurrent callers, beside their peers where one exists.
// (Rate-limit decisions against many live keys are in
// ratelimit_keys_test.go.)
//
//	go test -run '^$' -bench 'IdempotencyRecords|RedisCallers' -benchmem -count 6 .
//
// The stores are filled once per record count and kept across a
// benchmark's runs (filling 100k records through Redis takes longer than
// measuring them). The records belong to 100 callers (scopes), each within
// the default per-caller budget. Replays touch the stored keys in the
// scattered order i·7919 mod n. First requests carry new keys.
//
// The memory store runs on a clock that advances by 1 s per request with a
// retention of n seconds, so each first request meets about one expired
// record and the store stays at about n records whatever b.N is. Redis
// expires records on its own clock (retention 1 h): there each first
// request adds a record, so a run ends with n + b.N of them.
//
// Each benchmark reports cpu-ns/op besides ns/op: the CPU time of this
// process per operation (a Redis server's is not counted), the steadier
// figure on a machine shared with other work.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	ulule "github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

// scaleScopes is how many callers share the stored records.
const scaleScopes = 100

var scaleAuth = func() []string {
	a := make([]string, scaleScopes)
	for i := range a {
		a[i] = "Bearer caller-" + strconv.Itoa(i)
	}
	return a
}()

// scaleKey is the client key of stored record i.
func scaleKey(i int) string { return fmt.Sprintf("bench-record-%08d", i) }

// idemRequest is a request reused for every call of one goroutine: only
// its key, caller and body change.
type idemRequest struct {
	r    *http.Request
	key  []string // r.Header[HeaderKey]
	auth []string // r.Header["Authorization"]
	body *bytes.Reader
	rc   io.ReadCloser
	w    *idemWriter
}

func newIdemRequest() *idemRequest {
	r := httptest.NewRequest(http.MethodPost, "/orders?currency=eur", nil)
	r.Header.Set("Authorization", scaleAuth[0])
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(idempotency.HeaderKey, scaleKey(0))
	r.ContentLength = int64(len(idemBody))
	body := bytes.NewReader(idemBody)
	return &idemRequest{r: r, key: r.Header[idempotency.HeaderKey], auth: r.Header["Authorization"],
		body: body, rc: io.NopCloser(body), w: &idemWriter{h: make(http.Header, 8)}}
}

// serve sends the request with key as caller's, and returns the status and
// whether the response was a replay.
func (q *idemRequest) serve(h http.Handler, key string, caller int) (int, bool) {
	q.key[0] = key
	q.auth[0] = scaleAuth[caller%scaleScopes]
	q.body.Reset(idemBody)
	q.r.Body = q.rc
	clear(q.w.h)
	h.ServeHTTP(q.w, q.r)
	return q.w.code, q.w.h.Get(idempotency.HeaderReplayed) == "true"
}

// scaleStore is a middleware over a store holding n records, and the
// clock tick its first requests call (nil for Redis).
type scaleStore struct {
	h    http.Handler
	tick func()
}

var scaleStores struct {
	sync.Mutex
	m map[string]*scaleStore
}

// scaleStoreFor returns the store named id, made by mk and given n records
// (keys scaleKey(0..n-1), caller i%scaleScopes) on first use. fill sends
// the records from workers goroutines.
func scaleStoreFor(b *testing.B, id string, n, workers int, mk func() *scaleStore) *scaleStore {
	scaleStores.Lock()
	defer scaleStores.Unlock()
	if scaleStores.m == nil {
		scaleStores.m = map[string]*scaleStore{}
	}
	if s, ok := scaleStores.m[id]; ok {
		return s
	}
	s := mk()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Go(func() {
			q := newIdemRequest()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if s.tick != nil {
					s.tick()
				}
				if code, _ := q.serve(s.h, scaleKey(i), i); code != http.StatusCreated {
					failed.Store(fmt.Sprintf("filling %s: record %d: status %d", id, i, code))
					return
				}
			}
		})
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	scaleStores.m[id] = s
	return s
}

// scaleMemory returns a memory store on a clock that s.tick advances by
// 1 s, keeping responses for n seconds: n records stay live.
func scaleMemory(n int) *scaleStore {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{
		MaxRecords: 2*n + 1024, MaxBytes: 1 << 30,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
	})
	m := idempotency.New(s, nil, idempotency.Options{Retention: time.Duration(n) * time.Second})
	return &scaleStore{h: m.Handler(idemHandler), tick: func() { now.Add(int64(time.Second)) }}
}

// BenchmarkIdempotencyRecords is one request through the idempotency
// middleware against stores holding 1k, 10k and 100k records: a first
// request (claim, run, record) and a replay of a stored record.
func BenchmarkIdempotencyRecords(b *testing.B) {
	run := fmt.Sprint(time.Now().UnixNano())
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d/store=memory/first", n), func(b *testing.B) {
			// Its own store: its clock moves, which would expire the
			// records the replays need.
			s := scaleStoreFor(b, fmt.Sprint("memory-first-", n), n, 1, func() *scaleStore { return scaleMemory(n) })
			scaleFirst(b, s, run)
		})
		b.Run(fmt.Sprintf("records=%d/store=memory/replay", n), func(b *testing.B) {
			s := scaleStoreFor(b, fmt.Sprint("memory-replay-", n), n, 1, func() *scaleStore { return scaleMemory(n) })
			scaleReplay(b, s, n)
		})
		redis := func() *scaleStore {
			st := idemRedisStore(b, fmt.Sprintf("bench-records-%s-%d", run, n))
			m := idempotency.New(st, nil, idempotency.Options{Retention: time.Hour})
			return &scaleStore{h: m.Handler(idemHandler)}
		}
		b.Run(fmt.Sprintf("records=%d/store=redis/first", n), func(b *testing.B) {
			scaleFirst(b, scaleStoreFor(b, fmt.Sprint("redis-", n), n, 16, redis), run)
		})
		b.Run(fmt.Sprintf("records=%d/store=redis/replay", n), func(b *testing.B) {
			scaleReplay(b, scaleStoreFor(b, fmt.Sprint("redis-", n), n, 16, redis), n)
		})
	}
}

// scaleFirst sends b.N requests with new keys, from the scaleScopes
// callers in turn.
func scaleFirst(b *testing.B, s *scaleStore, run string) {
	keys := make([]string, b.N)
	base := fmt.Sprintf("first-%s-%d-", run, time.Now().UnixNano())
	for i := range keys {
		keys[i] = base + strconv.Itoa(i)
	}
	q := newIdemRequest()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := range b.N {
		if s.tick != nil {
			s.tick()
		}
		if code, replayed := q.serve(s.h, keys[i], i); code != http.StatusCreated || replayed {
			b.Fatalf("status %d, replayed %v", code, replayed)
		}
	}
}

// scaleReplay replays b.N stored records in the order i·7919 mod n,
// starting where the previous run stopped.
func scaleReplay(b *testing.B, s *scaleStore, n int) {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = scaleKey(i)
	}
	q := newIdemRequest()
	start := int(time.Now().UnixNano() % int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := range b.N {
		k := ((start + i) * 7919) % n
		if code, replayed := q.serve(s.h, keys[k], k); code != http.StatusCreated || !replayed {
			b.Fatalf("record %d: status %d, replayed %v", k, code, replayed)
		}
	}
}

// callers splits b.N calls among c goroutines, started together; ns/op is
// the wall time per call. setup makes goroutine g's operation, which it
// calls share times with i = 0, 1, ...
func callers(b *testing.B, c int, setup func(g, share int) func(ctx context.Context, i int) error) {
	ctx := context.Background()
	ops := make([]func(context.Context, int) error, c)
	shares := make([]int, c)
	for g := range ops {
		shares[g] = b.N / c
		if g < b.N%c {
			shares[g]++
		}
		ops[g] = setup(g, shares[g])
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	start := make(chan struct{})
	for g := range c {
		share := shares[g]
		wg.Go(func() {
			<-start
			for i := range share {
				if err := ops[g](ctx, i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	close(start)
	wg.Wait()
	b.StopTimer()
	reportCPU(b, cpu)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}

var errRejected = fmt.Errorf("rejected")

// BenchmarkRedisCallers is one Redis-backed operation with 1, 16 and 256
// concurrent callers sharing one go-redis client (default pool: 10
// connections per GOMAXPROCS, so 256 callers wait for connections as they
// would in a service): a rate-limit decision (backstop's redisstore with
// one policy, go-redis/redis_rate and ulule/limiter's Redis store, each
// caller its own key) and an idempotent first request through the
// middleware (each caller its own scope; no Go peer, see
// idempotency_test.go). backstop's stores get a 5 s Timeout instead of
// 50 ms, as the peers have none: a wait for a connection on a loaded
// machine must not fail the run.
func BenchmarkRedisCallers(b *testing.B) {
	prefix := fmt.Sprintf("bench-callers-%d", time.Now().UnixNano())
	for _, c := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("callers=%d/ratelimit/backstop-redisstore", c), func(b *testing.B) {
			l := must(redisstore.New(benchRedis(b), rlOnePolicy, redisstore.Options{Prefix: prefix, Timeout: 5 * time.Second}))
			callers(b, c, func(g, _ int) func(context.Context, int) error {
				key := "caller-" + strconv.Itoa(g)
				return func(ctx context.Context, _ int) error {
					d, err := l.AllowN(ctx, key, 1)
					if err == nil && !d.Allowed {
						err = errRejected
					}
					return err
				}
			})
		})
		b.Run(fmt.Sprintf("callers=%d/ratelimit/redis_rate", c), func(b *testing.B) {
			l := redis_rate.NewLimiter(benchRedis(b))
			// See BenchmarkRatelimitRedis for the hour's period.
			lim := redis_rate.Limit{Rate: 1 << 30, Burst: 1 << 30, Period: time.Hour}
			callers(b, c, func(g, _ int) func(context.Context, int) error {
				key := prefix + "caller-" + strconv.Itoa(g)
				return func(ctx context.Context, _ int) error {
					res, err := l.Allow(ctx, key, lim)
					if err == nil && res.Allowed == 0 {
						err = errRejected
					}
					return err
				}
			})
		})
		b.Run(fmt.Sprintf("callers=%d/ratelimit/ulule-redis", c), func(b *testing.B) {
			st := must(ulredis.NewStoreWithOptions(benchRedis(b), ulule.StoreOptions{Prefix: prefix + "ulule"}))
			l := ulule.New(st, ulule.Rate{Period: time.Hour, Limit: 1 << 60})
			callers(b, c, func(g, _ int) func(context.Context, int) error {
				key := "caller-" + strconv.Itoa(g)
				return func(ctx context.Context, _ int) error {
					res, err := l.Get(ctx, key)
					if err == nil && res.Reached {
						err = errRejected
					}
					return err
				}
			})
		})
		b.Run(fmt.Sprintf("callers=%d/idempotency-first/backstop-redisstore", c), func(b *testing.B) {
			st := idemRedisStore(b, prefix+"-idem")
			h := idempotency.New(st, nil, idempotency.Options{Retention: time.Minute, MaxRecordsPerScope: 1 << 30}).Handler(idemHandler)
			base := fmt.Sprintf("first-%d-", time.Now().UnixNano())
			callers(b, c, func(g, share int) func(context.Context, int) error {
				q := newIdemRequest()
				q.auth[0] = "Bearer caller-" + strconv.Itoa(g)
				keys := make([]string, share)
				for i := range keys {
					keys[i] = base + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				}
				return func(_ context.Context, i int) error {
					q.key[0] = keys[i]
					q.body.Reset(idemBody)
					q.r.Body = q.rc
					clear(q.w.h)
					h.ServeHTTP(q.w, q.r)
					if q.w.code != http.StatusCreated || q.w.h.Get(idempotency.HeaderReplayed) != "" {
						return fmt.Errorf("status %d", q.w.code)
					}
					return nil
				}
			})
		})
	}
}
