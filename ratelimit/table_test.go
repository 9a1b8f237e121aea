package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
	"time"
)

type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

// memoryLimiter is what both in-memory limiters offer.
type memoryLimiter interface {
	Limiter
	Len() int
}

// newMemoryLimiter returns the in-memory limiter of kind "sliding" or
// "bucket".
func newMemoryLimiter(t *testing.T, kind string, p []Policy, opts MemoryOptions) memoryLimiter {
	t.Helper()
	var l memoryLimiter
	var err error
	if kind == "sliding" {
		l, err = NewSlidingWindow(p, opts)
	} else {
		l, err = NewTokenBucket(p, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestMaxKeysEvictsLeastRecentlyUsed(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			opts := MemoryOptions{MaxKeys: 3, Shards: 1, Clock: clock.Now}
			p := []Policy{PerHour("h", 1)}
			l := newMemoryLimiter(t, kind, p, opts)
			ctx := context.Background()
			use := func(k string) bool { d, _ := l.AllowN(ctx, k, 1); return d.Allowed }
			for _, k := range []string{"a", "b", "c"} {
				use(k)
			}
			use("a") // a is now the most recent; b the least
			use("d") // evicts b
			if n := l.Len(); n != 3 {
				t.Fatalf("Len = %d, want cap 3", n)
			}
			if use("a") || use("c") || use("d") {
				t.Fatal("a tracked key was forgotten")
			}
			if !use("b") {
				t.Fatal("b should have been evicted (least recently used) and start afresh")
			}
		})
	}
}

func TestIdleKeysAreReclaimed(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			opts := MemoryOptions{Shards: 1, Clock: clock.Now}
			p := []Policy{PerMinute("m", 5)}
			l := newMemoryLimiter(t, kind, p, opts)
			ctx := context.Background()
			for i := 0; i < 100; i++ {
				_, _ = l.AllowN(ctx, fmt.Sprint("k", i), 1)
			}
			// Two windows: no sliding-window state left; buckets refilled.
			clock.now = clock.now.Add(2 * time.Minute)
			for i := 0; i < 60; i++ {
				_, _ = l.AllowN(ctx, "hot", 1) // each access reclaims up to two idle keys
			}
			if n := l.Len(); n != 1 {
				t.Fatalf("Len = %d after 60 accesses, want only the hot key", n)
			}
		})
	}
}

func TestKnownKeyDecisionDoesNotAllocate(t *testing.T) {
	l, _ := NewSlidingWindow([]Policy{PerSecond("s", 1<<40), PerHour("h", 1<<40)}, MemoryOptions{})
	tb, _ := NewTokenBucket([]Policy{PerSecond("s", 1<<40), PerHour("h", 1<<40)}, MemoryOptions{})
	ctx := context.Background()
	for name, lim := range map[string]Limiter{"sliding": l, "bucket": tb} {
		_, _ = lim.AllowN(ctx, "k", 1)
		if a := testing.AllocsPerRun(100, func() { _, _ = lim.AllowN(ctx, "k", 1) }); a != 0 {
			t.Errorf("%s: %v allocs per decision", name, a)
		}
	}
}

// Decisions for few hot keys race with insertions that evict and reclaim
// entries of the same shard; under -race this checks the locking, and the
// cap must hold throughout.
func TestConcurrentChurnKeepsCap(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			l := newMemoryLimiter(t, kind, []Policy{PerSecond("s", 1<<40), PerHour("h", 1<<40)}, MemoryOptions{MaxKeys: 8, Shards: 2})
			ctx := context.Background()
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 2000; i++ {
						key := "hot"
						if g%2 == 1 {
							key = fmt.Sprint("k", g, "-", i%50)
						}
						if d, err := l.AllowN(ctx, key, 1); err != nil || !d.Allowed {
							t.Errorf("%s: %v %v", key, d.Allowed, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if n := l.Len(); n > 8 {
				t.Fatalf("Len = %d, above MaxKeys 8", n)
			}
		})
	}
}

// Flooding the table with new keys must not reset a key that is being
// denied: eviction prefers keys with quota left, so the exhausted key stays
// tracked, and denied, inside its window. The flood's own keys are evicted
// instead, and the cap holds.
func TestEvictionKeepsDeniedKeys(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		for _, shards := range []int{1, 64} {
			t.Run(fmt.Sprint(kind, "/shards=", shards), func(t *testing.T) {
				clock := &testClock{now: time.Unix(1e9, 0)}
				l := newMemoryLimiter(t, kind, []Policy{PerMinute("m", 5)}, MemoryOptions{MaxKeys: 256, Shards: shards, Clock: clock.Now})
				ctx := context.Background()
				for i := 0; i < 6; i++ {
					_, _ = l.AllowN(ctx, "attacker", 1)
				}
				for i := 0; i < 10*256; i++ {
					if d, _ := l.AllowN(ctx, fmt.Sprint("flood-", i), 1); !d.Allowed {
						t.Fatalf("flood key %d denied", i)
					}
					clock.now = clock.now.Add(time.Millisecond)
				}
				if d, _ := l.AllowN(ctx, "attacker", 1); d.Allowed {
					t.Fatal("an exhausted key was admitted again after a flood of new keys: eviction reset it")
				}
				if n := l.Len(); n > 256 {
					t.Fatalf("Len = %d, above MaxKeys 256", n)
				}
			})
		}
	}
}

// When every key of a shard is being denied, one of them must still make
// room for a new key: the one held longest.
func TestEvictionWhenEveryKeyIsDenied(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			l := newMemoryLimiter(t, kind, []Policy{PerMinute("m", 1)}, MemoryOptions{MaxKeys: 3, Shards: 1, Clock: clock.Now})
			ctx := context.Background()
			for _, k := range []string{"a", "b", "c"} {
				_, _ = l.AllowN(ctx, k, 1)
				_, _ = l.AllowN(ctx, k, 1) // denied: held
			}
			if d, _ := l.AllowN(ctx, "d", 1); !d.Allowed {
				t.Fatal("a new key was denied")
			}
			if n := l.Len(); n != 3 {
				t.Fatalf("Len = %d, want 3", n)
			}
			if d, _ := l.AllowN(ctx, "a", 1); !d.Allowed {
				t.Fatal("the key held longest should have been evicted for d")
			}
		})
	}
}

// Keys whose hashes collide share a map slot, chained: each keeps its own
// entry through lookups, evictions and idle reclaim.
func TestTableCollidingKeys(t *testing.T) {
	tb := newTable[int](1, 8, 100)
	tb.hashMask = 1 // every key hashes to 0 or 1
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i, k := range keys {
		e, created := tb.get(k, 1)
		if !created {
			t.Fatalf("%s: found an entry of another key", k)
		}
		e.state = i
		e.unlock()
	}
	for i, k := range keys {
		e, created := tb.get(k, 2)
		if created || e.state != i || e.key != k {
			t.Fatalf("%s: created %v, state %d", k, created, e.state)
		}
		e.unlock()
	}
	// A new key evicts one (all were referenced: CLOCK clears them and
	// takes the coldest); the others stay intact.
	e, _ := tb.get("x", 3)
	e.state = 99
	e.unlock()
	if n := tb.len(); n != 8 {
		t.Fatalf("len %d, want 8", n)
	}
	found := 0
	for i, k := range keys {
		s := &tb.shards[0]
		for p := s.m[maphash.String(tb.seed, k)&tb.hashMask]; p != nil; p = p.same {
			if p.key == k {
				found++
				if p.state != i {
					t.Fatalf("%s: state %d, want %d", k, p.state, i)
				}
			}
		}
	}
	if found != 7 {
		t.Fatalf("%d of the 8 first keys kept their entries, want 7 (one evicted for x)", found)
	}
	// Idle reclaim unlinks colliding entries from their chains.
	e, _ = tb.get("late", 1000)
	e.unlock()
	for i := 0; i < 10; i++ {
		e, _ = tb.get("late", 1000)
		e.unlock()
	}
	if n := tb.len(); n != 1 {
		t.Fatalf("len %d after idle reclaim, want 1", n)
	}
	for i := range tb.shards {
		for h, p := range tb.shards[i].m {
			for ; p != nil; p = p.same {
				if p.hash != h || p.key != "late" {
					t.Fatalf("stale entry %q in chain %d", p.key, h)
				}
			}
		}
	}
}
