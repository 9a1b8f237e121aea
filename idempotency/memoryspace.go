package idempotency

import (
	"container/heap"
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// The bookkeeping of a MemoryStore: shards of records with their expiry
// heaps and lists of completed records, the usage of each scope, and what
// makes room when the store is full.

type memoryShard struct {
	mu      sync.Mutex
	entries map[string]*memoryEntry
	expiry  expiryHeap
	done    entryList // completed entries, oldest completion first
	_       [64]byte  // keep shards on separate cache lines
}

// scopeShard holds the usage of the scopes that hash to it. Its lock is
// taken inside a memoryShard's, never the other way around.
type scopeShard struct {
	mu    sync.Mutex
	usage map[string]*scopeUsage
	_     [64]byte
}

// scopeUsage is what one scope holds. It exists while the scope holds a
// record, so made-up scopes whose claims are released leave nothing.
type scopeUsage struct {
	scope   string
	records int
	bytes   int64
	claimed entryList // the scope's records, oldest claim first
}

type memoryEntry struct {
	id          string
	scope       *scopeUsage
	state       State
	fingerprint string
	token       string
	fence       int64
	// Times, as offsets from the store's epoch (see offset), which keep
	// an entry small and its comparisons cheap.
	lease      int64 // pending: lease deadline
	expires    int64 // the record disappears at this time
	claimedTil int64 // expires as it was at the claim; immutable, read under the scope's lock
	resp       Response
	header     recordedHeader // the middleware's recorded headers, in place of resp.Header
	size       int64
	index      int   // in the shard's expiry heap
	inScope    links // in scope.claimed, guarded by the scope shard's lock
	inDone     links // in the shard's done list, guarded by the shard's lock
}

func (s *MemoryStore) shard(id string) *memoryShard {
	return &s.shards[maphash.String(s.seed, id)%memoryShards]
}

func (s *MemoryStore) scopeShard(scope string) *scopeShard {
	return &s.scopes[maphash.String(s.seed, scope)%memoryShards]
}

func (s *MemoryStore) atCapacity() bool {
	return s.records.Load() >= s.maxRecords || s.bytes.Load() >= s.maxBytes
}

// roomRounds bounds the rounds of room-making of one claim (see claim).
const roomRounds = 4

// errNoRoom is create's answer when the store is full and its shard holds
// no completed record to drop.
var errNoRoom = errors.New("idempotency: no room in the claim's shard")

// roomAcrossShards is makeRoom for a claim.
func (s *MemoryStore) roomAcrossShards() bool {
	ok := s.makeRoom()
	if s.roomMade != nil {
		s.roomMade()
	}
	return ok
}

// makeRoom sweeps expired records and, while the store is still full,
// drops the completed record completed longest ago. It reports false when
// the store is full of records in flight, which cannot be dropped. The
// caller holds no shard lock.
func (s *MemoryStore) makeRoom() bool {
	s.Sweep()
	// A few drops at most: claims that arrive meanwhile take room too,
	// and create drops from its own shard if need be.
	for range memoryShards {
		if !s.atCapacity() {
			return true
		}
		// The oldest head of the shards' done lists; a head may change
		// between the look and the drop, which only makes the choice
		// approximate.
		var oldest *memoryShard
		var at int64
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			if e := sh.done.head; e != nil && (oldest == nil || e.expires < at) {
				oldest, at = sh, e.expires
			}
			sh.mu.Unlock()
		}
		if oldest == nil {
			return false // nothing but records in flight
		}
		oldest.mu.Lock()
		oldest.evictOne(s)
		oldest.mu.Unlock()
	}
	return true
}

// evictOne drops the shard's oldest completed record, if any. The caller
// holds sh.mu.
func (sh *memoryShard) evictOne(s *MemoryStore) bool {
	e := sh.done.head
	if e == nil {
		return false
	}
	sh.remove(s, e)
	s.evictions.Add(1)
	return true
}

// sweep removes expired entries. The caller holds sh.mu.
func (sh *memoryShard) sweep(s *MemoryStore, now time.Time) {
	cutoff := s.offset(now)
	for len(sh.expiry) > 0 && sh.expiry[0].at <= cutoff {
		sh.remove(s, sh.expiry[0].e)
	}
}

// remove deletes e from the store. The caller holds sh.mu.
func (sh *memoryShard) remove(s *MemoryStore, e *memoryEntry) {
	sh.expiry.remove(e.index)
	delete(sh.entries, e.id)
	if e.state == Done {
		sh.done.remove(e, doneLinks)
	}
	s.records.Add(-1)
	s.bytes.Add(-e.size)
	ss := s.scopeShard(e.scope.scope)
	ss.mu.Lock()
	u := e.scope
	u.records--
	u.bytes -= e.size
	u.claimed.remove(e, scopeLinks)
	if u.records == 0 {
		delete(ss.usage, u.scope)
	}
	ss.mu.Unlock()
}

// lookup returns the live entry for id, removing it when it has expired.
func (sh *memoryShard) lookup(s *MemoryStore, id string, now time.Time) *memoryEntry {
	e := sh.entries[id]
	if e != nil && e.expires <= s.offset(now) {
		sh.remove(s, e)
		return nil
	}
	return e
}

// overBudget reports whether req's scope holds its whole budget, with the
// OverBudget result to answer. The caller holds ss.mu.
func (ss *scopeShard) overBudget(req ClaimRequest, now int64) (ClaimResult, bool) {
	u := ss.usage[req.Key.Scope]
	if u == nil || !(req.MaxRecords > 0 && u.records >= req.MaxRecords || req.MaxBytes > 0 && u.bytes >= req.MaxBytes) {
		return ClaimResult{}, false
	}
	var wait time.Duration
	if h := u.claimed.head; h != nil {
		// About when the scope's first record goes: its expiry as claimed
		// (h.expires itself is guarded by another shard's lock).
		wait = max(span(now, h.claimedTil), 0)
	}
	return ClaimResult{Outcome: OverBudget, RetryAfter: wait}, true
}

// owned returns the pending entry held by owner, or ErrNotOwner.
func (sh *memoryShard) owned(s *MemoryStore, id string, owner Owner, now time.Time) (*memoryEntry, error) {
	e := sh.lookup(s, id, now)
	if e == nil || e.state != Pending || e.fence != owner.Fence || e.token != owner.Token {
		return nil, ErrNotOwner
	}
	return e, nil
}

// links place an entry in one intrusive list.
type links struct{ prev, next *memoryEntry }

// The lists an entry can be in.
func scopeLinks(e *memoryEntry) *links { return &e.inScope }

func doneLinks(e *memoryEntry) *links { return &e.inDone }

// entryList is an intrusive doubly linked list of entries: no allocation
// per element.
type entryList struct{ head, tail *memoryEntry }

func (l *entryList) pushBack(e *memoryEntry, at func(*memoryEntry) *links) {
	ln := at(e)
	ln.prev, ln.next = l.tail, nil
	if l.tail != nil {
		at(l.tail).next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *entryList) remove(e *memoryEntry, at func(*memoryEntry) *links) {
	ln := at(e)
	if ln.prev != nil {
		at(ln.prev).next = ln.next
	} else {
		l.head = ln.next
	}
	if ln.next != nil {
		at(ln.next).prev = ln.prev
	} else {
		l.tail = ln.prev
	}
	ln.prev, ln.next = nil, nil
}

// offset returns t as the time since s.epoch, as entries keep their
// times: on the monotonic clock when both readings carry it, as
// time.Time's comparisons do, saturated beyond about 292 years.
func (s *MemoryStore) offset(t time.Time) int64 { return int64(t.Sub(s.epoch)) }

// span returns the time from one offset to another, saturated as
// time.Time.Sub does.
func span(from, to int64) time.Duration {
	d := to - from
	if (to > from) != (d > 0) { // overflowed
		if to > from {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return time.Duration(d)
}

// expiryHeap is a min-heap (container/heap) of a shard's entries by
// expiry. Each item carries its entry's expiry (an offset from the store's
// epoch), so that ordering reads no entry; e.index follows the item.
type expiryHeap []expiryItem

type expiryItem struct {
	at int64
	e  *memoryEntry
}

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.index = i
	h[j].e.index = j
}

func (h *expiryHeap) Push(x any) {
	it := x.(expiryItem)
	it.e.index = len(*h)
	*h = append(*h, it)
}

func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = expiryItem{}
	*h = old[:len(old)-1]
	return it
}

// push adds e, expiring at at. (heap.Push and heap.Remove would pass the
// item through Push and Pop as an any, an allocation each; appending or
// shrinking here and letting heap.Fix restore the order does not.)
func (h *expiryHeap) push(e *memoryEntry, at int64) {
	e.index = len(*h)
	*h = append(*h, expiryItem{at: at, e: e})
	heap.Fix(h, e.index)
}

// fix sets the expiry of the item at i and restores the order.
func (h *expiryHeap) fix(i int, at int64) {
	(*h)[i].at = at
	heap.Fix(h, i)
}

// remove deletes the item at i.
func (h *expiryHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	if i != n {
		old.Swap(i, n)
	}
	old[n] = expiryItem{}
	*h = old[:n]
	if i < n {
		heap.Fix(h, i)
	}
}
