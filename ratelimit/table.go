package ratelimit

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"unsafe"
)

// table is a sharded map from key to per-key state, each shard an
// open-addressing index of entries under one mutex, with an approximately least-recently-used list per
// shard. No lock covers more than one shard. A decision holds its key's
// shard lock from the lookup to the end of the update: the critical
// section is a map lookup and a few arithmetic operations.
//
// Idle entries are reclaimed lazily from the cold end of each shard's
// lists, and a full shard evicts a cold entry, so memory is bounded without
// a background goroutine or a full scan. Recency is tracked CLOCK-style
// (second chance): an access sets the entry's referenced bit; to evict, the
// shard moves referenced entries from the cold end to the front, clearing
// their bits, until it finds one that is not referenced.
//
// Entries whose key is being denied (held, see hold) live on a second list
// and are evicted only when the shard holds nothing else: forgetting a
// denied key would hand it a fresh quota, so a client that floods the
// table with new keys cannot reset its own exhausted key. The keys evicted
// instead had quota left, so forgetting them costs at most what they had
// already used.
//
// A plain Go map under a shard lock was measured against a lock-free,
// set-associative slot cache in front of the map (entries with their own
// locks): the cache was not faster for a hot key nor for 1k to 1M live
// keys in scattered order (BenchmarkTable; figures in the README). The
// shard's own index replaced the map later: with 100k keys and more a
// decision is a few cache misses, and it takes one fewer (see
// shardData.slots).
type table[S any] struct {
	seed     maphash.Seed
	hashMask uint64 // all ones; tests narrow it to make keys collide
	mask     uint64
	idle     int64 // an entry unused for this long (ns) holds no state
	pad      bool  // allocate entries as padded[S] (see newEntry)
	shards   []shard[S]
}

// entry is one key's state, guarded by its shard's lock (all of it,
// lastUse too: an atomic store would be one more locked instruction per
// decision). A decision reads and writes only the
// first 64 bytes of an entry whose state is small (the key, when inline,
// its last use and a sliding window's first policy): with many keys, each
// cache line a decision touches is a miss. The entry is kept small for
// the same reason (96 bytes with one window or one bucket slice): it does
// not store its key's hash, which only removal needs and recomputes, and a
// long key costs a pointer, not a string header. With 100k keys and more,
// a decision's lines mostly come from memory, and the fewer bytes the
// table spans, the more of them a cache holds.
type entry[S any] struct {
	klen    uint8 // length of the key in inline, or longKey
	ref     bool  // accessed since the eviction sweep last passed
	held    bool  // on the shard's held list
	inline  [inlineKey]byte
	lastUse int64 // clock reading of the last access (ns)
	state   S
	long    *string   // the key, when longer than inlineKey
	until   int64     // held until this clock reading
	prev    *entry[S] // in the shard's live or held list
	next    *entry[S]
}

// inlineKey is the longest key stored inside its entry, which then needs
// no allocation of its own and whose comparison reads no other cache line;
// client-address keys ("ip:2001:db8:1:2::/64", at most 27 bytes) fit.
const inlineKey = 29

// longKey in entry.klen marks a key kept in entry.long.
const longKey = 0xFF

// is reports whether e is key's entry.
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

// list is a doubly linked list of entries, most recently added at head.
type list[S any] struct {
	head, tail *entry[S]
}

type shardData[S any] struct {
	mu sync.Mutex
	t  *table[S] // the shard's table, for its hash (entries do not keep theirs)
	// slots indexes the entries by hash, open addressing with linear
	// probing: a lookup reads one slot's line (its hash, then its entry)
	// where a Go map reads a control word and a slot in separate lines.
	// Its length is a power of two, at most seven eighths full (a hit
	// compares hashes in the slots, 4 to a line, before it reads an entry).
	slots    []slot[S]
	shift    uint8   // 64 - log2(len(slots))
	n        int     // entries
	live     list[S] // keys with quota left
	held     list[S] // keys being denied
	capacity int     // the most keys slots holds
	idleAt   int64   // no entry is idle before this clock reading
}

// slot is one place in a shard's index: an entry and its key's hash (nil
// e: free).
type slot[S any] struct {
	hash uint64
	e    *entry[S]
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
		s.resize(8)
		s.idleAt = math.MaxInt64
	}
	return t
}

// get returns key's entry and its shard, locked; the caller must call
// s.unlock. created reports a new entry, whose state the caller
// initialises. The caller must decide at e.lastUse, not at now: they
// differ when another goroutine that read the clock later took the lock
// first, and deciding at the earlier reading would move the entry's state
// back in time (a sliding window would take the newer window for an old
// one and reset it; a token bucket would refill the same interval twice).
func (t *table[S]) get(key string, now int64) (e *entry[S], s *shardData[S], created bool) {
	h := t.hash(key)
	s = &t.shards[h&t.mask].shardData
	s.mu.Lock()
	if now >= s.idleAt {
		s.reclaim(now, t.idle)
	}
	if e = s.find(h, key); e != nil {
		if now > e.lastUse {
			e.lastUse = now
		}
		e.ref = true
		return e, s, false
	}
	if s.n >= s.capacity {
		s.evict(now)
	}
	e = t.newEntry()
	if len(key) <= inlineKey {
		e.klen = uint8(copy(e.inline[:], key))
	} else {
		long := strings.Clone(key)
		e.klen, e.long = longKey, &long
	}
	e.lastUse = now
	s.insert(e, h)
	s.n++
	s.live.pushFront(e)
	if s.idleAt == math.MaxInt64 {
		s.setIdleAt(t.idle)
	}
	return e, s, true
}

// padded is an entry allocated in the next size class: see newEntry.
type padded[S any] struct {
	e entry[S]
	_ [16]byte
}

// padEntry reports whether entries of S are allocated as padded[S]. A
// decision touches only an entry's first 64 bytes, which should lie in one
// cache line (with many keys, each line is a miss) and at worst in one
// pair of lines (the adjacent-line prefetcher fetches both). Entries in a
// size class that is a multiple of 64 bytes always start on a line, and in
// the 96-byte class every other one does, the rest straddling two lines of
// one pair half the time; in the 112- or 176-byte classes most straddle, so
// those are padded into the next class up (128 or 192 bytes).
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

// home is the first slot probed for hash h. The multiplication mixes
// every bit of h into the top ones, which pick the slot: the low bits
// chose the shard and are the same for all its keys.
func (s *shardData[S]) home(h uint64) uint64 { return (h * 0x9E3779B97F4A7C15) >> s.shift }

// find returns key's entry, hashed h, or nil.
func (s *shardData[S]) find(h uint64, key string) *entry[S] {
	m := uint64(len(s.slots) - 1)
	for i := s.home(h); ; i = (i + 1) & m {
		sl := &s.slots[i]
		if sl.e == nil {
			return nil
		}
		if sl.hash == h && sl.e.is(key) {
			return sl.e
		}
	}
}

// insert indexes e, whose key, hashed h, is not indexed yet.
func (s *shardData[S]) insert(e *entry[S], h uint64) {
	if 8*(s.n+1) > 7*len(s.slots) {
		s.resize(2 * len(s.slots))
	}
	s.place(slot[S]{h, e})
}

// place puts sl in the first free slot from its home.
func (s *shardData[S]) place(sl slot[S]) {
	m := uint64(len(s.slots) - 1)
	i := s.home(sl.hash)
	for s.slots[i].e != nil {
		i = (i + 1) & m
	}
	s.slots[i] = sl
}

// resize replaces the index by one of n slots (a power of two).
func (s *shardData[S]) resize(n int) {
	old := s.slots
	s.slots = make([]slot[S], n)
	s.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	for _, sl := range old {
		if sl.e != nil {
			s.place(sl)
		}
	}
}

// unindex removes e from the index. The entries after it in its probe run
// move back (backward-shift deletion), so no tombstone is left behind and
// lookups never probe further than the live entries need.
func (s *shardData[S]) unindex(e *entry[S]) {
	m := uint64(len(s.slots) - 1)
	i := s.home(s.t.hash(e.key()))
	for s.slots[i].e != e {
		i = (i + 1) & m
	}
	for j := (i + 1) & m; s.slots[j].e != nil; j = (j + 1) & m {
		// The entry at j may fill the hole at i only if its home is not
		// in (i, j], cyclically: it must stay reachable from its home.
		if k := s.home(s.slots[j].hash); (j-k)&m >= (j-i)&m {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = slot[S]{}
}

// unlock releases the lock get took.
func (s *shardData[S]) unlock() { s.mu.Unlock() }

// hold records, with s locked, that the key of e, one of s's entries, is
// denied until the clock reading until (or, for until <= now, that it has
// quota again).
func (s *shardData[S]) hold(e *entry[S], now, until int64) {
	if until > now {
		e.until = until
		if !e.held {
			s.live.unlink(e)
			s.held.pushFront(e)
			e.held = true
		}
	} else if e.held {
		s.held.unlink(e)
		s.live.pushFront(e)
		e.held = false
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
			if now-old.lastUse >= idle {
				s.remove(l, old)
				continue
			}
			if old == l.head {
				break
			}
			old.ref = false
			l.unlink(old)
			l.pushFront(old)
		}
	}
	s.setIdleAt(idle)
}

// setIdleAt publishes the earliest clock reading at which a cold end may be
// idle.
func (s *shardData[S]) setIdleAt(idle int64) {
	at := int64(math.MaxInt64)
	for _, e := range []*entry[S]{s.live.tail, s.held.tail} {
		if e != nil {
			if u := e.lastUse; u <= math.MaxInt64-idle {
				at = min(at, u+idle)
			}
		}
	}
	s.idleAt = at
}

// evict removes one entry from a full shard: the first unreferenced one
// from the cold end of the live list, moving referenced ones to the front
// and clearing their bits on the way (at most one pass); only when every
// key is held, the one held longest. Held entries whose hold has ended are
// first returned to the live list.
func (s *shardData[S]) evict(now int64) {
	for s.held.tail != nil && s.held.tail.until <= now {
		v := s.held.tail
		s.held.unlink(v)
		v.held = false
		s.live.pushBack(v) // cold: it was last denied a while ago
	}
	l := &s.live
	if l.tail == nil {
		l = &s.held
	}
	for i := s.n; i > 0 && l.tail.ref; i-- {
		v := l.tail
		v.ref = false
		l.unlink(v)
		l.pushFront(v)
	}
	s.remove(l, l.tail)
}

// remove forgets e, which is on l.
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
