package idempotency

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configure a [MemoryStore]. The zero value of every field
// is the default its comment gives; [NewMemoryStore] panics on a negative
// bound.
type MemoryOptions struct {
	// MaxRecords bounds the number of records, pending and completed.
	// Zero means 100,000. A record of a small response takes about 1 KiB
	// of heap, so a full default store about 100 MiB.
	MaxRecords int
	// MaxBytes bounds the sum of recorded response bodies and headers.
	// Zero means 64 MiB. It is checked when a record is claimed: requests
	// already running when it is reached still record their responses, so
	// the sum can exceed it by at most those responses (each bounded by the
	// middleware's Options.MaxResponseBytes).
	MaxBytes int64
	// Now returns the current time. Nil means time.Now, whose monotonic
	// reading keeps leases safe from wall-clock jumps. Tests inject a fake.
	Now func() time.Time
}

const memoryShards = 16

// MemoryStore is a [Store] that keeps records in the memory of one process.
//
// It protects only requests that reach this process: behind a load balancer
// with several replicas, a retry that lands on another replica runs again.
// Use it for single-instance services and tests, and a shared store such as
// package redisstore everywhere else.
//
// Memory is bounded by MaxRecords and MaxBytes, and each caller's share by
// the budget in ClaimRequest (the middleware's Options.MaxRecordsPerScope
// and MaxBytesPerScope), so no caller can take the whole store. When the
// store is full, a new claim first drops the completed records that were
// completed longest ago (about the oldest first, across the store): a busy
// store shortens its effective retention instead of refusing anyone, and a
// retry of a dropped record's request runs it again. A caller over its
// budget is refused before anything is dropped for it. Pending records are
// never dropped: only a store full of requests in flight answers
// [ErrStoreFull]. [MemoryStore.Evictions] counts the dropped records.
//
// How many requests a second a store sustains for its retention: the
// store keeps every response for the full retention as long as new keys
// arrive at no more than min(MaxRecords, MaxBytes / average recorded
// response) / Retention a second on average. With the defaults (100,000
// records, 64 MiB) and the middleware's 24 h retention, that is 1.16 new
// keys a second for responses under about 670 bytes (100,000 / 86,400 s),
// and 0.76 a second for 1 KiB responses (65,536 / 86,400 s). Beyond that
// rate the effective retention is the store's capacity divided by the
// rate: at 100 new keys a second, about 17 minutes. Raise MaxRecords and
// MaxBytes, or lower Options.Retention, to keep responses longer; watch
// Evictions.
//
// Expired records are removed as new claims arrive (a min-heap per shard,
// so no background goroutine and nothing to close). Its methods never
// block on I/O.
//
// Fences are the larger of the clock in microseconds since the Unix epoch
// and one more than the last fence the store issued, so they grow with
// every claim of the store, across releases, and across restarts while
// the clock does not step back.
//
// A MemoryStore is safe for concurrent use. Create it with
// [NewMemoryStore]; the zero value is not usable.
type MemoryStore struct {
	now        func() time.Time
	maxRecords int64
	maxBytes   int64
	seed       maphash.Seed
	records    atomic.Int64 // records held, across shards
	bytes      atomic.Int64 // response bytes held, across shards
	fence      atomic.Int64 // the last fence issued
	evictions  atomic.Int64

	shards [memoryShards]memoryShard
	scopes [memoryShards]scopeShard
}

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
	lease       time.Time // pending: lease deadline
	expires     time.Time // the record disappears at this time
	claimedTil  time.Time // expires as it was at the claim; immutable, read under the scope's lock
	resp        Response
	size        int64
	index       int   // in the shard's expiry heap
	inScope     links // in scope.claimed, guarded by the scope shard's lock
	inDone      links // in the shard's done list, guarded by the shard's lock
}

// NewMemoryStore returns a MemoryStore configured by o. It panics when a
// bound is negative.
func NewMemoryStore(o MemoryOptions) *MemoryStore {
	if o.MaxRecords < 0 || o.MaxBytes < 0 {
		panic("idempotency: MemoryOptions.MaxRecords and MaxBytes must not be negative")
	}
	if o.MaxRecords == 0 {
		o.MaxRecords = 100_000
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &MemoryStore{now: o.Now, maxRecords: int64(o.MaxRecords), maxBytes: o.MaxBytes, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].entries = make(map[string]*memoryEntry)
		s.scopes[i].usage = make(map[string]*scopeUsage)
	}
	return s
}

func (s *MemoryStore) shard(id string) *memoryShard {
	return &s.shards[maphash.String(s.seed, id)%memoryShards]
}

func (s *MemoryStore) scopeShard(scope string) *scopeShard {
	return &s.scopes[maphash.String(s.seed, scope)%memoryShards]
}

// Len returns the number of records held, expired ones included until they
// are swept.
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.entries)
		sh.mu.Unlock()
	}
	return n
}

// Evictions returns how many completed records the store has dropped
// before their retention ended, to make room for new claims.
func (s *MemoryStore) Evictions() int64 { return s.evictions.Load() }

// Sweep removes every expired record now. Claim already removes expired
// records of the shard it touches, and sweeps everything before it drops
// a record to make room, so calling Sweep is never needed for
// correctness; it only returns memory sooner.
func (s *MemoryStore) Sweep() {
	now := s.now()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.sweep(s, now)
		sh.mu.Unlock()
	}
}

func (s *MemoryStore) atCapacity() bool {
	return s.records.Load() >= s.maxRecords || s.bytes.Load() >= s.maxBytes
}

// makeRoom sweeps expired records and, while the store is still full,
// drops the completed record completed longest ago. The caller holds no
// shard lock.
func (s *MemoryStore) makeRoom() {
	s.Sweep()
	// A few drops at most: claims that arrive meanwhile take room too,
	// and create drops from its own shard if need be.
	for range memoryShards {
		if !s.atCapacity() {
			return
		}
		// The oldest head of the shards' done lists; a head may change
		// between the look and the drop, which only makes the choice
		// approximate.
		var oldest *memoryShard
		var at time.Time
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			if e := sh.done.head; e != nil && (oldest == nil || e.expires.Before(at)) {
				oldest, at = sh, e.expires
			}
			sh.mu.Unlock()
		}
		if oldest == nil {
			return // nothing but records in flight
		}
		oldest.mu.Lock()
		oldest.evictOne(s)
		oldest.mu.Unlock()
	}
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
	for len(sh.expiry) > 0 && !sh.expiry[0].expires.After(now) {
		sh.remove(s, sh.expiry[0])
	}
}

// remove deletes e from the store. The caller holds sh.mu.
func (sh *memoryShard) remove(s *MemoryStore, e *memoryEntry) {
	heap.Remove(&sh.expiry, e.index)
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
	if e != nil && !e.expires.After(now) {
		sh.remove(s, e)
		return nil
	}
	return e
}

// nextFence returns a fence greater than every fence issued before and
// than above, and at least the clock in microseconds.
func (s *MemoryStore) nextFence(now time.Time, above int64) int64 {
	for {
		last := s.fence.Load()
		f := max(now.UnixMicro(), last+1, above+1)
		if s.fence.CompareAndSwap(last, f) {
			return f
		}
	}
}

// Claim implements [Store].
func (s *MemoryStore) Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return ClaimResult{}, err
	}
	if req.Lease <= 0 || req.Retention <= 0 {
		return ClaimResult{}, errors.New("idempotency: Claim needs a positive lease and retention")
	}
	sh := s.shard(req.Key.ID)
	sh.mu.Lock()
	now := s.now()
	sh.sweep(s, now)
	e := sh.entries[req.Key.ID]
	// outside runs fn without holding sh, then looks the key up again.
	outside := func(fn func()) {
		sh.mu.Unlock()
		fn()
		sh.mu.Lock()
		now = s.now()
		sh.sweep(s, now)
		e = sh.entries[req.Key.ID]
	}
	if e == nil {
		// The budget first: a caller over it must not make the store drop
		// other callers' records (create checks again, under the locks
		// that make it exact).
		ss := s.scopeShard(req.Key.Scope)
		over := func() (ClaimResult, bool) {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			return ss.overBudget(req, now)
		}
		if _, ok := over(); ok {
			// Expired records of the scope may sit in shards no claim has
			// swept yet: sweep them all before refusing.
			outside(s.Sweep)
			if res, ok := over(); e == nil && ok {
				sh.mu.Unlock()
				return res, nil
			}
		}
		if e == nil && s.atCapacity() {
			outside(s.makeRoom) // room is made across shards
		}
	}
	defer sh.mu.Unlock()
	if e == nil {
		return s.create(sh, req, now)
	}
	switch {
	case e.fingerprint != req.Fingerprint:
		return ClaimResult{Outcome: Mismatch}, nil
	case e.state == Done:
		return ClaimResult{Outcome: Completed, Response: e.resp}, nil
	case e.lease.After(now):
		return ClaimResult{Outcome: InFlight, LeaseRemaining: e.lease.Sub(now)}, nil
	}
	tok := NewToken()
	e.token = tok
	e.fence = s.nextFence(now, e.fence)
	e.lease = now.Add(req.Lease)
	e.expires = now.Add(lifetime(req))
	heap.Fix(&sh.expiry, e.index)
	return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: e.fence}, Takeover: true}, nil
}

// create makes a new pending record, within the scope's budget and the
// store's bounds. The caller holds sh.mu.
func (s *MemoryStore) create(sh *memoryShard, req ClaimRequest, now time.Time) (ClaimResult, error) {
	ss := s.scopeShard(req.Key.Scope)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if res, over := ss.overBudget(req, now); over {
		return res, nil // checked first: a caller over its budget never makes others' records go
	}
	if s.atCapacity() {
		// Another claim took the room made for this one: drop from this
		// shard, whose lock is held (remove takes scope locks: release ours).
		ss.mu.Unlock()
		ok := sh.evictOne(s)
		ss.mu.Lock()
		if !ok || s.atCapacity() {
			return ClaimResult{}, ErrStoreFull
		}
		if res, over := ss.overBudget(req, now); over {
			return res, nil
		}
	}
	u := ss.usage[req.Key.Scope]
	if u == nil {
		u = &scopeUsage{scope: req.Key.Scope}
		ss.usage[req.Key.Scope] = u
	}
	tok := NewToken()
	e := &memoryEntry{
		id: req.Key.ID, scope: u, state: Pending, fingerprint: req.Fingerprint, token: tok,
		fence: s.nextFence(now, 0), lease: now.Add(req.Lease), expires: now.Add(lifetime(req)),
	}
	e.claimedTil = e.expires
	sh.entries[e.id] = e
	heap.Push(&sh.expiry, e)
	s.records.Add(1)
	u.records++
	u.claimed.pushBack(e, scopeLinks)
	return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: e.fence}}, nil
}

// overBudget reports whether req's scope holds its whole budget, with the
// OverBudget result to answer. The caller holds ss.mu.
func (ss *scopeShard) overBudget(req ClaimRequest, now time.Time) (ClaimResult, bool) {
	u := ss.usage[req.Key.Scope]
	if u == nil || !(req.MaxRecords > 0 && u.records >= req.MaxRecords || req.MaxBytes > 0 && u.bytes >= req.MaxBytes) {
		return ClaimResult{}, false
	}
	var wait time.Duration
	if h := u.claimed.head; h != nil {
		// About when the scope's first record goes: its expiry as claimed
		// (h.expires itself is guarded by another shard's lock).
		wait = max(h.claimedTil.Sub(now), 0)
	}
	return ClaimResult{Outcome: OverBudget, RetryAfter: wait}, true
}

// lifetime returns how long a pending record lives, Lease+Retention,
// saturated rather than wrapped around to a negative duration (which would
// expire the claim at once and let a concurrent retry run the request too).
func lifetime(req ClaimRequest) time.Duration {
	if req.Retention > math.MaxInt64-req.Lease {
		return math.MaxInt64
	}
	return req.Lease + req.Retention
}

// owned returns the pending entry held by owner, or ErrNotOwner.
func (sh *memoryShard) owned(s *MemoryStore, id string, owner Owner, now time.Time) (*memoryEntry, error) {
	e := sh.lookup(s, id, now)
	if e == nil || e.state != Pending || e.fence != owner.Fence || e.token != owner.Token {
		return nil, ErrNotOwner
	}
	return e, nil
}

// Extend implements [Store].
func (s *MemoryStore) Extend(ctx context.Context, key RecordKey, owner Owner, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(key.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, err := sh.owned(s, key.ID, owner, now)
	if err != nil {
		return err
	}
	e.lease = now.Add(lease)
	if e.expires.Before(e.lease) {
		e.expires = e.lease
		heap.Fix(&sh.expiry, e.index)
	}
	return nil
}

// Complete implements [Store].
func (s *MemoryStore) Complete(ctx context.Context, key RecordKey, owner Owner, resp Response, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	size := int64(len(resp.Body))
	for k, vs := range resp.Header {
		size += int64(len(k))
		for _, v := range vs {
			size += int64(len(v))
		}
	}
	sh := s.shard(key.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, err := sh.owned(s, key.ID, owner, now)
	if err != nil {
		return err
	}
	e.state = Done
	e.resp = resp
	e.size = size
	s.bytes.Add(size)
	ss := s.scopeShard(e.scope.scope)
	ss.mu.Lock()
	e.scope.bytes += size
	ss.mu.Unlock()
	e.expires = now.Add(retention)
	heap.Fix(&sh.expiry, e.index)
	sh.done.pushBack(e, doneLinks)
	return nil
}

// Release implements [Store].
func (s *MemoryStore) Release(ctx context.Context, key RecordKey, owner Owner) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(key.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, err := sh.owned(s, key.ID, owner, s.now())
	if err != nil {
		return err
	}
	sh.remove(s, e)
	return nil
}

// Get implements [Store].
func (s *MemoryStore) Get(ctx context.Context, key RecordKey) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	sh := s.shard(key.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e := sh.lookup(s, key.ID, now)
	if e == nil {
		return Record{}, ErrNotFound
	}
	rec := Record{State: e.state, Fingerprint: e.fingerprint, Fence: e.fence}
	if e.state == Pending {
		rec.LeaseRemaining = e.lease.Sub(now)
	} else {
		rec.Response = e.resp
	}
	return rec, nil
}

// NewToken returns a fresh owner token for Store implementations: 128
// random bits in hex, unique across processes with overwhelming
// probability. Tokens identify a claim between the middleware and its
// store and never reach clients, so they come from math/rand/v2 (ChaCha8,
// seeded by the runtime from the OS) rather than a system call per token.
func NewToken() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// links place an entry in one intrusive list.
type links struct{ prev, next *memoryEntry }

// The lists an entry can be in.
func scopeLinks(e *memoryEntry) *links { return &e.inScope }
func doneLinks(e *memoryEntry) *links  { return &e.inDone }

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

type expiryHeap []*memoryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*memoryEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

func (*MemoryStore) neverBlocks() {}

var _ Store = (*MemoryStore)(nil)
