package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
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

// Keys whose hashes collide each keep their own entry through lookups,
// evictions and idle reclaim.
func TestTableCollidingKeys(t *testing.T) {
	tb := newTable[int](1, 8, 100)
	tb.hashMask = 1 // every key hashes to 0 or 1
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i, k := range keys {
		e, _, created := tb.get(k, 1)
		if !created {
			t.Fatalf("%s: found an entry of another key", k)
		}
		e.state = i
		e.unlock()
	}
	for i, k := range keys {
		e, _, created := tb.get(k, 2)
		if created || e.state != i || e.key() != k {
			t.Fatalf("%s: created %v, state %d", k, created, e.state)
		}
		e.unlock()
	}
	// A new key evicts one (all were referenced: CLOCK clears them and
	// takes the coldest); the others stay intact.
	e, _, _ := tb.get("x", 3)
	e.state = 99
	e.unlock()
	if n := tb.len(); n != 8 {
		t.Fatalf("len %d, want 8", n)
	}
	found := 0
	for i, k := range keys {
		s := &tb.shards[0]
		if p := s.idx.Load().find(maphash.String(tb.seed, k)&tb.hashMask, k); p != nil {
			found++
			if p.state != i {
				t.Fatalf("%s: state %d, want %d", k, p.state, i)
			}
		}
	}
	if found != 7 {
		t.Fatalf("%d of the 8 first keys kept their entries, want 7 (one evicted for x)", found)
	}
	checkIndex(t, tb)
	// Idle reclaim removes colliding entries from the index.
	e, _, _ = tb.get("late", 1000)
	e.unlock()
	for i := 0; i < 10; i++ {
		e, _, _ = tb.get("late", 1000)
		e.unlock()
	}
	if n := tb.len(); n != 1 {
		t.Fatalf("len %d after idle reclaim, want 1", n)
	}
	checkIndex(t, tb)
	for i := range tb.shards[0].idx.Load().slots {
		if e := tb.shards[0].idx.Load().slots[i].e.Load(); e != nil && e.key() != "late" {
			t.Fatalf("stale entry %q in the index", e.key())
		}
	}
}

// The index agrees with a plain map through a long random sequence of
// lookups, insertions, evictions and idle reclaim, with few hash values
// (long probe runs, deletions in their middle, wrapping around the end of
// the slots) and keys of every length around the inline limit.
func TestTableIndexMatchesMap(t *testing.T) {
	for _, mask := range []uint64{0, 7, 63, ^uint64(0)} {
		t.Run(fmt.Sprint("hashMask=", mask), func(t *testing.T) {
			const maxKeys, idle = 40, 50
			tb := newTable[int](2, maxKeys, idle)
			tb.hashMask = mask
			rng := rand.New(rand.NewPCG(1, mask))
			model := map[string]int{} // key -> state, for keys the table may still hold
			now := int64(1)
			for step := 0; step < 20000; step++ {
				if rng.IntN(200) == 0 {
					now += idle // everything idle: reclaimed as shards are touched
				}
				now += int64(rng.IntN(2))
				n := rng.IntN(120)
				k := fmt.Sprint("k", n)
				switch n % 4 {
				case 1:
					k = strings.Repeat("x", inlineKey-len(k)) + k // exactly inline
				case 2:
					k = strings.Repeat("y", inlineKey+1-len(k)) + k // just too long
				case 3:
					k = strings.Repeat("z", 70) + k
				}
				e, _, created := tb.get(k, now)
				if e.key() != k {
					t.Fatalf("step %d: got the entry of %q for %q", step, e.key(), k)
				}
				want, ok := model[k]
				if ok && !created && e.state != want {
					t.Fatalf("step %d: %q has state %d, want %d", step, k, e.state, want)
				}
				if !ok && !created {
					t.Fatalf("step %d: %q found but never inserted", step, k)
				}
				e.state = step
				model[k] = step
				e.unlock()
				if step%97 == 0 {
					checkIndex(t, tb)
				}
			}
			checkIndex(t, tb)
			// Every key the lists hold is found with its latest state.
			for i := range tb.shards {
				s := &tb.shards[i]
				for _, l := range []*list[int]{&s.live, &s.held} {
					for e := l.head; e != nil; e = e.next {
						if e.state != model[e.key()] {
							t.Fatalf("%q: state %d, want %d", e.key(), e.state, model[e.key()])
						}
					}
				}
			}
		})
	}
}

// checkIndex verifies every shard's index: each entry on the shard's lists
// is indexed once, reachable from its home slot without crossing a free
// slot, under its own hash, and the index is at most seven eighths full.
func checkIndex[S any](t *testing.T, tb *table[S]) {
	t.Helper()
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		listed := map[*entry[S]]bool{}
		for _, l := range []*list[S]{&s.live, &s.held} {
			for e := l.head; e != nil; e = e.next {
				listed[e] = true
			}
		}
		if len(listed) != s.n || s.n > s.capacity {
			t.Fatalf("shard %d: %d listed entries, n %d, capacity %d", i, len(listed), s.n, s.capacity)
		}
		x := s.idx.Load()
		if 8*s.n > 7*len(x.slots) {
			t.Fatalf("shard %d: %d entries in %d slots", i, s.n, len(x.slots))
		}
		m := uint64(len(x.slots) - 1)
		indexed := 0
		for j := range x.slots {
			e, h := x.slots[j].e.Load(), x.slots[j].hash.Load()
			if e == nil {
				continue
			}
			indexed++
			if !listed[e] || h != tb.hash(e.key()) {
				t.Fatalf("shard %d slot %d: an entry not listed or under another hash", i, j)
			}
			for k := x.home(h); k != uint64(j); k = (k + 1) & m {
				if x.slots[k].e.Load() == nil {
					t.Fatalf("shard %d slot %d: unreachable from its home %d", i, j, x.home(h))
				}
			}
			if e.dead || x.find(h, e.key()) != e {
				t.Fatalf("shard %d: %q not found, or indexed dead", i, e.key())
			}
		}
		if indexed != s.n {
			t.Fatalf("shard %d: %d indexed, n %d", i, indexed, s.n)
		}
		s.mu.Unlock()
	}
}

// TestEntryAlignment checks that every entry starts on a cache line and
// that a one-window decision for an IPv4 client key touches only the
// entry's first line (see entry and padEntry).
func TestEntryAlignment(t *testing.T) {
	one := newTable[[1]windowState](1, 1, 1)
	many := newTable[[MaxPolicies]windowState](1, 1, 1)
	buckets := newTable[[]*rate.Limiter](1, 1, 1)
	var e entry[[1]windowState]
	if end := unsafe.Offsetof(e.inline) + uintptr(len("ip:255.255.255.255")); end > 64 {
		t.Errorf("an IPv4 key ends at offset %d of its entry, past the first cache line", end)
	}
	if unsafe.Offsetof(e.mu) >= 64 || unsafe.Offsetof(e.klen) >= 64 || unsafe.Offsetof(e.state)+unsafe.Sizeof(e.state) > 64 {
		t.Errorf("what a decision touches is not in the entry's first cache line")
	}
	for _, alloc := range []func() unsafe.Pointer{
		func() unsafe.Pointer { return unsafe.Pointer(one.newEntry()) },
		func() unsafe.Pointer { return unsafe.Pointer(many.newEntry()) },
		func() unsafe.Pointer { return unsafe.Pointer(buckets.newEntry()) },
	} {
		for i := 0; i < 100; i++ {
			if p := uintptr(alloc()); p%64 != 0 {
				t.Fatalf("entry at %#x starts inside a cache line", p)
			}
		}
	}
}

// A denied key's entry is on its shard's held list with the time it is
// denied until; once a decision admits it again it is back on the live
// list, held by nothing (so eviction treats it like any key); a cost above
// every Limit, which says nothing of the key's quota, changes neither.
func TestDeniedKeyIsHeldUntilAdmitted(t *testing.T) {
	for _, kind := range []string{"sliding", "bucket"} {
		t.Run(kind, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1e9, 0)}
			l := newMemoryLimiter(t, kind, []Policy{PerMinute("m", 2)}, MemoryOptions{Shards: 1, Clock: clock.Now})
			ctx := context.Background()
			state := func() (held bool, until int64) {
				t.Helper()
				switch l := l.(type) {
				case *SlidingWindow:
					sh := &l.one.shards[0]
					e := sh.idx.Load().find(l.one.hash("k"), "k")
					return e.held.Load() && sh.held.head == e, e.until.Load()
				case *TokenBucket:
					sh := &l.table.shards[0]
					e := sh.idx.Load().find(l.table.hash("k"), "k")
					return e.held.Load() && sh.held.head == e, e.until.Load()
				}
				t.Fatalf("limiter %T", l)
				return false, 0
			}
			for range 3 {
				_, _ = l.AllowN(ctx, "k", 1)
			}
			if held, until := state(); !held || until == 0 {
				t.Fatalf("denied key: held %v, until %d; want held with a time", held, until)
			}
			if d, _ := l.AllowN(ctx, "k", 100); d.Allowed {
				t.Fatal("a cost above the Limit was admitted")
			}
			if held, until := state(); !held || until == 0 {
				t.Fatalf("after a cost above the Limit: held %v, until %d; want it still held", held, until)
			}
			// Within the idle time (two windows), so the same entry decides.
			clock.now = clock.now.Add(119 * time.Second)
			if d, _ := l.AllowN(ctx, "k", 1); !d.Allowed {
				t.Fatal("denied two windows later")
			}
			if held, until := state(); held || until != 0 {
				t.Fatalf("admitted key: held %v, until %d; want live, until 0", held, until)
			}
		})
	}
}

// A key whose hold has ended has quota again, so a full shard evicts it
// before a key still being denied, wherever the held list keeps it: holds
// end in any order (a heavier denied request waits longer), not in the
// order keys were denied.
func TestEvictionPrefersEndedHoldOverLongerHold(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	l := newMemoryLimiter(t, "sliding", []Policy{PerMinute("m", 10)}, MemoryOptions{MaxKeys: 2, Shards: 1, Clock: clock.Now})
	ctx := context.Background()
	start := clock.now
	// a is denied a cost of 5 until 10×(60−e)/60 + 5 ≤ 10 in the next
	// window, e ≥ 30s: held until 90s. b, denied afterwards for a cost of
	// 1, is held until 66s.
	for _, k := range []struct {
		key  string
		cost int64
	}{{"a", 5}, {"b", 1}} {
		if d, _ := l.AllowN(ctx, k.key, 10); !d.Allowed {
			t.Fatalf("%s: first 10 denied", k.key)
		}
		if d, _ := l.AllowN(ctx, k.key, k.cost); d.Allowed {
			t.Fatalf("%s: cost %d admitted over the limit", k.key, k.cost)
		}
	}
	// At 70s b's hold is over and a's is not: a new key must evict b.
	clock.now = start.Add(70 * time.Second)
	if d, _ := l.AllowN(ctx, "c", 1); !d.Allowed {
		t.Fatal("a new key was denied")
	}
	if d, _ := l.AllowN(ctx, "a", 5); d.Allowed {
		t.Fatal("a, still denied until 90s, was evicted while b, whose hold had ended, was kept: a's quota was reset")
	}
}
