package health

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
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
	running *run        // the outstanding run, at most one
	expiry  *time.Timer // settles the outstanding run at its deadline; reused, armed by the first waiter
	status  Status      // status of last, for change detection
	version uint64      // counts status changes

	notifyMu sync.Mutex
	notified uint64 // version of the last change handed to OnChange
}

// result is one observation of a check. It is immutable once published.
type result struct {
	err error
	at  time.Time
	dur time.Duration
	// frag is the result's JSON members after "status", formatted once so
	// that serving a cached result formats no time or number.
	fragLen uint8
	frag    [maxFrag]byte
}

// maxFrag bounds the JSON fragment of a result: `,"time":"…"` with a
// RFC 3339 time of at most 35 bytes, and `,"observedValue":…,
// "observedUnit":"ms"` with a duration of at most 20 digits.
const maxFrag = 128

// newResult returns a result with its JSON fragment; observed adds the
// duration as observedValue.
func newResult(err error, at time.Time, dur time.Duration, observed bool) *result {
	res := &result{}
	res.set(err, at, dur, observed)
	return res
}

func (res *result) set(err error, at time.Time, dur time.Duration, observed bool) {
	res.err, res.at, res.dur = err, at, dur
	if at.IsZero() {
		return
	}
	b := res.frag[:0]
	b = append(b, `,"time":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if observed {
		b = append(b, `,"observedValue":`...)
		b = strconv.AppendFloat(b, float64(dur.Microseconds())/1000, 'f', -1, 64)
		b = append(b, `,"observedUnit":"ms"`...)
	}
	if len(b) <= maxFrag { // always, short of a year past 9999
		res.fragLen = uint8(len(b))
	}
}

// json returns the result's JSON fragment.
func (res *result) json() []byte { return res.frag[:res.fragLen] }

// One execution of a check's function, with its result embedded so that a
// run costs one allocation besides its goroutine and channel.
//
// A run is the context the function gets. Deadline and Err need no
// timer; the first call to Done creates a context.WithDeadline and serves
// Done, Err and Value from it from then on, so a check that never selects
// on its context costs no timer, and contexts derived from it attach to
// that one as they would to any standard context.
type run struct {
	c        *check
	start    time.Time
	deadline time.Time
	// settled is closed when the function returns or the deadline passes,
	// whichever comes first: the one channel waiters select on, so that
	// waiting needs no timer of its own.
	settled chan struct{}

	ctxMu  sync.Mutex
	inner  context.Context // created by the first Done
	cancel context.CancelFunc
	ended  bool  // the function returned or Close cancelled the run
	endErr error // Err once ended: Canceled, or DeadlineExceeded if it ended late

	// Under c.mu.
	res       result // valid once done is set
	done      bool   // res holds the function's result
	isSettled bool   // settled is closed
	armed     bool   // c.expiry is set for this run's deadline
	timedOut  bool   // reported as ErrTimeout at least once
	closed    bool   // cancelled by Close: its result is not published
}

// settleLocked closes r.settled once.
func (r *run) settleLocked() {
	if !r.isSettled {
		r.isSettled = true
		close(r.settled)
	}
}

func (r *run) Deadline() (time.Time, bool) { return r.deadline, true }

func (r *run) Done() <-chan struct{} {
	r.ctxMu.Lock()
	defer r.ctxMu.Unlock()
	if r.inner == nil {
		if r.endErr == context.Canceled {
			r.inner, r.cancel = context.WithCancel(context.Background())
		} else {
			r.inner, r.cancel = context.WithDeadline(context.Background(), r.deadline)
		}
		if r.ended {
			r.cancel()
		}
	}
	return r.inner.Done()
}

func (r *run) Err() error {
	r.ctxMu.Lock()
	defer r.ctxMu.Unlock()
	switch {
	case r.inner != nil:
		return r.inner.Err()
	case r.ended:
		return r.endErr
	case !time.Now().Before(r.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

func (r *run) Value(key any) any {
	r.ctxMu.Lock()
	inner := r.inner
	r.ctxMu.Unlock()
	if inner == nil {
		return nil
	}
	return inner.Value(key)
}

// end cancels the run's context, as the cancel of context.WithTimeout
// does when the function returns.
func (r *run) end() {
	r.ctxMu.Lock()
	if !r.ended {
		r.ended = true
		r.endErr = context.Canceled
		if !time.Now().Before(r.deadline) {
			r.endErr = context.DeadlineExceeded
		}
	}
	cancel := r.cancel
	r.ctxMu.Unlock()
	if cancel != nil {
		cancel()
	}
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
			return newResult(ErrStale, res.at, res.dur, true)
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
		r = c.startLocked(now)
	}
	return nil, r
}

// startLocked starts a run of c's function on its own goroutine.
func (c *check) startLocked(now time.Time) *run {
	r := &run{c: c, start: now, deadline: now.Add(c.timeout), settled: make(chan struct{})}
	c.running = r
	go r.execute()
	return r
}

// armLocked makes sure r settles at its deadline. It is called by the
// first waiter that finds r running, so a run that ends before anyone has
// to wait for it costs no timer. A run that has returned is about to
// settle, and the timer may already serve the next run: it is left alone.
func (c *check) armLocked(r *run) {
	if r.armed || r.isSettled || r.done {
		return
	}
	r.armed = true
	d := time.Until(r.deadline)
	if c.expiry == nil {
		c.expiry = time.AfterFunc(d, c.expire)
	} else {
		c.expiry.Reset(d)
	}
}

// expire settles the outstanding run once its deadline has passed. A
// firing meant for an earlier run finds a later deadline and does nothing.
func (c *check) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.running; r != nil && !time.Now().Before(r.deadline) {
		r.settleLocked()
	}
}

// execute runs the check's function and publishes its result, unless the
// run was already reported as timed out or was cancelled by Close.
func (r *run) execute() {
	c := r.c
	err := c.call(r)
	now := time.Now()
	if !now.Before(r.deadline) && (err == nil || errors.Is(err, context.DeadlineExceeded)) {
		err = ErrTimeout // returned after its deadline, or because of it
	}
	c.mu.Lock()
	if c.running == r {
		c.running = nil
		if r.armed {
			c.expiry.Stop()
		}
	}
	r.res.set(err, now, now.Sub(r.start), true)
	r.done = true
	var ch change
	report := !r.timedOut && !r.closed
	if report {
		ch = c.storeLocked(&r.res)
	}
	c.mu.Unlock()
	if report {
		c.tel.record(&r.res)
		c.notify(ch)
	}
	// Waiters wake only now, so that a probe's answer comes after the
	// change it shows was logged and handed to OnChange.
	c.mu.Lock()
	r.settleLocked()
	c.mu.Unlock()
	r.end()
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
	case <-r.settled:
		return c.collect(r)
	default:
	}
	c.mu.Lock()
	c.armLocked(r)
	c.mu.Unlock()
	select {
	case <-r.settled:
	case <-ctx.Done():
		select {
		case <-r.settled:
		default:
			return newResult(ctx.Err(), time.Now(), 0, false)
		}
	}
	return c.collect(r)
}

// collect returns the result of r, which has finished or reached its
// deadline.
func (c *check) collect(r *run) *result {
	c.mu.Lock()
	if r.done {
		c.mu.Unlock()
		return &r.res
	}
	now := time.Now()
	res := newResult(ErrTimeout, now, now.Sub(r.start), true)
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

// cancelRun cancels the outstanding run's context, if any, and keeps its
// result from being published.
func (c *check) cancelRun() {
	c.mu.Lock()
	r := c.running
	if r != nil {
		r.closed = true
	}
	c.mu.Unlock()
	if r != nil {
		r.end()
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
			// Close closes stop before it cancels the running run under
			// c.mu: a run started after that would escape it.
			select {
			case <-stop:
				c.mu.Unlock()
				return
			default:
			}
			r = c.startLocked(time.Now())
		}
		c.armLocked(r)
		c.mu.Unlock()
		select {
		case <-r.settled:
		case <-stop:
			return
		}
		c.collect(r)
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
