package health

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// A check's state. Probes read its latest result with one atomic load; the
// mutex guards only the hand-over of runs and results, and is never held
// while the check's function runs.
type check struct {
	reg      *Registry
	name     string
	fn       CheckFunc
	probes   Probe
	optional bool
	timeout  time.Duration
	ttl      time.Duration // on-demand: result reuse; <0 none
	interval time.Duration // >0: background
	tel      checkTelemetry

	last      atomic.Pointer[result] // latest result; nil before the first
	startedUp atomic.Pointer[result] // the first passing result seen by the Startup probe

	mu      sync.Mutex
	running *run   // the outstanding run, at most one
	status  Status // status of last, for change detection
	version uint64 // counts status changes

	notifyMu sync.Mutex
	notified uint64 // version of the last change handed to OnChange
}

// result is one observation of a check. It is immutable once published.
type result struct {
	err error
	at  time.Time
	dur time.Duration
}

// One execution of a check's function. Its context is cancelled when the
// function returns, so ctx.Done() is the single thing waiters select on:
// closed either when the run finished or when its deadline passed.
type run struct {
	ctx      context.Context
	cancel   context.CancelFunc
	start    time.Time
	res      *result // under check.mu: the run's result once finished
	finished bool    // under check.mu
	timedOut bool    // under check.mu: reported as ErrTimeout at least once
}

// notRun is the result of a background check before its first run.
var notRun = &result{err: ErrNotRun}

// staleAfter is the age past which a background result is stale: two
// intervals plus the timeout, so one late or slow run is not enough.
func (c *check) staleAfter() time.Duration { return 2*c.interval + c.timeout }

// fresh returns c's latest result when a probe at now may use it without
// running the check.
func (c *check) fresh(now time.Time) *result {
	res := c.last.Load()
	if res == nil {
		if c.interval > 0 {
			return notRun
		}
		return nil
	}
	if c.interval > 0 {
		if now.Sub(res.at) > c.staleAfter() {
			return &result{err: ErrStale, at: res.at, dur: res.dur}
		}
		return res
	}
	if c.ttl > 0 && now.Sub(res.at) < c.ttl {
		return res
	}
	return nil
}

// poll returns c's result for a probe at now, or the run to wait for. It
// starts a run only when none is outstanding: a probe that finds one
// running joins it, so a check that ignores its deadline has at most one
// goroutine however often it is polled.
func (c *check) poll(now time.Time) (*result, *run) {
	if res := c.fresh(now); res != nil {
		return res, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if res := c.fresh(now); res != nil {
		return res, nil
	}
	r := c.running
	if r == nil {
		r = c.startLocked()
	}
	return nil, r
}

// startLocked starts a run of c's function on its own goroutine.
func (c *check) startLocked() *run {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	r := &run{ctx: ctx, cancel: cancel, start: time.Now()}
	c.running = r
	go c.execute(r)
	return r
}

// execute runs the check's function and publishes its result, unless the
// run was already reported as timed out.
func (c *check) execute(r *run) {
	err := c.call(r.ctx)
	now := time.Now()
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) && (err == nil || errors.Is(err, context.DeadlineExceeded)) {
		err = ErrTimeout // returned after its deadline, or because of it
	}
	res := &result{err: err, at: now, dur: now.Sub(r.start)}
	c.mu.Lock()
	c.running = nil
	r.finished = true
	r.res = res
	var ch change
	// Not after it timed out (already reported), nor when Close cancelled
	// it: the error would be Close's, not the dependency's.
	report := !r.timedOut && !errors.Is(r.ctx.Err(), context.Canceled)
	if report {
		ch = c.storeLocked(res)
	}
	c.mu.Unlock()
	if report {
		c.tel.record(res)
		c.notify(ch)
	}
	// Waiters wake only now, so that a probe's answer comes after the
	// change it shows was logged and handed to OnChange.
	r.cancel()
}

// call runs the function, turning a panic into a *PanicError.
func (c *check) call(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return c.fn(ctx)
}

// wait waits for r until it finishes or times out, or until ctx is done,
// and returns its result. A run that is still going at its deadline
// yields an ErrTimeout result, which is published as c's latest.
func (c *check) wait(ctx context.Context, r *run) *result {
	select {
	case <-r.ctx.Done():
	case <-ctx.Done():
		select {
		case <-r.ctx.Done():
		default:
			return &result{err: ctx.Err(), at: time.Now()}
		}
	}
	return c.collect(r)
}

// collect returns the result of r, whose context is done.
func (c *check) collect(r *run) *result {
	c.mu.Lock()
	if r.finished {
		res := r.res
		c.mu.Unlock()
		return res
	}
	now := time.Now()
	res := &result{err: ErrTimeout, at: now, dur: now.Sub(r.start)}
	first := !r.timedOut
	r.timedOut = true
	ch := c.storeLocked(res)
	c.mu.Unlock()
	if first {
		c.tel.record(res)
	}
	c.notify(ch)
	return res
}

// cancelRun cancels the outstanding run's context, if any.
func (c *check) cancelRun() {
	c.mu.Lock()
	r := c.running
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
}

// loop runs a background check every interval until stop is closed.
func (c *check) loop(stop <-chan struct{}) {
	defer c.reg.loops.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-stop:
			return
		}
		c.mu.Lock()
		r := c.running
		if r == nil {
			r = c.startLocked()
		}
		c.mu.Unlock()
		select {
		case <-r.ctx.Done():
			c.collect(r)
		case <-stop:
			return
		}
		timer.Reset(c.interval)
	}
}

// statusOf is the status a result gives c in a probe's aggregate.
func (c *check) statusOf(res *result) Status {
	switch {
	case res.err == nil:
		return StatusPass
	case c.optional:
		return StatusWarn
	}
	return StatusFail
}

// change is a status change waiting to be handed to OnChange, in order.
type change struct {
	Change
	version uint64 // 0: no change
}

// storeLocked publishes res as c's latest result and returns the status
// change it makes, if any.
func (c *check) storeLocked(res *result) change {
	c.last.Store(res)
	st := c.statusOf(res)
	if st == c.status {
		return change{}
	}
	ch := change{Change: Change{Check: c.name, From: c.status, To: st, Err: res.err, Time: res.at}}
	c.status = st
	c.version++
	ch.version = c.version
	return ch
}

// notify hands ch to the logger and OnChange, unless a later change was
// handed over already.
func (c *check) notify(ch change) {
	if ch.version == 0 {
		return
	}
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	if ch.version <= c.notified {
		return
	}
	c.notified = ch.version
	c.reg.logChange(ch.Change)
	if f := c.reg.opts.OnChange; f != nil {
		f(ch.Change)
	}
}
