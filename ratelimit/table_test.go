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

// A lookup can load an entry from the lock-free slot array just before the
// entry is evicted; it must then notice that the entry is dead and not
// count the decision into it.
func TestDeadEntryInSlotIsNotUsed(t *testing.T) {
	tb := newTable[int64](1, 1, 1<<62)
	s := &tb.shards[0]
	a, _ := tb.get("a", 1)
	a.state = 7
	a.mu.Unlock()
	b, _ := tb.get("b", 2) // capacity 1: evicts a
	b.mu.Unlock()
	if !a.dead {
		t.Fatal("evicted entry not marked dead")
	}
	// Simulate the race: the slot still holds the evicted entry.
	s.slots.Load().put(maphash.String(tb.seed, "a"), a)
	e, created := tb.get("a", 3)
	defer e.mu.Unlock()
	if e == a || !created || e.state != 0 {
		t.Fatalf("got the dead entry back (created %v, state %d)", created, e.state)
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
