package health

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// An evaluation of one probe for one request or Check call. Evaluations
// are pooled: serving a probe from fresh results allocates nothing here.
type eval struct {
	entries []entry
	buf     []byte   // response body
	exclude []string // ?exclude= names
}

// entry is one check of an evaluation.
type entry struct {
	c        *check // nil for the shutdown check
	res      *result
	wait     *run // set between starting and collecting a run
	status   Status
	excluded bool
}

var evalPool = sync.Pool{New: func() any { return &eval{buf: make([]byte, 0, 1024)} }}

func getEval() *eval { return evalPool.Get().(*eval) }

// putEval returns ev to the pool, dropping its references to checks and
// results and any buffer grown unusually large.
func putEval(ev *eval) {
	if cap(ev.buf) > 64<<10 || cap(ev.entries) > 1024 {
		return
	}
	clear(ev.entries)
	ev.entries = ev.entries[:0]
	ev.buf = ev.buf[:0]
	clear(ev.exclude)
	ev.exclude = ev.exclude[:0]
	evalPool.Put(ev)
}

// load adds an entry for every check of p, and for Ready the shutdown
// check last.
func (ev *eval) load(r *Registry, p Probe) {
	for _, c := range r.checks(p) {
		ev.entries = append(ev.entries, entry{c: c})
	}
	if p == Ready {
		ev.entries = append(ev.entries, entry{})
	}
}

// passed is the shutdown check's result while not draining.
var passed = &result{}

// run polls every entry that is not excluded, starting the runs that are
// needed before waiting for any, so that the checks run in parallel and
// the evaluation takes as long as the slowest. single evaluates an
// optional check as critical: asked for on its own, a failing check fails.
func (ev *eval) run(ctx context.Context, r *Registry, p Probe, single bool) Status {
	now := time.Now()
	started := false
	for i := range ev.entries {
		e := &ev.entries[i]
		switch {
		case e.excluded:
		case e.c == nil:
			e.res = passed
			if d := r.draining.Load(); d != nil {
				e.res = d
			}
		case p == Startup && e.c.startedUp.Load() != nil:
			e.res = e.c.startedUp.Load()
		default:
			e.res, e.wait = e.c.poll(now)
			started = started || e.wait != nil
		}
	}
	if started {
		// Let the runs just started go first: on a busy or single P they
		// often finish before the first wait, which then need not park.
		runtime.Gosched()
	}
	agg := StatusPass
	for i := range ev.entries {
		e := &ev.entries[i]
		if e.excluded {
			continue
		}
		if e.wait != nil {
			e.res = e.c.wait(ctx, e.wait)
			e.wait = nil
		}
		switch {
		case e.res.err == nil:
			e.status = StatusPass
			if p == Startup && e.c != nil {
				e.c.startedUp.CompareAndSwap(nil, e.res)
			}
		case e.c != nil && e.c.optional && !single:
			e.status = StatusWarn
		default:
			e.status = StatusFail
		}
		agg = max(agg, e.status)
	}
	return agg
}

// name is the entry's check name.
func (e *entry) name() string {
	if e.c == nil {
		return shutdownName
	}
	return e.c.name
}

// result returns the entry as a Result.
func (e *entry) result() Result {
	return Result{Name: e.name(), Status: e.status, Err: e.res.err, Time: e.res.at, Duration: e.res.dur}
}
