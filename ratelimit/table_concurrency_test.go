package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyState is a minimal per-key limiter: it admits at most keyLimit
// decisions per lifetime of an entry.
type keyState struct{ n int64 }

const keyLimit = 50

// hammerTable runs deciders for key "K" against churners inserting other
// keys into a one-shard table of capacity maxKeys, with the clock either
// frozen or advanced by a ticker so idle reclaim races with the fast path.
// It checks that no two goroutines ever hold an entry for "K" at once (the
// entry lock serialises holders of one entry, so overlap means two live
// entries for one key) and that "K" admits at most keyLimit per lifetime.
func hammerTable(t *testing.T, maxKeys int, idle int64, tick bool) {
	tb := newTable[keyState](1, maxKeys, idle)
	var now atomic.Int64
	now.Store(1)
	var inside, maxInside, admitted, lifetimes atomic.Int64
	stop := make(chan struct{})
	var wg, bg sync.WaitGroup
	const deciders, churners, iters = 6, 3, 3000
	for g := 0; g < deciders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				e, _, created := tb.get("K", now.Load())
				if in := inside.Add(1); in > maxInside.Load() {
					maxInside.Store(in) // racy max, but any value > 1 is a bug
				}
				if created {
					lifetimes.Add(1)
				}
				if e.dead {
					t.Error("get returned an entry its shard no longer holds")
				}
				if e.state.n < keyLimit {
					e.state.n++
					admitted.Add(1)
				}
				inside.Add(-1)
				e.unlock()
			}
		}()
	}
	for g := 0; g < churners; g++ {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e, _, _ := tb.get(fmt.Sprint("c", g, "-", i%7), now.Load())
				e.unlock()
				if i%64 == 0 {
					if n := tb.len(); n > maxKeys {
						t.Errorf("len %d > MaxKeys %d", n, maxKeys)
					}
				}
			}
		}()
	}
	if tick {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				now.Add(idle / 8)
				time.Sleep(10 * time.Microsecond) // pacing only, not synchronisation
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if m := maxInside.Load(); m > 1 {
		t.Fatalf("%d goroutines held an entry for one key at once: two live entries", m)
	}
	if a, l := admitted.Load(), lifetimes.Load(); a > l*keyLimit {
		t.Fatalf("admitted %d over %d lifetimes, limit %d each", a, l, keyLimit)
	}
	t.Logf("lifetimes of K: %d, admitted %d", lifetimes.Load(), admitted.Load())
}

// Decisions for one key while it is evicted and re-created by churn never
// see two live entries for it.
func TestTableEvictionChurnKeepsOneEntryPerKey(t *testing.T) {
	for _, maxKeys := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) { hammerTable(t, maxKeys, 1<<62, false) })
	}
}

// Idle reclaim (the clock advancing past idleAt) racing with lookups keeps
// one entry per key.
func TestTableIdleReclaimRacesLookups(t *testing.T) {
	for _, maxKeys := range []int{2, 64} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) { hammerTable(t, maxKeys, 1000, true) })
	}
}

// The same through SlidingWindow with a frozen clock: one window, so the
// admissions for "K" in any lifetime are at most Limit; the deciders hold no
// lock of their own, so this is a -race check of the caller path.
func TestChurnRacesDecisionsForOneKey(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			l := newMemoryLimiter(t, kind, []Policy{PerMinute("m", 5)}, MemoryOptions{MaxKeys: 2, Shards: 1, Clock: clock.Now})
			ctx := context.Background()
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 2000; i++ {
						key := "K"
						if g%2 == 1 {
							key = fmt.Sprint("c", g, "-", i%5)
						}
						if _, err := l.AllowN(ctx, key, 1); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if n := l.Len(); n > 2 {
				t.Fatalf("Len = %d > MaxKeys", n)
			}
		})
	}
}

// stallClock is a fake clock that can hold one reader between reading the
// time and returning it, as a goroutine descheduled (or blocked on the
// entry lock) after computing now but before locking the entry.
type stallClock struct {
	base    time.Time
	off     atomic.Int64
	stall   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func (c *stallClock) Now() time.Time {
	v := c.base.Add(time.Duration(c.off.Load()))
	if c.stall.CompareAndSwap(true, false) {
		c.reached <- struct{}{}
		<-c.release
	}
	return v
}

// A decision whose now was read before a window boundary but which locks
// the entry after a decision from the next window must not wipe the
// counters: rollWindow treats st.index > now's window as "long ago" and
// resets the state, so the current window's admissions are forgotten.
func TestSlidingStaleNowDoesNotResetCounters(t *testing.T) {
	const limit = 10
	w := time.Second
	c := &stallClock{base: time.Unix(1e9, 0), reached: make(chan struct{}), release: make(chan struct{})}
	l, err := NewSlidingWindow([]Policy{{Name: "s", Limit: limit, Window: w}}, MemoryOptions{Shards: 1, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.off.Store(int64(w) * 99 / 100) // window 0
	c.stall.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = l.AllowN(ctx, "K", 1) // reads now in window 0, then stalls
	}()
	<-c.reached
	c.off.Store(int64(w) * 3 / 2) // window 1, half way
	admitted := 0
	for i := 0; i < limit; i++ {
		if d, _ := l.AllowN(ctx, "K", 1); d.Allowed {
			admitted++
		}
	}
	close(c.release)
	<-done
	extra := 0
	for i := 0; i < limit; i++ {
		if d, _ := l.AllowN(ctx, "K", 1); d.Allowed {
			extra++
		}
	}
	if admitted != limit || extra != 0 {
		t.Fatalf("window 1: admitted %d, then %d more after a stale decision; want %d then 0", admitted, extra, limit)
	}
}

// Idle keys must be reclaimed even when the oldest entry of a shard is a
// key that stays hot. The reclaim sweep stops at a cold-end entry that is
// not idle, fast-path hits never move entries, and idleAt follows the hot
// tail, so every idle key behind it stays until the shard fills.
func TestIdleKeysBehindHotTailAreReclaimed(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			l := newMemoryLimiter(t, kind, []Policy{PerMinute("m", 1<<40)}, MemoryOptions{Shards: 1, Clock: clock.Now})
			ctx := context.Background()
			_, _ = l.AllowN(ctx, "hot", 1) // oldest entry: the cold end
			for i := 0; i < 100; i++ {
				_, _ = l.AllowN(ctx, fmt.Sprint("k", i), 1)
			}
			// Ten minutes of traffic for hot alone, plus a new key a second.
			for s := 0; s < 600; s++ {
				clock.now = clock.now.Add(time.Second)
				_, _ = l.AllowN(ctx, "hot", 1)
				_, _ = l.AllowN(ctx, fmt.Sprint("new", s%2), 1)
			}
			if n := l.Len(); n > 3 {
				t.Fatalf("Len = %d after ten idle minutes; want hot, new0, new1", n)
			}
		})
	}
}

// The same stale reading in TokenBucket: x/time/rate sets the bucket's last
// update time to the stale t, so the next decision refills the interval from
// t again. At one instant (5s) the bucket of burst 10 admits 14.
// Callers decide at e.lastUse, as for the sliding window.
func TestTokenBucketStaleTimeDoesNotRefillTwice(t *testing.T) {
	const limit = 10
	c := &stallClock{base: time.Unix(1e9, 0), reached: make(chan struct{}), release: make(chan struct{})}
	l, err := NewTokenBucket([]Policy{{Name: "b", Limit: limit, Window: 10 * time.Second}}, MemoryOptions{Shards: 1, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.stall.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = l.AllowN(ctx, "K", 1) // reads t=0, then stalls
	}()
	<-c.reached
	c.off.Store(int64(5 * time.Second))
	at5 := 0
	for i := 0; i < limit-1; i++ {
		if d, _ := l.AllowN(ctx, "K", 1); d.Allowed {
			at5++
		}
	}
	close(c.release)
	<-done // admitted with the stale t=0 (one token was left)
	for i := 0; i < limit; i++ {
		if d, _ := l.AllowN(ctx, "K", 1); d.Allowed {
			at5++
		}
	}
	if at5 > limit {
		t.Fatalf("%d admitted at one instant by a bucket of burst %d", at5, limit)
	}
}

// MaxKeys caps the keys tracked at once even when it is not a multiple of
// Shards: the shards' capacities add up to MaxKeys exactly.
func TestLenNeverExceedsMaxKeys(t *testing.T) {
	l, err := NewSlidingWindow([]Policy{PerMinute("m", 5)}, MemoryOptions{MaxKeys: 100, Shards: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10000; i++ {
		_, _ = l.AllowN(ctx, fmt.Sprint("k", i), 1)
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("Len = %d with MaxKeys 100", n)
	}
}

// A decision holds its own entry's lock and no shard lock: while one
// key's entry is held, another key of the same shard is looked up, and a
// new key inserted, by the same goroutine. (When get returned with the
// shard locked, as it once did, this deadlocked: with one hot key on two
// cores, every other decision of its shard queued behind it.)
func TestHeldEntryDoesNotBlockItsShard(t *testing.T) {
	tb := newTable[int](1, 8, 1<<62)
	e, _, _ := tb.get("a", 1)
	e.unlock()
	b, _, _ := tb.get("b", 2)
	a, _, created := tb.get("a", 3)
	if created || a.key() != "a" {
		t.Fatalf("a: created %v, key %q", created, a.key())
	}
	c, _, created := tb.get("c", 4)
	if !created {
		t.Fatal("c: not created")
	}
	c.unlock()
	a.unlock()
	b.unlock()
	if n := tb.len(); n != 3 {
		t.Fatalf("len %d, want 3", n)
	}
}
