package idempotency

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// heartbeats renews the leases of a Middleware's running claims. One
// goroutine, started with the first claim and ended when none is left,
// wakes every Lease/6 and renews, one after the other, each claim last
// renewed Lease/3 ago or more, so a claim is renewed at least every
// Lease/2. A fast handler thus costs linking its heartbeat into a list
// and unlinking it: no timer, goroutine, map update or clock reading.
type heartbeats struct {
	mu      sync.Mutex
	head    *heartbeat // the running claims, in no particular order
	running bool
	// While the loop runs: when it started, and how long after that it
	// last woke. Renewals are due at offsets from epoch, which keeps a
	// heartbeat small.
	epoch time.Time
	woke  time.Duration
}

// link adds hb to the running claims. The caller holds s.mu.
func (s *heartbeats) link(hb *heartbeat) {
	hb.prev, hb.next, hb.listed = nil, s.head, true
	if s.head != nil {
		s.head.prev = hb
	}
	s.head = hb
}

// unlink removes hb from the running claims, if it is there. The caller
// holds s.mu.
func (s *heartbeats) unlink(hb *heartbeat) {
	if !hb.listed {
		return
	}
	if hb.prev != nil {
		hb.prev.next = hb.next
	} else {
		s.head = hb.next
	}
	if hb.next != nil {
		hb.next.prev = hb.prev
	}
	hb.prev, hb.next, hb.listed = nil, nil, false
}

// heartbeat is one running claim.
type heartbeat struct {
	key   RecordKey
	owner Owner

	// Guarded by heartbeats.mu: the next renewal, and the links of the
	// list of running claims.
	due        time.Duration // since heartbeats.epoch
	prev, next *heartbeat

	// mu is held across Extend, so that stop waits for a renewal in
	// progress: once stop returns, nothing touches the record but the
	// completion.
	mu      sync.Mutex
	stopped bool // guarded by mu
	listed  bool // guarded by heartbeats.mu
}

func (m *Middleware) startHeartbeat(hb *heartbeat, key RecordKey, owner Owner) {
	hb.key, hb.owner = key, owner
	s := &m.beats
	s.mu.Lock()
	if !s.running {
		s.running = true
		s.epoch, s.woke = time.Now(), 0
		go m.beatLoop(s.epoch)
	}
	// The claim was made after the loop last woke: a first renewal due
	// Lease/3 after that comes no later than Lease/3 after the claim
	// (earlier when the loop woke a while ago), without reading the clock
	// for every request.
	hb.due = s.woke + m.opts.Lease/3
	s.link(hb)
	s.mu.Unlock()
}

// stop ends hb; it may be called more than once.
func (s *heartbeats) stop(hb *heartbeat) {
	s.mu.Lock()
	s.unlink(hb)
	s.mu.Unlock()
	hb.mu.Lock()
	hb.stopped = true
	hb.mu.Unlock()
}

func (m *Middleware) beatLoop(epoch time.Time) {
	every := m.opts.Lease / 3
	t := time.NewTicker(max(every/2, time.Millisecond))
	defer t.Stop()
	s := &m.beats
	var due []*heartbeat
	for range t.C {
		now := time.Since(epoch)
		s.mu.Lock()
		s.woke = now
		if s.head == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		due = due[:0]
		for hb := s.head; hb != nil; hb = hb.next {
			if hb.due <= now {
				due = append(due, hb)
			}
		}
		s.mu.Unlock()
		if len(due) > 0 {
			m.renew(due, every, epoch)
		}
		clear(due) // do not keep finished requests alive until the next tick
	}
}

// renew extends the leases of due, one after the other, within one bound
// of every (Lease/3) for the whole batch, so a slow store delays the next
// batch by at most that. A claim whose renewal fails is tried again on the
// next tick; one that was lost is dropped. The renewals run on a context
// of their own: the requests' may be canceled (the client left) while
// their handlers still work.
func (m *Middleware) renew(due []*heartbeat, every time.Duration, epoch time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), every)
	defer cancel()
	s := &m.beats
	for _, hb := range due {
		hb.mu.Lock()
		stopped := hb.stopped
		var err error
		if !stopped {
			cctx, ccancel := ctx, context.CancelFunc(func() {})
			if !m.local {
				cctx, ccancel = context.WithTimeout(ctx, m.opts.StoreTimeout)
			}
			err = m.store.Extend(cctx, hb.key, hb.owner, m.opts.Lease)
			ccancel()
		}
		hb.mu.Unlock()
		lost := errors.Is(err, ErrNotOwner)
		switch {
		case stopped:
		case lost:
			m.log(ctx, slog.LevelWarn, "idempotency: claim lost while the handler runs; another request may run it too", hb.key, err)
		case err != nil:
			m.log(ctx, slog.LevelWarn, "idempotency: cannot renew lease; will retry", hb.key, err)
		}
		s.mu.Lock()
		if lost {
			s.unlink(hb) // nothing left to renew
		} else if err == nil {
			hb.due = time.Since(epoch) + every
		}
		s.mu.Unlock()
	}
}
