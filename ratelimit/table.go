package ratelimit

import (
	"hash/maphash"
	"strings"
	"sync"
	"unsafe"
)

// table is a sharded map from key to per-key state with an approximately
// least-recently-used list per shard. No lock covers more than one shard.
// Idle entries are reclaimed lazily from the cold end of each shard's list,
// and a full shard evicts the entry at its cold end, so memory is bounded
// without a background goroutine or a full scan.
//
// Scaling across cores: goroutines deciding for different keys share only
// the shard's lock word and its map's read-mostly memory. The hot part of
// each shard has a cache line of its own (shards are padded), and a decision
// for a key near the front of its list writes nothing but its own entry: an
// entry is moved to the front only once it has aged past a quarter of the
// shard's capacity in accesses. Relinking on every access would write the
// neighbouring entries (other keys, often used from other cores) and the
// list head on every decision. The price is that eviction is approximately
// LRU: an evicted key was not used in the last 3/4 × capacity − 1 accesses of
// its shard (exact LRU when a shard holds at most 3 keys).
type table[S any] struct {
	seed     maphash.Seed
	mask     uint64
	perShard int
	relink   uint64 // move an entry to the front once it is this many accesses old
	idle     int64  // an entry unused for this long (ns) holds no state
	shards   []shard[S]
}

type entry[S any] struct {
	key        string
	lastUse    int64  // clock reading of the last access (ns)
	linked     uint64 // shard tick when last moved to the front
	prev, next *entry[S]
	state      S
}

// shardHot is the part of a shard every decision writes.
type shardHot[S any] struct {
	mu         sync.Mutex
	tick       uint64 // accesses so far
	m          map[string]*entry[S]
	head, tail *entry[S] // most and least recently moved to the front
}

// shard pads shardHot to two cache lines (the adjacent-line prefetcher
// pairs lines), so neighbouring shards never share one.
type shard[S any] struct {
	shardHot[S]
	_ [128 - unsafe.Sizeof(shardHot[struct{}]{})%128]byte
}

func newTable[S any](shards, maxKeys int, idle int64) *table[S] {
	n := 1
	for n < shards {
		n <<= 1
	}
	per := (maxKeys + n - 1) / n
	if per < 1 {
		per = 1
	}
	t := &table[S]{
		seed: maphash.MakeSeed(), mask: uint64(n - 1), perShard: per, idle: idle,
		relink: uint64(per / 4), shards: make([]shard[S], n),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*entry[S])
	}
	return t
}

// get returns key's entry with its shard locked; the caller must unlock
// s.mu. created reports a new entry, whose state the caller initialises.
func (t *table[S]) get(key string, now int64) (s *shard[S], e *entry[S], created bool) {
	s = &t.shards[maphash.String(t.seed, key)&t.mask]
	s.mu.Lock()
	s.tick++
	// Reclaim at most two idle entries per access: amortised O(1), and
	// enough to drain a shard faster than one access can add to it. The
	// list is only approximately ordered by last use, so a cold entry that
	// is not idle stops the sweep until an access moves it to the front.
	for i := 0; i < 2; i++ {
		old := s.tail
		if old == nil || now-old.lastUse < t.idle {
			break
		}
		s.remove(old)
	}
	e = s.m[key]
	if e == nil {
		if len(s.m) >= t.perShard {
			s.remove(s.tail)
		}
		e = &entry[S]{key: strings.Clone(key)}
		s.m[e.key] = e
		created = true
	} else {
		if s.tick-e.linked > t.relink && s.head != e {
			s.unlink(e)
			s.pushFront(e)
		}
		e.lastUse = now
		return s, e, false
	}
	e.lastUse = now
	s.pushFront(e)
	return s, e, created
}

// pushFront links an unlinked e at the head and stamps it.
func (s *shard[S]) pushFront(e *entry[S]) {
	e.linked = s.tick
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	} else {
		s.tail = e
	}
	s.head = e
}

func (s *shard[S]) unlink(e *entry[S]) {
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

func (s *shard[S]) remove(e *entry[S]) {
	s.unlink(e)
	delete(s.m, e.key)
}

func (t *table[S]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
