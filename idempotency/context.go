package idempotency

import (
	"context"
	"sync/atomic"
)

// Execution describes the claim under which a handler runs.
type Execution struct {
	// Fence is the claim's fencing token. It grows by one each time an
	// expired claim of the same record is taken over, so a handler can make
	// its own writes conditional on it ("UPDATE ... WHERE fence < $1") and a
	// stale run that lost its lease cannot overwrite a newer one.
	//
	// Fences order the runs of one record only. A released record (a 5xx
	// under the default policy, a panic, Decide(ReleaseKey)) is deleted,
	// and the next claim of the key starts a new record at fence 1 again.
	Fence int64
	// Takeover is true when an earlier run of the same request lost its
	// lease (it crashed, or stalled longer than the lease) and this run took
	// the record over. The earlier run may have had side effects.
	Takeover bool
}

type ctxKey struct{}

// execState is what the middleware puts in a claimed request's context.
type execState struct {
	exec     Execution
	decision atomic.Uint32 // a Decision set by Decide, or 0
}

// NewContext returns a copy of ctx that carries e, as the middleware
// passes it to the handler; for tests of handlers.
func NewContext(ctx context.Context, e Execution) context.Context {
	return context.WithValue(ctx, ctxKey{}, &execState{exec: e})
}

// FromContext returns the Execution of the request whose context is ctx,
// and false when the request was not claimed by the middleware (no key on
// an optional route, a method that is not covered, or a fail-open run).
func FromContext(ctx context.Context) (Execution, bool) {
	st, ok := ctx.Value(ctxKey{}).(*execState)
	if !ok {
		return Execution{}, false
	}
	return st.exec, true
}
