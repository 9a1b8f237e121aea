package ratelimit_test

import (
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

func TestSlidingWindowConformance(t *testing.T) {
	limitertest.Run(t, limitertest.Harness{
		Kind: limitertest.SlidingWindow,
		New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
			clock := limitertest.NewClock()
			l, err := ratelimit.NewSlidingWindow(p, ratelimit.MemoryOptions{Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			return l, clock.Advance
		},
	})
}

func TestTokenBucketConformance(t *testing.T) {
	limitertest.Run(t, limitertest.Harness{
		Kind: limitertest.TokenBucket,
		New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
			clock := limitertest.NewClock()
			l, err := ratelimit.NewTokenBucket(p, ratelimit.MemoryOptions{Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			return l, clock.Advance
		},
	})
}

func TestSlidingWindowRealClock(t *testing.T) {
	limitertest.Run(t, limitertest.Harness{
		Kind: limitertest.SlidingWindow,
		New: func(t *testing.T, p []ratelimit.Policy) (ratelimit.Limiter, func(time.Duration)) {
			l, err := ratelimit.NewSlidingWindow(p, ratelimit.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return l, nil
		},
	})
}
