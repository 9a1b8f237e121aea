package idempotency

import (
	"context"
	"time"
)

// wait polls the store until the in-flight request finishes, its lease
// runs out (then this request claims the key), or WaitTimeout passes. It
// stops early, with ctx's error, when the client goes away. The delay
// between polls doubles from 5 ms to 200 ms, so a short first request is
// replayed promptly and a long one costs a few store calls a second.
func (m *Middleware) wait(ctx context.Context, req ClaimRequest) (ClaimResult, recordedHeader, error) {
	deadline := time.Now().Add(m.opts.WaitTimeout)
	delay := 5 * time.Millisecond
	var t *time.Timer
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ClaimResult{Outcome: InFlight}, nil, nil
		}
		if t == nil {
			t = time.NewTimer(min(delay, left))
			defer t.Stop()
		} else {
			t.Reset(min(delay, left))
		}
		select {
		case <-ctx.Done():
			return ClaimResult{}, nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
		res, header, err := m.claim(ctx, req)
		if err != nil || res.Outcome != InFlight {
			return res, header, err
		}
	}
}
