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
// Lease/2. A fast handler thus costs a map insert and delete, not a timer
// or a goroutine.
type heartbeats struct {
	mu      sync.Mutex
	active  map[*heartbeat]struct{}
	running bool
}

// heartbeat is one running claim.
type heartbeat struct {
	m     *Middleware
	key   RecordKey
	owner Owner

	due time.Time // next renewal; guarded by heartbeats.mu

	// mu is held across Extend, so that stop waits for a renewal in
	// progress: once stop returns, nothing touches the record but the
	// completion.
	mu      sync.Mutex
	stopped bool
}

func (m *Middleware) startHeartbeat(hb *heartbeat, key RecordKey, owner Owner) {
	hb.m, hb.key, hb.owner = m, key, owner
	hb.due = time.Now().Add(m.opts.Lease / 3)
	s := &m.beats
	s.mu.Lock()
	s.active[hb] = struct{}{}
	if !s.running {
		s.running = true
		go m.beatLoop()
	}
	s.mu.Unlock()
}

// stop ends the heartbeat; it may be called more than once.
func (hb *heartbeat) stop() {
	s := &hb.m.beats
	s.mu.Lock()
	delete(s.active, hb)
	s.mu.Unlock()
	hb.mu.Lock()
	hb.stopped = true
	hb.mu.Unlock()
}

func (m *Middleware) beatLoop() {
	every := m.opts.Lease / 3
	t := time.NewTicker(max(every/2, time.Millisecond))
	defer t.Stop()
	s := &m.beats
	var due []*heartbeat
	for range t.C {
		now := time.Now()
		s.mu.Lock()
		if len(s.active) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		due = due[:0]
		for hb := range s.active {
			if !hb.due.After(now) {
				due = append(due, hb)
			}
		}
		s.mu.Unlock()
		if len(due) > 0 {
			m.renew(due, every)
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
func (m *Middleware) renew(due []*heartbeat, every time.Duration) {
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
			delete(s.active, hb) // nothing left to renew
		} else if err == nil {
			hb.due = time.Now().Add(every)
		}
		s.mu.Unlock()
	}
}
