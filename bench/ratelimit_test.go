package bench

// Rate-limiting benchmarks: backstop's ratelimit against its peers, in one
// run. Every benchmark uses b.RunParallel, so with -cpu 2 ns/op is wall time
// per operation with two goroutines (inverse throughput); the same key on
// every request, limits high enough never to reject. Redis benchmarks start
// their own redis-server through internal/redistest (see main_test.go), or
// use BENCH_REDIS_ADDR or REDIS_URL when set; they skip without a
// redis-server binary.
// go-chi/httprate-redis is not benchmarked: the Go module proxy refuses it
// (403), so it cannot be a dependency here.
//
//	go test -run '^$' -bench 'Ratelimit' -benchmem -count 6 -cpu 1,2 .

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/httprate"
	"github.com/go-redis/redis_rate/v10"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ulmw "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ulmem "github.com/ulule/limiter/v3/drivers/store/memory"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"
	"golang.org/x/time/rate"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

const rlKey = "bench-key"

// huge limits: never reject during a benchmark.
var (
	rlOnePolicy = []ratelimit.Policy{{Name: "default", Limit: 1 << 50, Window: time.Hour}}
	rlTwo       = []ratelimit.Policy{{Name: "burst", Limit: 1 << 50, Window: time.Second}, {Name: "hourly", Limit: 1 << 52, Window: time.Hour}}
)

type rlWriter struct{ h http.Header }

func (w *rlWriter) Header() http.Header         { return w.h }
func (w *rlWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *rlWriter) WriteHeader(int)             {}

var rlOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

func rlServe(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		w := &rlWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// rlServeClients is rlServe with many clients: each goroutine sends its
// requests from its own 1024 client addresses in turn (keyed by address),
// so no key is shared between goroutines and -cpu 2 shows how the whole
// middleware scales across cores rather than how one hot key serialises.
func rlServeClients(b *testing.B, h http.Handler) {
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := seq.Add(1)
		reqs := make([]*http.Request, 1024)
		for i := range reqs {
			reqs[i] = httptest.NewRequest("GET", "/", nil)
			reqs[i].RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", g, i>>8, i&255)
		}
		w := &rlWriter{h: make(http.Header, 8)}
		i := 0
		for pb.Next() {
			i++
			clear(w.h)
			h.ServeHTTP(w, reqs[i&1023])
		}
	})
}

func rlDecide(b *testing.B, allow func(ctx context.Context) bool) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !allow(ctx) {
				b.Error("rejected")
				return
			}
		}
	})
}

func rlKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return keys
}

// rlOwnKeys runs allow in parallel, each goroutine over its own 1024 keys.
func rlOwnKeys(b *testing.B, allow func(ctx context.Context, key string) bool) {
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		keys := rlKeys(fmt.Sprintf("g%d", seq.Add(1)), 1024)
		i := 0
		for pb.Next() {
			i++
			if !allow(ctx, keys[i&1023]) {
				b.Error("rejected")
				return
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkRatelimitDecision is one in-memory decision for a known key.
func BenchmarkRatelimitDecision(b *testing.B) {
	b.Run("backstop-sliding", func(b *testing.B) {
		l := must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{}))
		rlDecide(b, func(ctx context.Context) bool { d, _ := l.AllowN(ctx, rlKey, 1); return d.Allowed })
	})
	b.Run("backstop-sliding-2policies", func(b *testing.B) {
		l := must(ratelimit.NewSlidingWindow(rlTwo, ratelimit.MemoryOptions{}))
		rlDecide(b, func(ctx context.Context) bool { d, _ := l.AllowN(ctx, rlKey, 1); return d.Allowed })
	})
	b.Run("backstop-sliding-manykeys", func(b *testing.B) {
		// 1024 keys spread over the shards, shared by all goroutines, which
		// walk them out of step: what a real service sees.
		l := must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{}))
		keys := rlKeys("client", 1024)
		ctx := context.Background()
		var seq atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 509
			for pb.Next() {
				i++
				if d, _ := l.AllowN(ctx, keys[i&1023], 1); !d.Allowed {
					b.Error("rejected")
					return
				}
			}
		})
	})
	b.Run("backstop-sliding-ownkeys", func(b *testing.B) {
		// Each goroutine its own 1024 keys (spread over all shards): no
		// key is shared, so this is the scaling across cores.
		l := must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{}))
		rlOwnKeys(b, func(ctx context.Context, key string) bool { d, _ := l.AllowN(ctx, key, 1); return d.Allowed })
	})
	b.Run("backstop-tokenbucket-ownkeys", func(b *testing.B) {
		l := must(ratelimit.NewTokenBucket(rlOnePolicy, ratelimit.MemoryOptions{}))
		rlOwnKeys(b, func(ctx context.Context, key string) bool { d, _ := l.AllowN(ctx, key, 1); return d.Allowed })
	})
	b.Run("sethvargo-memorystore-ownkeys", func(b *testing.B) {
		s := must(memorystore.New(&memorystore.Config{Tokens: 1 << 40, Interval: time.Hour}))
		rlOwnKeys(b, func(ctx context.Context, key string) bool { _, _, _, ok, _ := s.Take(ctx, key); return ok })
	})
	b.Run("backstop-tokenbucket", func(b *testing.B) {
		l := must(ratelimit.NewTokenBucket(rlOnePolicy, ratelimit.MemoryOptions{}))
		rlDecide(b, func(ctx context.Context) bool { d, _ := l.AllowN(ctx, rlKey, 1); return d.Allowed })
	})
	b.Run("sethvargo-memorystore", func(b *testing.B) {
		s := must(memorystore.New(&memorystore.Config{Tokens: 1 << 40, Interval: time.Hour}))
		rlDecide(b, func(ctx context.Context) bool { _, _, _, ok, _ := s.Take(ctx, rlKey); return ok })
	})
	b.Run("ulule-memory", func(b *testing.B) {
		l := ulule.New(ulmem.NewStore(), ulule.Rate{Period: time.Hour, Limit: 1 << 60})
		rlDecide(b, func(ctx context.Context) bool { c, err := l.Get(ctx, rlKey); return err == nil && !c.Reached })
	})
	b.Run("x-time-rate", func(b *testing.B) {
		lim := rate.NewLimiter(rate.Limit(1e12), math.MaxInt32)
		rlDecide(b, func(context.Context) bool { return lim.Allow() })
	})
}

// BenchmarkRatelimitMiddleware is the whole middleware in memory: key,
// decision, headers.
func BenchmarkRatelimitMiddleware(b *testing.B) {
	static := func(*http.Request) string { return rlKey }
	b.Run("baseline-no-limiter", func(b *testing.B) { rlServe(b, rlOK) })
	b.Run("backstop", func(b *testing.B) {
		m := ratelimit.New(must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{})), static, ratelimit.Options{})
		rlServe(b, m.Handler(rlOK))
	})
	b.Run("backstop-2policies", func(b *testing.B) {
		m := ratelimit.New(must(ratelimit.NewSlidingWindow(rlTwo, ratelimit.MemoryOptions{})), static, ratelimit.Options{})
		rlServe(b, m.Handler(rlOK))
	})
	b.Run("backstop-clientip", func(b *testing.B) {
		key := ratelimit.ClientIP(ratelimit.ClientIPOptions{})
		m := ratelimit.New(must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{})), key, ratelimit.Options{})
		rlServe(b, m.Handler(rlOK))
	})
	b.Run("httprate", func(b *testing.B) {
		rlServe(b, httprate.LimitBy(math.MaxInt32, time.Minute, httprate.Key(rlKey))(rlOK))
	})
	b.Run("backstop-clientip-manyclients", func(b *testing.B) {
		key := ratelimit.ClientIP(ratelimit.ClientIPOptions{})
		m := ratelimit.New(must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{})), key, ratelimit.Options{})
		rlServeClients(b, m.Handler(rlOK))
	})
	b.Run("httprate-byip-manyclients", func(b *testing.B) {
		//lint:ignore SA1019 the peer's own per-IP helper, as its users call it
		rlServeClients(b, httprate.LimitByIP(math.MaxInt32, time.Minute)(rlOK))
	})
	b.Run("sethvargo-httplimit", func(b *testing.B) {
		s := must(memorystore.New(&memorystore.Config{Tokens: 1 << 40, Interval: time.Hour}))
		mw := must(httplimit.NewMiddleware(s, func(*http.Request) (string, error) { return rlKey, nil }))
		rlServe(b, mw.Handle(rlOK))
	})
	b.Run("ulule-stdlib", func(b *testing.B) {
		l := ulule.New(ulmem.NewStore(), ulule.Rate{Period: time.Hour, Limit: 1 << 60})
		mw := ulmw.NewMiddleware(l, ulmw.WithKeyGetter(func(*http.Request) string { return rlKey }))
		rlServe(b, mw.Handler(rlOK))
	})
}

// BenchmarkRatelimitRedis is one Redis-backed decision. backstop checks two
// policies (1/s-style burst and hourly) in its one round trip; redis_rate
// and ulule check one.
func BenchmarkRatelimitRedis(b *testing.B) {
	prefix := fmt.Sprintf("bench:%d", time.Now().UnixNano())
	b.Run("backstop-redisstore-2policies", func(b *testing.B) {
		l := must(redisstore.New(benchRedis(b), rlTwo, redisstore.Options{Prefix: prefix}))
		rlDecide(b, func(ctx context.Context) bool { d, err := l.AllowN(ctx, rlKey, 1); return err == nil && d.Allowed })
	})
	b.Run("backstop-redisstore-1policy", func(b *testing.B) {
		l := must(redisstore.New(benchRedis(b), rlOnePolicy, redisstore.Options{Prefix: prefix}))
		rlDecide(b, func(ctx context.Context) bool { d, err := l.AllowN(ctx, rlKey, 1); return err == nil && d.Allowed })
	})
	b.Run("redis_rate", func(b *testing.B) {
		l := redis_rate.NewLimiter(benchRedis(b))
		// An hour's period keeps GCRA's increment (3600/2^30 s) above the
		// resolution of its float timestamps, so every decision stores its
		// new TAT as in production. With Period: time.Second the increment
		// vanishes in rounding and redis_rate skips its SET entirely.
		lim := redis_rate.Limit{Rate: 1 << 30, Burst: 1 << 30, Period: time.Hour}
		rlDecide(b, func(ctx context.Context) bool {
			res, err := l.Allow(ctx, prefix+rlKey, lim)
			return err == nil && res.Allowed > 0
		})
	})
	b.Run("ulule-redis", func(b *testing.B) {
		st := must(ulredis.NewStoreWithOptions(benchRedis(b), ulule.StoreOptions{Prefix: prefix + "ulule"}))
		l := ulule.New(st, ulule.Rate{Period: time.Hour, Limit: 1 << 60})
		rlDecide(b, func(ctx context.Context) bool { c, err := l.Get(ctx, rlKey); return err == nil && !c.Reached })
	})
}
