package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/bench/internal/chain"
	"github.com/backstop-go/backstop/internal/redistest"
)

// The chain of BenchmarkChain with Redis stores (REDIS_URL of the
// reference service): how many round trips each request makes, counted
// with a go-redis hook, and what a Redis 1 ms away does to a request.
//
//	go test ./bench -run '^$' -bench '^BenchmarkChainRedis$' -benchmem -count 6

// roundTrips counts the round trips to Redis made on behalf of requests
// whose context carries a countedKey: a command is one, and so is a
// pipeline (MULTI/EXEC included). Background work (the readiness check's
// PING) is not counted.
type roundTrips struct{ n atomic.Int64 }

type countedKey struct{}

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(countedKey{}) != nil {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(countedKey{}) != nil {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// redisURL returns the URL of the server rdb talks to, at addr instead of
// its own address when addr is not empty.
func redisURL(tb testing.TB, rdb redis.UniversalClient, addr string) string {
	c, ok := rdb.(*redis.Client)
	if !ok {
		tb.Fatalf("want a single-node client, got %T", rdb)
	}
	o := c.Options()
	if addr == "" {
		addr = o.Addr
	}
	return "redis://" + addr + "/" + strconv.Itoa(o.DB)
}

// newRedisChain builds the chain on Redis at url with a round-trip counter
// on its client, and returns requests of kind ("get", "post-first" or
// "post-replay") whose context is counted.
func newRedisChain(tb testing.TB, url, kind string) (*chain.Chain, *chainRequests, func() string, *roundTrips) {
	tb.Helper()
	c, tok := newChain(tb, "HS256", url)
	if c.App.Redis == nil {
		tb.Fatal("the App has no Redis client")
	}
	counter := &roundTrips{}
	c.App.Redis.AddHook(counter)
	var req *chainRequests
	key := func() string { return "" }
	switch kind {
	case "get":
		req = newChainRequests(c.Full, http.MethodGet, tok)
	case "post-first":
		// Keys are unique across runs on a shared server, since the
		// caller is.
		req = newChainRequests(c.Full, http.MethodPost, tok)
		key = idempotencyKeys("chain-bench-first-")
	case "post-replay":
		req = newChainRequests(c.Full, http.MethodPost, tok)
		key = func() string { return "chain-bench-replayed-key" }
	default:
		tb.Fatalf("unknown kind %q", kind)
	}
	req.r = req.r.WithContext(context.WithValue(req.r.Context(), countedKey{}, true))
	return c, req, key, counter
}

// TestChainRedisRoundTrips pins the round trips to Redis of each kind of
// request through the whole chain: the rate limiter's one, and for POST
// /v1/orders the idempotency store's claim, plus its completion for a
// first request; a replay is answered by the claim.
func TestChainRedisRoundTrips(t *testing.T) {
	url := redisURL(t, redistest.Client(t), "")
	for _, tc := range []struct {
		kind string
		want int64
	}{
		{"get", 1},         // ratelimit
		{"post-first", 3},  // ratelimit, claim, complete
		{"post-replay", 2}, // ratelimit, claim (which returns the record)
	} {
		t.Run(tc.kind, func(t *testing.T) {
			_, req, key, counter := newRedisChain(t, url, tc.kind)
			// The first request loads the scripts (EVALSHA fails with
			// NOSCRIPT, EVAL follows) and, for a replay, records the
			// response: not counted.
			req.mustServe(t, key())
			for i := range 3 {
				counter.n.Store(0)
				req.mustServe(t, key())
				if got := counter.n.Load(); got != tc.want {
					t.Errorf("request %d: %d round trips to Redis, want %d", i+2, got, tc.want)
				}
			}
		})
	}
}

func BenchmarkChainRedis(b *testing.B) {
	rdb := benchRedis(b)
	for _, via := range []struct {
		name  string
		delay time.Duration
	}{{"local", 0}, {"proxy1ms", time.Millisecond}} {
		target := redisURL(b, rdb, "")
		if via.delay > 0 {
			target = redisURL(b, rdb, delayProxy(b, rdb.(*redis.Client).Options().Addr, via.delay))
		}
		for _, kind := range []string{"get", "post-first", "post-replay"} {
			b.Run(via.name+"/"+kind, func(b *testing.B) {
				c, req, key, counter := newRedisChain(b, target, kind)
				req.mustServe(b, key())
				counter.n.Store(0)
				b.ReportAllocs()
				cpu := processCPU()
				n := 1
				for b.Loop() {
					if kind == "post-first" && n%callerRecords == 0 {
						// A new caller: each has a budget of records.
						b.StopTimer()
						tok, err := c.TokenFor(c.Principal.Subject + "-" + strconv.Itoa(n))
						if err != nil {
							b.Fatal(err)
						}
						req.r.Header.Set("Authorization", "Bearer "+tok)
						b.StartTimer()
					}
					n++
					req.mustServe(b, key())
				}
				reportCPU(b, cpu)
				b.ReportMetric(float64(counter.n.Load())/float64(b.N), "redis-calls/op")
			})
		}
	}
}

// delayProxy listens on a loopback port and forwards every connection to
// target, holding each chunk from the client for delay before passing it
// on: every round trip to Redis takes delay longer, as with a server one
// network hop away. Replies are not delayed. It returns the address to
// dial, and closes everything when tb finishes.
func delayProxy(tb testing.TB, target string, delay time.Duration) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return false
		}
		conns = append(conns, c)
		return true
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			if !track(client) || !track(server) {
				_ = client.Close()
				_ = server.Close()
				return
			}
			wg.Go(func() { delayedCopy(server, client, delay) })
			wg.Go(func() {
				_, _ = io.Copy(client, server)
				_ = client.Close()
			})
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// chunkPool holds delayedCopy's buffers, so that the proxy's allocations
// (counted in B/op and allocs/op with the rest of the process) stay small.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// delayedCopy copies src to dst, each chunk delay after it was read: a
// delay line, so that chunks read while an earlier one waits are not held
// longer than delay.
func delayedCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 64)
	go func() {
		defer close(ch)
		for {
			buf := chunkPool.Get().(*[]byte)
			n, err := src.Read(*buf)
			if n > 0 {
				ch <- chunk{(*buf)[:n], time.Now().Add(delay)}
			} else {
				chunkPool.Put(buf)
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		_, err := dst.Write(c.b)
		b := c.b[:cap(c.b)]
		chunkPool.Put(&b)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			break
		}
	}
	_ = dst.Close()
	for range ch {
	}
}
