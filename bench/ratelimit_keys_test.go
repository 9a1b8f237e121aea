package bench

// In-memory decisions for many live keys touched in scattered order, the
// case where a limiter's table decides its speed: backstop's sliding window
// against sethvargo/go-limiter's memorystore in one run. RL_ROUNDS=10 runs
// every case ten times in turn in one process (the filled limiters are
// kept), so a change in the machine's load hits both libraries alike;
// strip the round from the names for benchstat:
//
//	RL_ROUNDS=10 go test -run '^$' -bench 'RatelimitKeys' -benchmem -cpu 1,2 . | sed 's#/round=[0-9]*##' > keys.txt
//
// RL_KEYS (say "1000000") limits the run to the listed key counts: testing
// collects garbage before every run, which takes seconds with millions of
// live entries, so the large cases are best run one process each.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/memorystore"

	"github.com/backstop-go/backstop/ratelimit"
)

// rlLive caches the populated limiters across a benchmark's runs: filling a
// million keys takes longer than measuring them.
var rlLive struct {
	sync.Mutex
	keys map[int][]string
	lims map[string]any
}

// rlLiveKeys returns n distinct keys.
func rlLiveKeys(n int) []string {
	rlLive.Lock()
	defer rlLive.Unlock()
	if rlLive.keys == nil {
		rlLive.keys = map[int][]string{}
		rlLive.lims = map[string]any{}
	}
	if k, ok := rlLive.keys[n]; ok {
		return k
	}
	k := rlKeys("client", n)
	rlLive.keys[n] = k
	return k
}

// rlLiveLimiter returns the limiter named name for n keys, made by mk and
// given one decision for every key on first use. The limiter is filled
// with copies of the keys, not the strings the benchmark then decides for:
// a server builds each request's key afresh (from RemoteAddr, a header or
// a token), so the key a limiter stored is never the same string as the
// one it is asked about. With the same strings, a Go map's lookup (as in
// go-limiter's memorystore) finds the two strings' bytes at one address
// and skips reading the stored key, a cache miss that no real request
// avoids.
func rlLiveLimiter[L any](name string, n int, mk func() L, allow func(L, context.Context, string) bool) L {
	keys := rlLiveKeys(n)
	rlLive.Lock()
	defer rlLive.Unlock()
	id := fmt.Sprint(name, n)
	if l, ok := rlLive.lims[id]; ok {
		return l.(L)
	}
	l := mk()
	for _, k := range keys {
		allow(l, context.Background(), strings.Clone(k))
	}
	rlLive.lims[id] = l
	return l
}

// rlScattered decides for keys in the order i·7919 mod n, each goroutine
// starting at its own offset. Besides wall time it reports the process's
// CPU time per decision (cpu-ns/op), which time slices lost to other
// processes on a loaded machine do not inflate.
func rlScattered(b *testing.B, keys []string, allow func(ctx context.Context, key string) bool) {
	ctx := context.Background()
	n := len(keys)
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * (n/2 + 1)
		for pb.Next() {
			i++
			if !allow(ctx, keys[(i*7919)%n]) {
				b.Error("rejected")
				return
			}
		}
	})
}

// BenchmarkRatelimitKeys is one in-memory decision with 1 (hot), 1k, 100k
// and 1M live keys; MaxKeys is twice the keys, so none is evicted.
func BenchmarkRatelimitKeys(b *testing.B) {
	rounds, _ := strconv.Atoi(os.Getenv("RL_ROUNDS"))
	for r := range max(rounds, 1) {
		b.Run(fmt.Sprint("round=", r), rlLiveKeysRound)
	}
}

func rlLiveKeysRound(b *testing.B) {
	ns := []int{1, 1_000, 100_000, 1_000_000}
	if env := os.Getenv("RL_KEYS"); env != "" {
		ns = ns[:0]
		for f := range strings.SplitSeq(env, ",") {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				ns = append(ns, n)
			}
		}
	}
	for _, n := range ns {
		keys := rlLiveKeys(n)
		b.Run(fmt.Sprintf("keys=%d/backstop-sliding", n), func(b *testing.B) {
			l := rlLiveLimiter("sliding", n, func() *ratelimit.SlidingWindow {
				return must(ratelimit.NewSlidingWindow(rlOnePolicy, ratelimit.MemoryOptions{MaxKeys: max(2*n, 1024)}))
			}, func(l *ratelimit.SlidingWindow, ctx context.Context, k string) bool {
				d, _ := l.AllowN(ctx, k, 1)
				return d.Allowed
			})
			rlScattered(b, keys, func(ctx context.Context, k string) bool { d, _ := l.AllowN(ctx, k, 1); return d.Allowed })
		})
		b.Run(fmt.Sprintf("keys=%d/sethvargo-memorystore", n), func(b *testing.B) {
			s := rlLiveLimiter("sethvargo", n, func() limiter.Store {
				return must(memorystore.New(&memorystore.Config{Tokens: 1 << 40, Interval: time.Hour}))
			}, func(s limiter.Store, ctx context.Context, k string) bool { _, _, _, ok, _ := s.Take(ctx, k); return ok })
			rlScattered(b, keys, func(ctx context.Context, k string) bool { _, _, _, ok, _ := s.Take(ctx, k); return ok })
		})
	}
}
