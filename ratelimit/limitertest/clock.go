package limitertest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
)

// The checks in this file move the limiter's clock (Harness.New's
// advance) and are skipped without it: exact retry times, window
// boundaries, policies over time.

func testMultiPolicyOverTime(t *testing.T, h Harness) {
	l, advance := h.New(t, []ratelimit.Policy{ratelimit.PerSecond("short", 2), ratelimit.PerHour("long", 5)})
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	admitted := 0
	for step := 0; step < 20; step++ {
		for i := 0; i < 3; i++ {
			if allow(t, l, "k", 1).Allowed {
				admitted++
			}
		}
		advance(3 * time.Second)
	}
	if admitted != 5 {
		t.Fatalf("admitted %d over one minute, want exactly the hourly 5", admitted)
	}
	d := allow(t, l, "k", 1)
	if d.Allowed || !d.Result(0).Allowed || d.Result(1).Allowed {
		t.Fatalf("want long to deny and short to admit: %+v", d)
	}
	if p := allow(t, l, "k", 0); p.Result(0).Remaining != 2 {
		t.Fatalf("short policy consumed by a request long denied: %+v", p)
	}
}

// testRetryAfter checks that RetryAfter is neither early nor late by more
// than a millisecond, in every regime: over the current window's count,
// decaying previous window, heavy weights.
func testRetryAfter(t *testing.T, h Harness) {
	cases := []struct {
		name          string
		policy        ratelimit.Policy
		before, first time.Duration // advance before the burst, and before the probe
		burst, cost   int64
	}{
		{"full window", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 0, 0, 10, 1},
		{"mid window", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 3 * time.Second, 2500 * time.Millisecond, 10, 1},
		{"previous decays", ratelimit.Policy{Name: "w", Limit: 10, Window: 10 * time.Second}, 0, 12 * time.Second, 10, 3},
		{"heavy cost", ratelimit.Policy{Name: "w", Limit: 60, Window: time.Minute}, 0, 7 * time.Second, 50, 40},
		{"odd limit", ratelimit.Policy{Name: "w", Limit: 7, Window: 3 * time.Second}, 1100 * time.Millisecond, 900 * time.Millisecond, 7, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, advance := h.New(t, []ratelimit.Policy{tc.policy})
			if advance == nil {
				t.Skip("limiter clock not controllable")
			}
			advance(tc.before)
			for i := int64(0); i < tc.burst; i++ {
				allow(t, l, "k", 1)
			}
			advance(tc.first)
			d := allow(t, l, "k", tc.cost)
			if d.Allowed {
				if h.Kind != SlidingWindow {
					return // a token bucket may have refilled by then
				}
				t.Fatalf("probe unexpectedly allowed: %+v", d)
			}
			wait := d.RetryAfter
			if wait <= 0 {
				t.Fatalf("RetryAfter = %v", wait)
			}
			const slack = time.Millisecond
			if wait > slack {
				advance(wait - slack)
				if d := allow(t, l, "k", tc.cost); d.Allowed {
					t.Fatalf("allowed %v before RetryAfter %v elapsed", slack, wait)
				}
				advance(slack)
			} else {
				advance(wait)
			}
			if d := allow(t, l, "k", tc.cost); !d.Allowed {
				t.Fatalf("denied once RetryAfter %v elapsed: %+v", wait, d)
			}
		})
	}
}

func testBoundaries(t *testing.T, h Harness) {
	l, advance := h.New(t, []ratelimit.Policy{{Name: "w", Limit: 10, Window: 10 * time.Second}})
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	var last ratelimit.Decision
	for i := 0; i < 10; i++ {
		last = allow(t, l, "k", 1)
	}
	d := allow(t, l, "k", 1)
	// reset checks the Reset of an admitted decision: the time until the
	// window ends (sliding window) or the bucket is full again (token
	// bucket), exactly.
	reset := func(what string, d ratelimit.Decision, want time.Duration) {
		t.Helper()
		if d.Reset != want || d.Result(0).Reset != want {
			t.Fatalf("%s: Reset = %v, want %v", what, d.Reset, want)
		}
	}
	switch h.Kind {
	case SlidingWindow:
		reset("tenth", last, 10*time.Second)
		// Next window: 10 × (10−e)/10 + 1 ≤ 10 once e ≥ 1s, so 11s.
		if d.RetryAfter != 11*time.Second || d.Reset != d.RetryAfter {
			t.Fatalf("RetryAfter = %v Reset = %v, want 11s both", d.RetryAfter, d.Reset)
		}
		advance(10 * time.Second) // boundary: previous window weighs 100%
		d = allow(t, l, "k", 1)
		want(t, "at boundary", d, false, 0)
		if d.RetryAfter != time.Second {
			t.Fatalf("at boundary: RetryAfter = %v, want 1s", d.RetryAfter)
		}
		advance(time.Second) // 90%: 9 + 1 = 10
		d = allow(t, l, "k", 1)
		want(t, "one second in", d, true, 0)
		reset("one second in", d, 9*time.Second)
		advance(4 * time.Second) // 50%: 5 + 1 = 6 used, 4 left before this
		d = allow(t, l, "k", 4)
		want(t, "half way", d, true, 0)
		reset("half way", d, 5*time.Second)
		advance(5 * time.Second) // next window: previous count 5 at 100%
		d = allow(t, l, "k", 1)
		want(t, "third window", d, true, 4)
		reset("third window", d, 10*time.Second)
		advance(20 * time.Second) // two windows of silence: all forgotten
		want(t, "after silence", allow(t, l, "k", 10), true, 0)
	case TokenBucket:
		reset("tenth", last, 10*time.Second) // empty: ten tokens to refill
		// One token per second.
		if d.RetryAfter != time.Second || d.Reset != d.RetryAfter {
			t.Fatalf("RetryAfter = %v Reset = %v, want 1s both", d.RetryAfter, d.Reset)
		}
		advance(5 * time.Second)
		d = allow(t, l, "k", 5)
		want(t, "five tokens back", d, true, 0)
		reset("five tokens back", d, 10*time.Second)
		advance(30 * time.Second)
		d = allow(t, l, "k", 0)
		want(t, "never above burst", d, true, 10)
		reset("full", d, 0)
	default:
		t.Skip("no algorithm-specific expectations")
	}
}

// testRetryAfterWalk sends requests of random costs (some above a quota)
// at random times against two policies and checks every denial: each
// violated policy's Reset equals its RetryAfter (unless the cost exceeds
// its Limit: then RetryAfter is zero), the Decision's RetryAfter
// is the longest of them (zero when the cost exceeds a violated policy's
// Limit), and once RetryAfter has passed the same request is admitted:
// a Retry-After derived from it is never early.
func testRetryAfterWalk(t *testing.T, h Harness) {
	policies := []ratelimit.Policy{{Name: "short", Limit: 5, Window: 3 * time.Second}, {Name: "long", Limit: 23, Window: 70 * time.Second}}
	l, advance := h.New(t, policies)
	if advance == nil {
		t.Skip("limiter clock not controllable")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	retried := 0
	for step := 0; step < 400; step++ {
		cost := int64(1 + rng.IntN(4))
		if rng.IntN(20) == 0 {
			cost = 6 // above short's quota
		}
		d := allow(t, l, "k", cost)
		if !d.Allowed {
			var longest time.Duration
			never := false
			for i := range policies {
				r := d.Result(i)
				if r.Allowed {
					continue
				}
				if cost <= policies[i].Limit && r.Reset != r.RetryAfter {
					t.Fatalf("step %d: violated %s has Reset %v != RetryAfter %v", step, policies[i].Name, r.Reset, r.RetryAfter)
				}
				if cost > policies[i].Limit {
					never = true
					if r.RetryAfter != 0 {
						t.Fatalf("step %d: cost %d above %s's limit with RetryAfter %v", step, cost, policies[i].Name, r.RetryAfter)
					}
				} else if r.RetryAfter <= 0 {
					t.Fatalf("step %d: violated %s without RetryAfter: %+v", step, policies[i].Name, r)
				}
				longest = max(longest, r.RetryAfter)
			}
			switch {
			case never && d.RetryAfter != 0:
				t.Fatalf("step %d: never-satisfiable request with RetryAfter %v", step, d.RetryAfter)
			case !never && d.RetryAfter != longest:
				t.Fatalf("step %d: RetryAfter %v, want the longest violated policy's %v", step, d.RetryAfter, longest)
			case !never:
				advance(d.RetryAfter)
				if again := allow(t, l, "k", cost); !again.Allowed {
					t.Fatalf("step %d: cost %d denied again once RetryAfter %v passed: %+v", step, cost, d.RetryAfter, again)
				}
				retried++
			}
		}
		advance(time.Duration(rng.IntN(700)) * time.Millisecond)
	}
	if retried < 20 {
		t.Fatalf("only %d denials retried", retried)
	}
}
