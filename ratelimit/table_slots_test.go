package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// table is a sharded map from key to per-key state with an approximately
// least-recently-used list per shard. No lock covers more than one shard.
// Idle entries are reclaimed lazily from the cold end of each shard's list,
// and a full shard evicts a cold entry, so memory is bounded without a
// background goroutine or a full scan.
//
// Each entry has a lock of its own guarding its state; the shard's lock
// guards only its map and list. A decision for a key already tracked
// normally takes no shard lock and writes only its own entry: it finds the
// entry in the shard's lock-free slot array, a 4-way set-associative cache
// of the map with at least two slots per entry until it reaches twice the
// shard's capacity (a lookup that misses falls back to the map under the
// shard lock), and locks the entry. So goroutines
// deciding for one hot key transfer one entry between cores rather than the
// shard as well, and goroutines deciding for different keys share only
// read-mostly memory.
//
// Recency is tracked CLOCK-style (second chance): an access sets the entry's
// referenced bit; to evict, the shard moves referenced entries from the cold
// end to the front, clearing their bits, until it finds one that is not
// referenced (giving up after one pass, when every entry is in use). An
// evicted key was not used since the sweep last cleared its bit,
// approximately the least recently used. Idle entries are reclaimed, up to
// two per access, whenever an access takes the shard lock; the shard
// publishes the earliest time its cold end can be idle, and an access at or
// after it takes the lock, so a shard with only hot keys is still drained.
//
// Lock order: a shard's lock before an entry's lock. An entry removed from
// its shard is marked dead under its own lock; a lookup that locked a dead
// entry retries under the shard lock.
type slotTable[S any] struct {
	seed     maphash.Seed
	mask     uint64
	maxSlots int   // the slot array never grows beyond this
	idle     int64 // an entry unused for this long (ns) holds no state
	shards   []slotShard[S]
}

type slotEntry[S any] struct {
	mu      sync.Mutex // guards dead and state; held by get's caller
	dead    bool       // removed from its shard
	ref     atomic.Uint32
	lastUse atomic.Int64 // clock reading of the last access (ns); written under mu
	state   S
	key     string
	// Guarded by the shard's lock.
	prev, next *slotEntry[S]
}

// slots is a lock-free cache of a shard's map: groups of slotArrayGroup entry
// pointers (one cache line holds a group), an entry in the group its hash
// selects. Written only under the shard lock.
type slotArray[S any] struct {
	mask uint64 // group index mask
	p    []atomic.Pointer[slotEntry[S]]
}

const slotArrayGroup = 4

func (sl *slotArray[S]) group(h uint64) []atomic.Pointer[slotEntry[S]] {
	i := ((h >> 32) & sl.mask) * slotArrayGroup
	return sl.p[i : i+slotArrayGroup : i+slotArrayGroup]
}

// put caches e in its group: in a free slot, else in place of the entry
// its hash picks.
func (sl *slotArray[S]) put(h uint64, e *slotEntry[S]) {
	g := sl.group(h)
	free := -1
	for i := range g {
		switch g[i].Load() {
		case e:
			return
		case nil:
			if free < 0 {
				free = i
			}
		}
	}
	if free < 0 {
		free = int(h>>62) % slotArrayGroup
	}
	g[free].Store(e)
}

// shardHot is the part of a shard lookups read; the shard lock and list are
// written only to insert, evict, reclaim or resize.
type slotShardHot[S any] struct {
	mu         sync.Mutex
	idleAt     atomic.Int64 // no entry is idle before this clock reading
	slots      atomic.Pointer[slotArray[S]]
	m          map[string]*slotEntry[S]
	head, tail *slotEntry[S] // front (most recently referenced) and cold end
	capacity   int           // the most keys m holds
}

// shard pads shardHot to two cache lines (the adjacent-line prefetcher
// pairs lines), so neighbouring shards never share one.
type slotShard[S any] struct {
	slotShardHot[S]
	_ [128 - unsafe.Sizeof(slotShardHot[struct{}]{})%128]byte
}

const minSlotArray = 8

func newSlotTable[S any](shards, maxKeys int, idle int64) *slotTable[S] {
	n := 1
	for n < shards {
		n <<= 1
	}
	for n > 1 && n > maxKeys {
		n >>= 1 // every shard must hold at least one key
	}
	// maxKeys is shared out exactly: the first maxKeys%n shards hold one
	// more than the others, so the table never tracks more than maxKeys.
	base, extra := max(maxKeys/n, 1), maxKeys%n
	per := base + min(extra, 1)
	maxSlots := minSlotArray
	for maxSlots < 2*per {
		maxSlots <<= 1
	}
	t := &slotTable[S]{
		seed: maphash.MakeSeed(), mask: uint64(n - 1), idle: idle,
		maxSlots: maxSlots, shards: make([]slotShard[S], n),
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.capacity = base
		if i < extra {
			s.capacity++
		}
		s.m = make(map[string]*slotEntry[S])
		s.slots.Store(&slotArray[S]{mask: minSlotArray/slotArrayGroup - 1, p: make([]atomic.Pointer[slotEntry[S]], minSlotArray)})
		s.idleAt.Store(math.MaxInt64)
	}
	return t
}

// get returns key's entry locked; the caller must unlock e.mu. created
// reports a new entry, whose state the caller initialises. The caller must
// decide at e.lastUse, not at now: they differ when another goroutine that
// read the clock later took the lock first, and deciding at the earlier
// reading would move the entry's state back in time (a sliding window
// would take the newer window for an old one and reset it; a token bucket
// would refill the same interval twice).
func (t *slotTable[S]) get(key string, now int64) (e *slotEntry[S], created bool) {
	h := maphash.String(t.seed, key)
	s := &t.shards[h&t.mask]
	if now < s.idleAt.Load() {
		g := s.slots.Load().group(h)
		for i := range g {
			if e = g[i].Load(); e != nil && e.key == key {
				e.mu.Lock()
				if !e.dead {
					e.touch(now)
					return e, false
				}
				e.mu.Unlock()
				break
			}
		}
	}
	return t.getLocked(s, h, key, now)
}

// touch records an access at now. lastUse never goes back: a goroutine
// that read the clock before another but took the entry's lock after it
// must not undo the later reading (callers decide at lastUse, see get).
func (e *slotEntry[S]) touch(now int64) {
	if now > e.lastUse.Load() {
		e.lastUse.Store(now)
	}
	if e.ref.Load() == 0 {
		e.ref.Store(1)
	}
}

// getLocked is get under the shard lock: it reclaims idle entries, finds or
// inserts key's entry and caches it in the slot array.
func (t *slotTable[S]) getLocked(s *slotShard[S], h uint64, key string, now int64) (e *slotEntry[S], created bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Reclaim at most two idle entries per access: amortised O(1), and
	// enough to drain a shard faster than one access can add to it. The
	// list is only approximately ordered by last use. When this access came
	// because idleAt passed and the cold end turns out to be busy (fast-path
	// hits never reorder the list, and idleAt followed it), the busy entry
	// is moved to the front, so the idle ones behind it come up in turn
	// rather than waiting for the shard to fill; otherwise a cold entry that
	// is not idle ends the sweep.
	sweep := now >= s.idleAt.Load()
	for i := 0; i < 2; i++ {
		old := s.tail
		if old == nil {
			break
		}
		if now-old.lastUse.Load() >= t.idle && s.kill(old, now, t.idle) {
			s.remove(old, t)
			continue
		}
		if !sweep || old == s.head {
			break
		}
		old.ref.Store(0)
		s.unlink(old)
		s.pushFront(old)
	}
	e = s.m[key]
	if e != nil {
		e.mu.Lock() // never dead: dead entries are not in the map
		e.touch(now)
	} else {
		if len(s.m) >= s.capacity {
			s.evict(t)
		}
		e = &slotEntry[S]{key: strings.Clone(key)}
		e.lastUse.Store(now)
		e.mu.Lock()
		s.m[e.key] = e
		s.pushFront(e)
		created = true
		s.grow(t)
	}
	s.slots.Load().put(h, e)
	idleAt := int64(math.MaxInt64)
	if s.tail != nil {
		if u := s.tail.lastUse.Load(); u <= math.MaxInt64-t.idle {
			idleAt = u + t.idle
		}
	}
	if s.idleAt.Load() != idleAt {
		s.idleAt.Store(idleAt)
	}
	return e, created
}

// kill marks e dead if it is still idle at now, and reports whether it did.
// e's lock is not held by the caller.
func (s *slotShard[S]) kill(e *slotEntry[S], now, idle int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if idle >= 0 && now-e.lastUse.Load() < idle {
		return false
	}
	e.dead = true
	return true
}

// evict removes one entry from a full shard: the first unreferenced one
// from the cold end, moving referenced ones to the front and clearing their
// bits on the way (at most one pass).
func (s *slotShard[S]) evict(t *slotTable[S]) {
	for i := len(s.m); i > 0 && s.tail.ref.Load() != 0; i-- {
		v := s.tail
		v.ref.Store(0)
		s.unlink(v)
		s.pushFront(v)
	}
	v := s.tail
	s.kill(v, 0, -1)
	s.remove(v, t)
}

// grow doubles the slot array while it has fewer than two slots per entry.
func (s *slotShard[S]) grow(t *slotTable[S]) {
	sl := s.slots.Load()
	if len(sl.p) >= 2*len(s.m) || len(sl.p) >= t.maxSlots {
		return
	}
	n := 2 * len(sl.p)
	ns := &slotArray[S]{mask: uint64(n/slotArrayGroup - 1), p: make([]atomic.Pointer[slotEntry[S]], n)}
	for k, e := range s.m {
		ns.put(maphash.String(t.seed, k), e)
	}
	s.slots.Store(ns)
}

// pushFront links an unlinked e at the head.
func (s *slotShard[S]) pushFront(e *slotEntry[S]) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	} else {
		s.tail = e
	}
	s.head = e
}

func (s *slotShard[S]) unlink(e *slotEntry[S]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// remove unlinks a dead e and forgets it.
func (s *slotShard[S]) remove(e *slotEntry[S], t *slotTable[S]) {
	s.unlink(e)
	delete(s.m, e.key)
	g := s.slots.Load().group(maphash.String(t.seed, e.key))
	for i := range g {
		g[i].CompareAndSwap(e, nil)
	}
}

func (t *slotTable[S]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// A lookup can load an entry from the lock-free slot array just before the
// entry is evicted; it must then notice that the entry is dead and not
// count the decision into it.
func TestDeadEntryInSlotIsNotUsed(t *testing.T) {
	tb := newSlotTable[int64](1, 1, 1<<62)
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

// After every key of a full shard has been looked up twice, almost every
// key should be cached in the slot array (else its lookups all take the
// shard lock). Reports the fraction that is not.
func TestSlotsCacheNearlyAllKeys(t *testing.T) {
	for _, per := range []int{1000, 100000} {
		t.Run(fmt.Sprint(per), func(t *testing.T) {
			tb := newSlotTable[int64](1, per, 1<<62)
			for r := 0; r < 2; r++ {
				for i := 0; i < per; i++ {
					e, _ := tb.get(fmt.Sprint("k", i), 1)
					e.mu.Unlock()
				}
			}
			s := &tb.shards[0]
			sl := s.slots.Load()
			missing := 0
			for k, e := range s.m {
				found := false
				g := sl.group(maphash.String(tb.seed, k))
				for i := range g {
					if g[i].Load() == e {
						found = true
					}
				}
				if !found {
					missing++
				}
			}
			t.Logf("per %d: %d slots, %d of %d keys not cached (%.1f%%)", per, len(sl.p), missing, len(s.m), 100*float64(missing)/float64(len(s.m)))
			if missing*10 > len(s.m) {
				t.Fatalf("%d of %d keys not cached: their lookups always take the shard lock", missing, len(s.m))
			}
		})
	}
}
