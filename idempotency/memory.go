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

// MemoryOptions configure a [MemoryStore]. The zero value is the default.
type MemoryOptions struct {
	// MaxEntries bounds the number of records, pending and completed.
	// Zero means 100,000.
	MaxEntries int
	// MaxBytes bounds the sum of stored response bodies and headers.
	// Zero means 64 MiB. It is checked when a record is claimed: requests
	// already running when it is reached still record their responses, so
	// the sum can exceed it by at most those responses (each bounded by the
	// middleware's Options.MaxResponseBytes).
	MaxBytes int64
	// Now returns the current time. Nil means time.Now, whose monotonic
	// reading keeps leases safe from wall-clock jumps. Tests inject a fake.
	Now func() time.Time
}

func (o MemoryOptions) withDefaults() MemoryOptions {
	if o.MaxEntries == 0 {
		o.MaxEntries = 100_000
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

const memoryShards = 16

// MemoryStore is a [Store] that keeps records in the memory of one process.
//
// It protects only requests that reach this process: behind a load balancer
// with several replicas, a retry that lands on another replica runs again.
// Use it for single-instance services and tests, and a shared store such as
// package redisstore everywhere else.
//
// Memory is bounded: when MaxEntries or MaxBytes is reached, Claim returns
// [ErrStoreFull] (the middleware answers 503) rather than evict a record,
// because an evicted record means a request runs twice. Expired records are
// removed as new claims arrive (a min-heap per shard, so no background
// goroutine and nothing to close). Its methods never block on I/O.
//
// A MemoryStore is safe for concurrent use. Create it with [NewMemoryStore].
type MemoryStore struct {
	now        func() time.Time
	maxEntries int
	maxBytes   int64
	seed       maphash.Seed
	entries    atomic.Int64 // records held, across shards
	bytes      atomic.Int64 // response bytes held, across shards

	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu      sync.Mutex
	entries map[string]*memoryEntry
	expiry  expiryHeap
	_       [48]byte // keep shards on separate cache lines
}

type memoryEntry struct {
	key         string
	state       State
	fingerprint string
	token       string
	fence       int64
	lease       time.Time // pending: lease deadline
	expires     time.Time // the record disappears at this time
	resp        Response
	size        int64
	index       int // in the shard's expiry heap
}

// NewMemoryStore returns a MemoryStore configured by o. It fails when a
// bound is negative.
func NewMemoryStore(o MemoryOptions) (*MemoryStore, error) {
	if o.MaxEntries < 0 || o.MaxBytes < 0 {
		return nil, errors.New("idempotency: MemoryOptions bounds must not be negative")
	}
	o = o.withDefaults()
	s := &MemoryStore{now: o.Now, maxEntries: o.MaxEntries, maxBytes: o.MaxBytes, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].entries = make(map[string]*memoryEntry)
	}
	return s, nil
}

func (s *MemoryStore) shard(key string) *memoryShard {
	return &s.shards[maphash.String(s.seed, key)%memoryShards]
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

// Sweep removes every expired record now. Claim already removes expired
// records of the shard it touches, and sweeps everything before it reports
// ErrStoreFull, so calling Sweep is never needed for correctness; it only
// returns memory sooner.
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
	return s.entries.Load() >= int64(s.maxEntries) || s.bytes.Load() >= s.maxBytes
}

// sweep removes expired entries. The caller holds sh.mu.
func (sh *memoryShard) sweep(s *MemoryStore, now time.Time) {
	for len(sh.expiry) > 0 && !sh.expiry[0].expires.After(now) {
		sh.remove(s, sh.expiry[0])
	}
}

func (sh *memoryShard) remove(s *MemoryStore, e *memoryEntry) {
	heap.Remove(&sh.expiry, e.index)
	delete(sh.entries, e.key)
	s.entries.Add(-1)
	s.bytes.Add(-e.size)
}

// lookup returns the live entry for key, removing it when it has expired.
func (sh *memoryShard) lookup(s *MemoryStore, key string, now time.Time) *memoryEntry {
	e := sh.entries[key]
	if e != nil && !e.expires.After(now) {
		sh.remove(s, e)
		return nil
	}
	return e
}

// Claim implements [Store].
func (s *MemoryStore) Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return ClaimResult{}, err
	}
	if req.Lease <= 0 || req.Retention <= 0 {
		return ClaimResult{}, errors.New("idempotency: Claim needs a positive lease and retention")
	}
	if s.atCapacity() {
		s.Sweep()
	}
	sh := s.shard(req.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	sh.sweep(s, now)
	e := sh.entries[req.Key]
	if e == nil {
		if s.atCapacity() {
			return ClaimResult{}, ErrStoreFull
		}
		tok := NewToken()
		e = &memoryEntry{
			key: req.Key, state: Pending, fingerprint: req.Fingerprint, token: tok, fence: 1,
			lease: now.Add(req.Lease), expires: now.Add(lifetime(req)),
		}
		sh.entries[req.Key] = e
		heap.Push(&sh.expiry, e)
		s.entries.Add(1)
		return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: 1}}, nil
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
	e.fence++
	e.lease = now.Add(req.Lease)
	e.expires = now.Add(lifetime(req))
	heap.Fix(&sh.expiry, e.index)
	return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: e.fence}, Takeover: true}, nil
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
func (sh *memoryShard) owned(s *MemoryStore, key string, owner Owner, now time.Time) (*memoryEntry, error) {
	e := sh.lookup(s, key, now)
	if e == nil || e.state != Pending || e.fence != owner.Fence || e.token != owner.Token {
		return nil, ErrNotOwner
	}
	return e, nil
}

// Extend implements [Store].
func (s *MemoryStore) Extend(ctx context.Context, key string, owner Owner, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, err := sh.owned(s, key, owner, now)
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
func (s *MemoryStore) Complete(ctx context.Context, key string, owner Owner, resp Response, retention time.Duration) error {
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
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, err := sh.owned(s, key, owner, now)
	if err != nil {
		return err
	}
	e.state = Done
	e.resp = resp
	e.size = size
	s.bytes.Add(size)
	e.expires = now.Add(retention)
	heap.Fix(&sh.expiry, e.index)
	return nil
}

// Release implements [Store].
func (s *MemoryStore) Release(ctx context.Context, key string, owner Owner) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, err := sh.owned(s, key, owner, s.now())
	if err != nil {
		return err
	}
	sh.remove(s, e)
	return nil
}

// Get implements [Store].
func (s *MemoryStore) Get(ctx context.Context, key string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e := sh.lookup(s, key, now)
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
