package idempotency

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// run serves a claimed request: heartbeat, handler (given body as its
// request body), then complete or release. The handler's body reads
// nothing once the handler has returned, so that the caller may reuse
// body's buffer: net/http forbids reading a request body after ServeHTTP
// returns, and a handler that does anyway must not see another request's
// bytes.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, next http.Handler, key RecordKey, res ClaimResult, body []byte) {
	// One allocation for the per-request state, the request handed to
	// next included: r.WithContext's copy is made on the stack and copied
	// in, instead of being allocated on its own.
	x := &struct {
		ctx  execContext
		rw   recorder
		hb   heartbeat
		body bodyReader
		req  http.Request
	}{}
	ctx, rw, hb := &x.ctx, &x.rw, &x.hb
	st := &ctx.st
	ctx.Context = r.Context()
	st.fence, st.takeover = res.Owner.Fence, res.Takeover
	*rw = recorder{ResponseWriter: w, m: m}
	if body != nil {
		x.body.r.Reset(body) // not shared yet: no lock needed
		r.Body = &x.body
	}
	m.startHeartbeat(hb, key, res.Owner)
	finished := false
	defer func() {
		x.body.Reset(nil)
		if finished {
			return // the heartbeat was stopped when next returned
		}
		// The handler panicked (http.ErrAbortHandler included): nothing
		// trustworthy was recorded, so let a retry run again.
		m.beats.stop(hb)
		m.release(r.Context(), key, res.Owner)
	}()
	x.req = *r.WithContext(ctx)
	next.ServeHTTP(rw, &x.req)
	finished = true
	m.beats.stop(hb)

	resp, header, seen := rw.response()
	if !seen {
		// The handler wrote nothing through rw. net/http would send an
		// implicit 200, but a router may yet render an error of its own
		// outside rw (echo renders a returned error after the middleware
		// returns): what the client gets is unknown, so nothing is kept.
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(attribute.Bool("backstop.idempotency.unrecorded", true))
		}
		m.release(r.Context(), key, res.Owner)
		return
	}
	d := m.opts.StatusPolicy(resp.Status)
	if o := Decision(st.decision.Load()); o != 0 {
		d = o
	}
	if resp.NotReplayable == ReasonHijacked || d == KeepResponse {
		m.complete(r.Context(), key, res.Owner, resp, header)
		return
	}
	m.release(r.Context(), key, res.Owner)
}

// complete records the response, whose headers are in header when the
// store is a MemoryStore. The handler has run: a record left pending is
// taken over once its lease runs out, and the request runs again.
func (m *Middleware) complete(ctx context.Context, key RecordKey, owner Owner, resp Response, header recordedHeader) {
	m.persist(ctx, key, "record response", "a retry may run the request again once the lease runs out",
		func(ctx context.Context) error {
			if m.mem != nil {
				return m.mem.complete(ctx, key, owner, resp, header, m.opts.Retention)
			}
			return m.store.Complete(ctx, key, owner, resp, m.opts.Retention)
		})
}

// release deletes the claim so that a retry runs the request again. Left
// pending, the record answers retries with ErrInFlight until its lease
// runs out.
func (m *Middleware) release(ctx context.Context, key RecordKey, owner Owner) {
	m.persist(ctx, key, "release claim", "the key stays in flight until its lease runs out",
		func(ctx context.Context) error { return m.store.Release(ctx, key, owner) })
}

// persist runs the completion or release op on a context detached from
// the request, and tries it again, with backoff, until StoreTimeout has
// passed: a transient store failure (a lost connection, a failover) must
// not leave the record pending (the lease, renewed until the handler
// returned, outlasts StoreTimeout unless StoreTimeout is longer than half
// the lease). ErrNotOwner ends it: the claim was lost, or an earlier
// attempt succeeded before its answer was lost.
func (m *Middleware) persist(ctx context.Context, key RecordKey, what, otherwise string, op func(context.Context) error) {
	sctx, cancel := m.detached(ctx)
	defer cancel()
	var t *time.Timer
	for attempt, delay := 0, 10*time.Millisecond; ; attempt, delay = attempt+1, min(2*delay, 500*time.Millisecond) {
		err := op(sctx)
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrNotOwner) && attempt > 0:
			m.log(ctx, slog.LevelWarn, "idempotency: cannot "+what+" after a failed attempt; that attempt succeeded, or the claim was lost", key, err)
			return
		case errors.Is(err, ErrNotOwner):
			m.log(ctx, slog.LevelWarn, "idempotency: claim was lost before the handler returned (lease ran out and another request took over); cannot "+what, key, err)
			return
		}
		if m.local { // its failures are not transient
			m.log(ctx, slog.LevelError, "idempotency: cannot "+what+"; "+otherwise, key, err)
			return
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-sctx.Done():
			m.log(ctx, slog.LevelError, "idempotency: cannot "+what+"; "+otherwise, key, err)
			return
		case <-t.C:
		}
	}
}
