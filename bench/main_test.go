package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/redistest"
)

// TestMain lets the Redis benchmarks start their own redis-server (through
// internal/redistest, lazily: only when a Redis benchmark runs) and stops it
// when the binary exits. `go test ./bench/...` without -bench starts nothing.
func TestMain(m *testing.M) { redistest.Main(m) }

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
