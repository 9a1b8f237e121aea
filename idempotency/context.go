package idempotency

import (
	"context"
	"sync/atomic"
)

// Execution describes the claim under which a handler runs.
type Execution struct {
	// Fence is the claim's fencing token: it is greater than the fence of
	// every earlier claim of the same key that the store remembers,
	// whether that claim lost its lease and was taken over or was released
	// (a 5xx under the default policy, a panic, Decide(ReleaseKey)), so a
	// handler can make its own writes conditional on it
	// ("UPDATE ... SET fence = $1 WHERE id = $2 AND fence < $1") and a
	// stale run cannot overwrite a newer one, nor a retry be refused
	// because of a run that failed. Fences are large numbers (see
	// [Owner]); compare them, never count on their values.
	Fence int64
	// Takeover is true when an earlier run of the same request lost its
	// lease (it crashed, or stalled longer than the lease) and this run took
	// the record over. The earlier run may have had side effects.
	Takeover bool
}

type ctxKey struct{}

// execState is what the middleware puts in a claimed request's context:
// an Execution's fields, with the decision in what would be its padding.
type execState struct {
	fence    int64
	takeover bool
	decision atomic.Uint32 // a Decision set by Decide, or 0
}

// execContext is the context of a claimed request: its parent with the
// execState as the value of ctxKey, in the middleware's one allocation per
// request instead of context.WithValue's own.
type execContext struct {
	context.Context
	st execState
}

// Value returns the execState for ctxKey and asks the parent for any other
// key.
func (c *execContext) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.st
	}
	return c.Context.Value(key)
}

// NewContext returns a copy of ctx that carries e, as the middleware
// passes it to the handler; for tests of handlers.
func NewContext(ctx context.Context, e Execution) context.Context {
	return context.WithValue(ctx, ctxKey{}, &execState{fence: e.Fence, takeover: e.Takeover})
}

// FromContext returns the Execution of the request whose context is ctx,
// and false when the request was not claimed by the middleware (no key on
// an optional route, a method that is not covered, or a fail-open run).
func FromContext(ctx context.Context) (Execution, bool) {
	st, ok := ctx.Value(ctxKey{}).(*execState)
	if !ok {
		return Execution{}, false
	}
	return Execution{Fence: st.fence, Takeover: st.takeover}, true
}
