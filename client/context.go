package client

import "context"

// RequestOptions change how a [Transport] treats one request. Attach them
// to the request's context with [NewContext]. The zero value changes
// nothing.
type RequestOptions struct {
	// NoKey stops the Transport from adding an Idempotency-Key to this
	// request. A key the caller set is still sent. An unsafe request
	// without a key is sent once and never retried: use it for endpoints
	// that must not see an Idempotency-Key, or whose effects you make safe
	// some other way.
	NoKey bool

	// MaxAttempts, when positive, replaces Options.MaxAttempts for this
	// request; 1 sends it once.
	MaxAttempts int
}

type ctxKey struct{}

// NewContext returns a copy of ctx that carries o, for the requests made
// with it.
func NewContext(ctx context.Context, o RequestOptions) context.Context {
	return context.WithValue(ctx, ctxKey{}, o)
}

// FromContext returns the RequestOptions that ctx carries, if any.
func FromContext(ctx context.Context) (RequestOptions, bool) {
	o, ok := ctx.Value(ctxKey{}).(RequestOptions)
	return o, ok
}
