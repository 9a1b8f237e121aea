package password

import (
	"context"
	"sync/atomic"
	"time"
)

// limiter is a counting semaphore whose waiters give up when their context
// ends, after maxWait, or at once when maxWaiting others already wait.
type limiter struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration
}

func newLimiter(n, maxWaiting int, maxWait time.Duration) limiter {
	return limiter{slots: make(chan struct{}, n), maxWaiting: int64(maxWaiting), maxWait: maxWait}
}

// acquire takes a slot. The caller must release it when the hash is done,
// also when ctx ended meanwhile: the memory is in use until then.
func (l *limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.waiting.Add(1) > l.maxWaiting {
		l.waiting.Add(-1)
		return busy()
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.maxWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return busy()
	}
}

func (l *limiter) release() { <-l.slots }

func busy() error {
	return ErrBusy.New("The server is checking too many passwords at once; retry shortly.").
		WithHeader("Retry-After", "1")
}
