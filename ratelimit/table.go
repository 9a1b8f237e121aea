package ratelimit

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// table is a sharded map from key to per-key state. Each shard keeps an
// open-addressing index of its entries and approximately
// least-recently-used lists of them; each entry has a lock of its own.
//
// A decision for a key the table holds takes no shard lock: it probes the
// shard's index with atomic loads (the index is only written under the
// shard lock, and an entry's key never changes once it is indexed) and
// locks the entry alone for the update. So a hot key serialises only its
// own few-instruction update, not its shard's lookups, and decisions for
// other keys of the shard run in parallel with it. A lookup that misses,
// which a concurrent removal or move in the index can cause, takes the
// shard lock and looks again before it inserts. Removing an entry marks it
// dead under its lock first, so a decision that found it just before is
// told to look the key up again and never counts against a forgotten
// entry. Locks are taken shard first, then entry, never the other way.
//
// Idle entries are reclaimed lazily from the cold end of each shard's
// lists, and a full shard evicts a cold entry, so memory is bounded without
// a background goroutine or a full scan. Recency is tracked CLOCK-style
// (second chance): an access sets the entry's referenced bit; to evict, the
// shard moves referenced entries from the cold end to the front, clearing
// their bits, until it finds one that is not referenced.
//
// Entries whose key is being denied (held, see settle) live on a second list
// and are evicted only when the shard holds nothing else: forgetting a
// denied key would hand it a fresh quota, so a client that floods the
// table with new keys cannot reset its own exhausted key. The keys evicted
// instead had quota left, so forgetting them costs at most what they had
// already used.
//
// A plain Go map under a shard lock was measured against a lock-free,
// set-associative slot cache in front of the map: the cache was not faster
// for a hot key nor for 1k to 1M live keys in scattered order
// (BenchmarkTable; figures in the README). The shard's own index replaced
// the map later: with 100k keys and more a decision is a few cache misses,
// and it takes one fewer (see index). Entry locks replaced holding the
// shard lock from lookup to update last: with one hot key on two cores the
// shard lock was held for the whole decision and the two cores queued on
// it.
type table[S any] struct {
	seed     maphash.Seed
	hashMask uint64 // all ones; tests narrow it to make keys collide
	mask     uint64
	idle     int64 // an entry unused for this long (ns) holds no state
	pad      bool  // allocate entries as padded[S] (see newEntry)
	shards   []shard[S]
}

// entry is one key's state. Everything a decision reads or writes comes
// first, so that for one window and a key of up to 21 bytes (any IPv4
// client key) it lies in the entry's first cache line: with many live keys
// in scattered order each line touched is a cache miss, and the lookup's
// key comparison and the decision's lock and update then share one. The
// list links, the long key and what only denials and the shard's rare
// paths write follow. The entry does not store its key's hash, which only
// removal needs and recomputes, and a long key costs a pointer, not a
// string header.
type entry[S any] struct {
	mu      sync.Mutex
	lastUse int64 // clock reading of the last access (ns); under mu
	state   S     // under mu
	klen    uint8 // length of the key in inline, or longKey; fixed once indexed
	ref     bool  // accessed since the eviction sweep last passed; under mu
	dead    bool  // removed from its shard: whoever finds it must look again; under mu
	inline  [inlineKey]byte
	held    atomic.Bool  // on the shard's held list; written under the shard lock
	long    *string      // the key, when longer than inlineKey
	until   atomic.Int64 // denied until this clock reading (0: has quota)
	prev    *entry[S]    // in the shard's live or held list, under the shard lock
	next    *entry[S]
}

// inlineKey is the longest key stored inside its entry, which then needs
// no allocation of its own and whose comparison follows no pointer:
// client-address keys ("ip:2001:db8:1:2::/64", at most 27 bytes) fit.
const inlineKey = 27

// longKey in entry.klen marks a key kept in entry.long.
const longKey = 0xFF

// is reports whether e is key's entry. The key of an indexed entry never
// changes, so is needs no lock.
func (e *entry[S]) is(key string) bool {
	if len(key) <= inlineKey {
		return int(e.klen) == len(key) && string(e.inline[:len(key)]) == key
	}
	return e.klen == longKey && *e.long == key
}

// key returns e's key.
func (e *entry[S]) key() string {
	if e.klen == longKey {
		return *e.long
	}
	return string(e.inline[:e.klen])
}

// touch records an access at now, with e locked.
func (e *entry[S]) touch(now int64) {
	if now > e.lastUse {
		e.lastUse = now
	}
	if !e.ref {
		e.ref = true
	}
}

// unlock releases the lock get took.
func (e *entry[S]) unlock() { e.mu.Unlock() }

// list is a doubly linked list of entries, most recently added at head.
type list[S any] struct {
	head, tail *entry[S]
}

type shardData[S any] struct {
	mu sync.Mutex
	t  *table[S] // the shard's table, for its hash (entries do not keep theirs)
	// Read without mu; written under it.
	idx    atomic.Pointer[index[S]]
	idleAt atomic.Int64 // no entry is idle before this clock reading
	// Under mu.
	n        int     // entries
	live     list[S] // keys with quota left
	held     list[S] // keys being denied
	capacity int     // the most keys the shard holds
}

// index is a shard's index of its entries by hash: open addressing with
// linear probing. A lookup reads one slot's line (its hash, then its
// entry) where a Go map reads a control word and a slot in separate lines.
// Its length is a power of two, at most seven eighths full (a hit compares
// hashes in the slots, 4 to a line, before it reads an entry). Lookups
// read it with atomic loads while the shard's lock holder changes it; a
// resize publishes a new index.
type index[S any] struct {
	slots []slot[S]
	shift uint8 // 64 - log2(len(slots))
}

// slot is one place in an index: an entry and its key's hash (nil e:
// free). A lookup may read a slot half written (a hash and the entry of
// another key): it compares the entry's key, so that only costs a miss.
type slot[S any] struct {
	hash atomic.Uint64
	e    atomic.Pointer[entry[S]]
}

// shard pads shardData to two cache lines (the adjacent-line prefetcher
// pairs lines), so neighbouring shards never share one.
type shard[S any] struct {
	shardData[S]
	_ [128 - unsafe.Sizeof(shardData[struct{}]{})%128]byte
}

func newTable[S any](shards, maxKeys int, idle int64) *table[S] {
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
	t := &table[S]{seed: maphash.MakeSeed(), hashMask: ^uint64(0), mask: uint64(n - 1), idle: idle, pad: padEntry[S](), shards: make([]shard[S], n)}
	for i := range t.shards {
		s := &t.shards[i]
		s.t = t
		s.capacity = base
		if i < extra {
			s.capacity++
		}
		s.idx.Store(newIndex[S](8))
		s.idleAt.Store(math.MaxInt64)
	}
	return t
}

// get returns key's entry, locked (the caller calls e.unlock), and its
// shard. created reports a new entry, whose state the caller initialises.
// The caller must decide at e.lastUse, not at now: they differ when
// another goroutine that read the clock later locked the entry first, and
// deciding at the earlier reading would move the entry's state back in
// time (a sliding window would take the newer window for an old one and
// reset it; a token bucket would refill the same interval twice).
func (t *table[S]) get(key string, now int64) (e *entry[S], s *shardData[S], created bool) {
	h := t.hash(key)
	s = &t.shards[h&t.mask].shardData
	if now < s.idleAt.Load() {
		if e = s.idx.Load().find(h, key); e != nil {
			e.mu.Lock()
			if !e.dead {
				e.touch(now)
				return e, s, false
			}
			e.mu.Unlock()
		}
	}
	e, created = s.getLocked(key, h, now)
	return e, s, created
}

// getLocked is get under the shard lock: it reclaims idle entries when
// they are due, and inserts key when the shard does not hold it.
func (s *shardData[S]) getLocked(key string, h uint64, now int64) (e *entry[S], created bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.idleAt.Load() {
		s.reclaim(now, s.t.idle)
	}
	if e = s.idx.Load().find(h, key); e != nil {
		e.mu.Lock() // not dead: entries are removed under s.mu
		e.touch(now)
		return e, false
	}
	if s.n >= s.capacity {
		s.evict(now)
	}
	e = s.t.newEntry()
	if len(key) <= inlineKey {
		e.klen = uint8(copy(e.inline[:], key))
	} else {
		long := strings.Clone(key)
		e.klen, e.long = longKey, &long
	}
	e.lastUse = now
	e.mu.Lock() // before it is indexed: the caller initialises its state
	s.insert(e, h)
	s.n++
	s.live.pushFront(e)
	if s.idleAt.Load() == math.MaxInt64 && now <= math.MaxInt64-s.t.idle {
		// The lists were empty: e is the coldest entry. (setIdleAt would
		// lock e again.)
		s.idleAt.Store(now + s.t.idle)
	}
	return e, true
}

// padded is an entry allocated in the next size class: see newEntry.
type padded[S any] struct {
	e entry[S]
	_ [16]byte
}

// padEntry reports whether entries of S are allocated as padded[S]. What
// a decision touches should lie in the entry's first cache line (with many
// keys, each line is a miss), so entries should start on a line: entries
// in a size class that is a multiple of 64 bytes always do. One window or
// one bucket slice makes a 104-byte entry, padded into the 128-byte class;
// MaxPolicies windows make 176 bytes, padded into the 192-byte class.
func padEntry[S any]() bool {
	r := unsafe.Sizeof(entry[S]{}) % 64
	return r > 32 && r <= 48
}

// newEntry allocates a zero entry, cache-line aligned when t.pad is set.
func (t *table[S]) newEntry() *entry[S] {
	if t.pad {
		return &new(padded[S]).e
	}
	return new(entry[S])
}

// hash returns key's hash: seeded, since keys are chosen by clients.
func (t *table[S]) hash(key string) uint64 { return maphash.String(t.seed, key) & t.hashMask }

func newIndex[S any](n int) *index[S] {
	return &index[S]{slots: make([]slot[S], n), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
}

// home is the first slot probed for hash h. The multiplication mixes
// every bit of h into the top ones, which pick the slot: the low bits
// chose the shard and are the same for all its keys.
func (x *index[S]) home(h uint64) uint64 { return (h * 0x9E3779B97F4A7C15) >> x.shift }

// find returns key's entry, hashed h, or nil. Without the shard lock it
// may miss an entry that is being moved, and may return one that is being
// removed (which its lock holder then finds dead); it probes at most every
// slot once, so it ends whatever the index's writer does meanwhile.
func (x *index[S]) find(h uint64, key string) *entry[S] {
	m := uint64(len(x.slots) - 1)
	i := x.home(h)
	for range x.slots {
		sl := &x.slots[i]
		e := sl.e.Load()
		if e == nil {
			return nil
		}
		if sl.hash.Load() == h && e.is(key) {
			return e
		}
		i = (i + 1) & m
	}
	return nil
}

// insert indexes e, whose key, hashed h, is not indexed yet.
func (s *shardData[S]) insert(e *entry[S], h uint64) {
	x := s.idx.Load()
	if 8*(s.n+1) > 7*len(x.slots) {
		x = s.resize(2 * len(x.slots))
	}
	x.place(h, e)
}

// place puts e, hashed h, in the first free slot from its home.
func (x *index[S]) place(h uint64, e *entry[S]) {
	m := uint64(len(x.slots) - 1)
	i := x.home(h)
	for x.slots[i].e.Load() != nil {
		i = (i + 1) & m
	}
	x.slots[i].hash.Store(h)
	x.slots[i].e.Store(e)
}

// resize publishes an index of n slots (a power of two) holding the
// shard's entries, and returns it.
func (s *shardData[S]) resize(n int) *index[S] {
	old, x := s.idx.Load(), newIndex[S](n)
	for i := range old.slots {
		if e := old.slots[i].e.Load(); e != nil {
			x.place(old.slots[i].hash.Load(), e)
		}
	}
	s.idx.Store(x)
	return x
}

// unindex removes e from the index. The entries after it in its probe run
// move back (backward-shift deletion), so no tombstone is left behind and
// lookups never probe further than the live entries need.
func (s *shardData[S]) unindex(e *entry[S]) {
	x := s.idx.Load()
	m := uint64(len(x.slots) - 1)
	i := x.home(s.t.hash(e.key()))
	for x.slots[i].e.Load() != e {
		i = (i + 1) & m
	}
	for j := (i + 1) & m; ; j = (j + 1) & m {
		ej := x.slots[j].e.Load()
		if ej == nil {
			break
		}
		// The entry at j may fill the hole at i only if its home is not
		// in (i, j], cyclically: it must stay reachable from its home.
		hj := x.slots[j].hash.Load()
		if k := x.home(hj); (j-k)&m >= (j-i)&m {
			x.slots[i].hash.Store(hj)
			x.slots[i].e.Store(ej)
			i = j
		}
	}
	x.slots[i].e.Store(nil)
	x.slots[i].hash.Store(0)
}

// settle puts e on the list its hold says, after a decision changed
// e.until: the held list while it is denied past now, else the live one.
// Decisions call it after unlocking e, and it reads the latest until, so
// of two racing decisions the last settle leaves e where the last until
// says.
func (s *shardData[S]) settle(e *entry[S], now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.dead { // written under s.mu too
		return
	}
	switch held := e.until.Load() > now; {
	case held && !e.held.Load():
		s.live.unlink(e)
		s.held.pushFront(e)
		e.held.Store(true)
	case !held && e.held.Load():
		s.held.unlink(e)
		s.live.pushFront(e)
		e.held.Store(false)
	}
}

// release unlocks e after a decision at now that leaves its key denied
// until the clock reading until, or with quota when until is 0, and puts e
// on the list that says so (see settle) when that changed. A decision that
// says nothing of the key's quota (a cost above a Limit) calls e.unlock.
func (s *shardData[S]) release(e *entry[S], until, now int64) {
	settle := false
	switch {
	case until != 0:
		e.until.Store(until)
		settle = !e.held.Load()
	case e.until.Load() != 0:
		e.until.Store(0)
		settle = e.held.Load()
	}
	e.unlock()
	if settle {
		s.settle(e, now)
	}
}

// reclaim drops up to two idle entries from the cold end of each list:
// amortised O(1), and enough to drain a shard faster than one access can
// add to it. The lists are only approximately ordered by last use (hits
// never reorder them), so a busy cold end is moved to the front, and the
// idle entries behind it come up in turn.
func (s *shardData[S]) reclaim(now, idle int64) {
	for _, l := range []*list[S]{&s.live, &s.held} {
		for i := 0; i < 2 && l.tail != nil; i++ {
			old := l.tail
			old.mu.Lock()
			if now-old.lastUse >= idle {
				old.dead = true
				old.mu.Unlock()
				s.remove(l, old)
				continue
			}
			old.ref = false
			old.mu.Unlock()
			if old == l.head {
				break
			}
			l.unlink(old)
			l.pushFront(old)
		}
	}
	s.setIdleAt(idle)
}

// setIdleAt publishes the earliest clock reading at which a cold end may be
// idle. Decisions only move an entry's last use later, so the reading
// stays early enough until the next reclaim.
func (s *shardData[S]) setIdleAt(idle int64) {
	at := int64(math.MaxInt64)
	for _, e := range []*entry[S]{s.live.tail, s.held.tail} {
		if e != nil {
			e.mu.Lock()
			u := e.lastUse
			e.mu.Unlock()
			if u <= math.MaxInt64-idle {
				at = min(at, u+idle)
			}
		}
	}
	s.idleAt.Store(at)
}

// evict removes one entry from a full shard: the first unreferenced one
// from the cold end of the live list, moving referenced ones to the front
// and clearing their bits on the way (at most one pass); only when every
// key is held, the one held longest. Held entries whose hold has ended are
// first returned to the live list, and a live entry whose decision has
// just denied it (its settle is on the way) is passed over like a
// referenced one.
func (s *shardData[S]) evict(now int64) {
	for s.held.tail != nil && s.held.tail.until.Load() <= now {
		v := s.held.tail
		s.held.unlink(v)
		v.held.Store(false)
		s.live.pushBack(v) // cold: it was last denied a while ago
	}
	if s.live.tail == nil {
		// Holds end in any order (a heavier request waits longer), so one
		// that has ended may lie anywhere in the held list: such a key
		// has quota again and goes before any key still being denied.
		// Only a shard of held keys pays for this walk.
		for v := s.held.tail; v != nil; {
			prev := v.prev
			if v.until.Load() <= now {
				s.held.unlink(v)
				v.held.Store(false)
				s.live.pushBack(v)
			}
			v = prev
		}
	}
	l := &s.live
	if l.tail == nil {
		l = &s.held
	}
	for i := s.n; ; i-- {
		v := l.tail
		v.mu.Lock()
		if i <= 0 || !v.ref && (l == &s.held || v.until.Load() <= now) {
			v.dead = true
			v.mu.Unlock()
			s.remove(l, v)
			return
		}
		v.ref = false
		v.mu.Unlock()
		l.unlink(v)
		l.pushFront(v)
	}
}

// remove forgets e, which is on l and dead.
func (s *shardData[S]) remove(l *list[S], e *entry[S]) {
	l.unlink(e)
	s.unindex(e)
	s.n--
}

func (l *list[S]) pushFront(e *entry[S]) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
}

func (l *list[S]) pushBack(e *entry[S]) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *list[S]) unlink(e *entry[S]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *table[S]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}
