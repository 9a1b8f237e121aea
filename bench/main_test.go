package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/pgtest"
	"github.com/backstop-go/backstop/internal/redistest"
)

// TestMain lets the Redis and PostgreSQL benchmarks start their own
// redis-server and postgres (through internal/redistest and
// internal/pgtest, lazily: only when such a benchmark runs) and stops them
// when the binary exits. `go test ./bench/...` without -bench starts
// nothing.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(redisRun{m})) }

// redisRun runs the tests through redistest, inside pgtest's Run.
type redisRun struct{ m *testing.M }

func (r redisRun) Run() int { return redistest.Run(r.m) }

// EnvBenchRedisAddr names the variable holding a host:port of a Redis server
// the benchmarks use instead of starting one. REDIS_URL (redistest's
// variable) works too.
const EnvBenchRedisAddr = "BENCH_REDIS_ADDR"

// benchRedis returns a client closed when b finishes: BENCH_REDIS_ADDR when
// set, else redistest's shared server (REDIS_URL, or a private redis-server
// started once per test binary). Without any of those it skips.
func benchRedis(b *testing.B) redis.UniversalClient {
	b.Helper()
	addr := os.Getenv(EnvBenchRedisAddr)
	if addr == "" {
		return redistest.Client(b)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatalf("%s=%s: %v", EnvBenchRedisAddr, addr, err)
	}
	return rdb
}
