package ratelimit

import (
	"hash/maphash"
	"strings"
	"sync"
)

// table is a sharded map from key to per-key state with a least-recently-used
// list per shard. No lock covers more than one shard. Idle entries are
// reclaimed lazily from the cold end of each shard's list on every access, and
// a full shard evicts its least recently used entry, so memory is bounded
// without a background goroutine or a full scan.
type table[S any] struct {
	seed     maphash.Seed
	mask     uint64
	perShard int
	idle     int64 // an entry unused for this long (ns) holds no state
	shards   []shard[S]
}

type entry[S any] struct {
	key        string
	lastUse    int64
	prev, next *entry[S]
	state      S
}

type shard[S any] struct {
	mu  sync.Mutex
	m   map[string]*entry[S]
	lru entry[S] // sentinel: lru.next is the most recent entry, lru.prev the least
	_   [64]byte // keep neighbouring shards' locks off one cache line
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
	t := &table[S]{seed: maphash.MakeSeed(), mask: uint64(n - 1), perShard: per, idle: idle, shards: make([]shard[S], n)}
	for i := range t.shards {
		s := &t.shards[i]
		s.m = make(map[string]*entry[S])
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	return t
}

// get returns key's entry with its shard locked; the caller must unlock
// s.mu. created reports a new entry, whose state the caller initialises.
func (t *table[S]) get(key string, now int64) (s *shard[S], e *entry[S], created bool) {
	s = &t.shards[maphash.String(t.seed, key)&t.mask]
	s.mu.Lock()
	// Reclaim at most two idle entries per access: amortised O(1), and
	// enough to drain a shard faster than one access can add to it.
	for i := 0; i < 2; i++ {
		old := s.lru.prev
		if old == &s.lru || now-old.lastUse < t.idle {
			break
		}
		s.remove(old)
	}
	e = s.m[key]
	if e == nil {
		if len(s.m) >= t.perShard {
			s.remove(s.lru.prev)
		}
		e = &entry[S]{key: strings.Clone(key)}
		s.m[e.key] = e
		created = true
	} else if s.lru.next == e {
		e.lastUse = now // already the most recent: skip relinking
		return s, e, false
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
	}
	e.lastUse = now
	e.next, e.prev = s.lru.next, &s.lru
	s.lru.next.prev = e
	s.lru.next = e
	return s, e, created
}

func (s *shard[S]) remove(e *entry[S]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
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
