package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/ratelimit"
)

// New does no network I/O: a store can be built before Redis is up, and
// the first call (or Ping) is the first to dial.
func TestNewDoesNoNetworkIO(t *testing.T) {
	var dials atomic.Int64
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no dialing expected")
	}})
	t.Cleanup(func() { client.Close() })
	if _, err := New(client, []ratelimit.Policy{ratelimit.PerMinute("m", 1)}, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("New dialled %d times", n)
	}
}

// deadlineHook records, for each command, how far away its context's
// deadline was when the command started.
type deadlineHook struct {
	mu     sync.Mutex
	budget []time.Duration // -1 for no deadline
}

func (h *deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		b := time.Duration(-1)
		if dl, ok := ctx.Deadline(); ok {
			b = time.Until(dl)
		}
		h.mu.Lock()
		h.budget = append(h.budget, b)
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// With Redis refusing connections and a client on go-redis's defaults (five
// dial tries 100ms apart, three retries with backoff: about 1.7s per
// command), every call runs under the default Timeout of 50ms (up to a
// quarter more from the shared deadline), which cuts go-redis's retries:
// it answers with an error wrapping ErrStoreUnavailable in tens of
// milliseconds (about 63ms measured on an idle machine).
func TestRefusedConnectionAnswersWithinTimeout(t *testing.T) {
	srv := redistest.NewServer(t)
	addr := srv.Addr()
	srv.Stop(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	hook := &deadlineHook{}
	client.AddHook(hook)
	t.Cleanup(func() { client.Close() })
	l, err := New(client, []ratelimit.Policy{ratelimit.PerMinute("m", 10)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		for name, call := range map[string]func() error{
			"AllowN": func() error { _, err := l.AllowN(ctx, "k", 1); return err },
			"Ping":   func() error { return l.Ping(ctx) },
		} {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if !errors.Is(err, ratelimit.ErrStoreUnavailable) {
				t.Fatalf("%s: %v, want ErrStoreUnavailable", name, err)
			}
			// The deadline bounds the call; how late a loaded machine
			// fires it is not measured here, only that go-redis's
			// seconds of retries are cut.
			if took >= time.Second {
				t.Fatalf("%s against a refusing server took %v: go-redis's retries were not cut", name, took)
			}
			t.Logf("%s answered in %v", name, took)
		}
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.budget) == 0 {
		t.Fatal("no command reached the client")
	}
	for _, b := range hook.budget {
		if b < 0 || b > 50*time.Millisecond*5/4 {
			t.Fatalf("a command ran with %v to its deadline, want at most 62.5ms (Timeout 50ms and a quarter)", b)
		}
	}
}

// dropProxy forwards TCP connections to a Redis server; after dropNext it
// reads the next request on an established connection and closes that
// connection without forwarding it, as a server restart or a load
// balancer's idle cut would.
type dropProxy struct {
	ln      net.Listener
	target  string
	drop    atomic.Bool
	dropped atomic.Int64
	wg      sync.WaitGroup
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
			go func() {
				defer p.wg.Done()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						s.Close()
						return
					}
					if p.drop.CompareAndSwap(true, false) {
						p.dropped.Add(1)
						c.Close()
						s.Close()
						return
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// A single connection dropped under a call (the request written, no reply)
// is retried by go-redis under the store's deadline: the call succeeds.
// go-redis's first retry waits 10-30ms, within the default 50ms Timeout;
// the test gives it a second so a loaded machine cannot fail it.
func TestDroppedConnectionIsRetried(t *testing.T) {
	srv := redistest.NewServer(t)
	proxy := newDropProxy(t, srv.Addr())
	client := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String(), PoolSize: 1})
	t.Cleanup(func() { client.Close() })
	policies := []ratelimit.Policy{ratelimit.PerMinute("m", 100)}
	ctx := context.Background()
	// Warm up with a generous Timeout: the connection and the script cache.
	warm, err := New(client, policies, Options{Timeout: generous})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.AllowN(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	l, err := New(client, policies, Options{DeniedCacheSize: -1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	proxy.drop.Store(true)
	d, err := l.AllowN(ctx, "k", 1)
	if err != nil || !d.Allowed || d.Remaining != 98 {
		t.Fatalf("AllowN after a dropped connection: %+v %v, want the retry to succeed", d, err)
	}
	if proxy.dropped.Load() != 1 {
		t.Fatal("no connection was dropped: the test did not exercise the retry")
	}
}

// Flooding the limiter with other keys, exhausted ones included, cannot
// reset a key being denied: Redis evicts nothing by count (keys expire two
// windows after their last admitted request), and a denial pushed out of
// the local denied cache is answered by Redis again.
func TestFloodDoesNotResetDeniedKey(t *testing.T) {
	l, err := New(redistest.Client(t), []ratelimit.Policy{ratelimit.PerMinute("m", 1)},
		Options{Prefix: redistest.Prefix(t), Timeout: generous, DeniedCacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		_, _ = l.AllowN(ctx, "attacker", 1)
	}
	for i := 0; i < 64; i++ {
		for j := 0; j < 2; j++ { // admitted, then denied and cached
			if _, err := l.AllowN(ctx, fmt.Sprint("flood-", i), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d, err := l.AllowN(ctx, "attacker", 1); err != nil || d.Allowed {
		t.Fatalf("exhausted key after a flood: %+v %v, want denied", d, err)
	}
}
