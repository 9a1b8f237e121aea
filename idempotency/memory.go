package idempotency

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"
)

// MemoryOptions configure a [MemoryStore]. The zero value of every field
// is the default its comment gives; [NewMemoryStore] panics on a negative
// bound.
type MemoryOptions struct {
	// MaxRecords bounds the number of records, pending and completed.
	// Zero means 100,000. A record of a small response (two recorded
	// headers, an 80-byte body) takes about 650 bytes of heap, so a full
	// default store about 65 MB.
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
	roomMade   func()    // nil; tests run it after each makeRoom of a claim
	epoch      time.Time // now() when the store was made; entries keep their times as offsets from it
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
	s := &MemoryStore{now: o.Now, epoch: o.Now(), maxRecords: int64(o.MaxRecords), maxBytes: o.MaxBytes, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].entries = make(map[string]*memoryEntry)
		s.scopes[i].usage = make(map[string]*scopeUsage)
	}
	return s
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
	var header recordedHeader
	res, err := s.claim(ctx, req, &header)
	if res.Outcome == Completed {
		res.Response = copyResponse(res.Response, header)
	}
	return res, err
}

// copyResponse returns the stored response resp (with header, when the
// middleware recorded it as a field list) with a header and body of its
// own: a caller of Get or Claim that changes them in place must not change
// the record that later replays read.
func copyResponse(resp Response, header recordedHeader) Response {
	if header != nil {
		resp.Header = header.httpHeader()
	} else {
		resp.Header = resp.Header.Clone()
	}
	resp.Body = bytes.Clone(resp.Body)
	return resp
}

// claim is Claim for the middleware: the headers of a completed record
// that the middleware recorded are set in *header as they were recorded,
// and not in the result's Response.Header, which would cost a map.
func (s *MemoryStore) claim(ctx context.Context, req ClaimRequest, header *recordedHeader) (ClaimResult, error) {
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
			return ss.overBudget(req, s.offset(now))
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
			outside(func() { s.roomAcrossShards() })
		}
	}
	defer sh.mu.Unlock()
	// Claims that run meanwhile may take the room made for this one, and
	// create drops only from its own shard: while completed records
	// remain elsewhere, make room again (each round drops some) rather
	// than refuse. Only a store full of records in flight is full.
	for round := 0; e == nil; round++ {
		res, err := s.create(sh, req, now)
		if err != errNoRoom {
			return res, err
		}
		room := false
		if round < roomRounds {
			outside(func() { room = s.roomAcrossShards() })
		}
		if !room {
			return ClaimResult{}, ErrStoreFull
		}
	}
	switch {
	case e.fingerprint != req.Fingerprint:
		return ClaimResult{Outcome: Mismatch}, nil
	case e.state == Done:
		*header = e.header
		return ClaimResult{Outcome: Completed, Response: e.resp}, nil
	case e.lease > s.offset(now):
		return ClaimResult{Outcome: InFlight, LeaseRemaining: span(s.offset(now), e.lease)}, nil
	}
	tok := NewToken()
	e.token = tok
	e.fence = s.nextFence(now, e.fence)
	e.lease = s.offset(now.Add(req.Lease))
	e.expires = s.offset(now.Add(lifetime(req)))
	sh.expiry.fix(e.index, e.expires)
	return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: e.fence}, Takeover: true}, nil
}

// create makes a new pending record, within the scope's budget and the
// store's bounds. The caller holds sh.mu.
func (s *MemoryStore) create(sh *memoryShard, req ClaimRequest, now time.Time) (ClaimResult, error) {
	ss := s.scopeShard(req.Key.Scope)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if res, over := ss.overBudget(req, s.offset(now)); over {
		return res, nil // checked first: a caller over its budget never makes others' records go
	}
	if s.atCapacity() {
		// Another claim took the room made for this one: drop from this
		// shard, whose lock is held (remove takes scope locks: release ours).
		ss.mu.Unlock()
		ok := sh.evictOne(s)
		ss.mu.Lock()
		if !ok || s.atCapacity() {
			return ClaimResult{}, errNoRoom
		}
		if res, over := ss.overBudget(req, s.offset(now)); over {
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
		fence: s.nextFence(now, 0), lease: s.offset(now.Add(req.Lease)), expires: s.offset(now.Add(lifetime(req))),
	}
	e.claimedTil = e.expires
	sh.entries[e.id] = e
	sh.expiry.push(e, e.expires)
	s.records.Add(1)
	u.records++
	u.claimed.pushBack(e, scopeLinks)
	return ClaimResult{Outcome: Claimed, Owner: Owner{Token: tok, Fence: e.fence}}, nil
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
	e.lease = s.offset(now.Add(lease))
	if e.expires < e.lease {
		e.expires = e.lease
		sh.expiry.fix(e.index, e.expires)
	}
	return nil
}

// Complete implements [Store].
func (s *MemoryStore) Complete(ctx context.Context, key RecordKey, owner Owner, resp Response, retention time.Duration) error {
	// The record keeps copies: the caller may reuse its header and body.
	resp.Header, resp.Body = resp.Header.Clone(), bytes.Clone(resp.Body)
	return s.complete(ctx, key, owner, resp, nil, retention)
}

// complete is Complete for the middleware, which passes the headers it
// recorded in header (and none in resp.Header), to be kept as they are.
func (s *MemoryStore) complete(ctx context.Context, key RecordKey, owner Owner, resp Response, header recordedHeader, retention time.Duration) error {
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
	for _, f := range header {
		size += int64(len(f.name))
		for _, v := range f.values {
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
	e.header = header
	e.size = size
	s.bytes.Add(size)
	ss := s.scopeShard(e.scope.scope)
	ss.mu.Lock()
	e.scope.bytes += size
	ss.mu.Unlock()
	e.expires = s.offset(now.Add(retention))
	sh.expiry.fix(e.index, e.expires)
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
		rec.LeaseRemaining = span(s.offset(now), e.lease)
	} else {
		rec.Response = copyResponse(e.resp, e.header)
	}
	return rec, nil
}

func (*MemoryStore) neverBlocks() {}

var _ Store = (*MemoryStore)(nil)
