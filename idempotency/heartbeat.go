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
// wakes every Lease/6 and renews each claim last renewed Lease/3 ago or
// more, so a claim is renewed at least every Lease/2. A fast handler thus
// costs a map insert and delete, not a timer.
type heartbeats struct {
	mu      sync.Mutex
	active  map[*heartbeat]struct{}
	running bool
}

// heartbeat is one running claim.
type heartbeat struct {
	m     *Middleware
	ctx   context.Context // the request's; detached when used
	key   string
	owner Owner

	// Guarded by heartbeats.mu.
	due      time.Time // next renewal
	renewing bool

	// mu is held across Extend, so that stop waits for a renewal in
	// progress: once stop returns, nothing touches the record but the
	// completion.
	mu      sync.Mutex
	stopped bool
}

func (m *Middleware) startHeartbeat(hb *heartbeat, ctx context.Context, key string, owner Owner) {
	hb.m, hb.ctx, hb.key, hb.owner = m, ctx, key, owner
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
			if !hb.renewing && !hb.due.After(now) {
				hb.renewing = true
				due = append(due, hb)
			}
		}
		s.mu.Unlock()
		for _, hb := range due {
			go hb.renew(every)
		}
	}
}

func (hb *heartbeat) renew(every time.Duration) {
	m, s := hb.m, &hb.m.beats
	hb.mu.Lock()
	stopped := hb.stopped
	var err error
	if !stopped {
		// The request's context may be canceled (the client left) while the
		// handler still works: renew on a detached context.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(hb.ctx), min(m.opts.StoreTimeout, every))
		err = m.store.Extend(ctx, hb.key, hb.owner, m.opts.Lease)
		cancel()
	}
	hb.mu.Unlock()
	lost := errors.Is(err, ErrNotOwner)
	switch {
	case stopped:
	case lost:
		m.log(hb.ctx, slog.LevelWarn, "idempotency: claim lost while the handler runs; another request may run it too", hb.key, err)
	case err != nil:
		m.log(hb.ctx, slog.LevelWarn, "idempotency: cannot renew lease; will retry", hb.key, err)
	}
	s.mu.Lock()
	hb.renewing = false
	if lost {
		delete(s.active, hb) // nothing left to renew
	} else if err == nil {
		hb.due = time.Now().Add(every)
	}
	s.mu.Unlock()
}
