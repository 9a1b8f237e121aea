package ratelimit

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestOnePolicyPathMatchesGeneral runs the same random requests through a
// one-policy limiter's own path (allowOne) and through the general one
// (allowWindows over MaxPolicies states), which must decide alike.
func TestOnePolicyPathMatchesGeneral(t *testing.T) {
	var now time.Time
	clock := func() time.Time { return now }
	policies := []Policy{{Name: "p", Limit: 10, Window: time.Second}}
	one, err := NewSlidingWindow(policies, MemoryOptions{Clock: clock, MaxKeys: 64, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	general, err := NewSlidingWindow(policies, MemoryOptions{Clock: clock, MaxKeys: 64, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	general.many = newTable[[MaxPolicies]windowState](2, 64, 2*int64(time.Second))
	general.one = nil
	if one.one == nil {
		t.Fatal("a one-policy limiter does not use its one-policy table")
	}

	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "client-with-a-key-longer-than-the-inline-bytes"}
	ctx := context.Background()
	denied := 0
	for i := range 20_000 {
		step := 60 * time.Millisecond // about 16 units a second per key, over the limit of 10
		if rng.IntN(100) == 0 {
			step = 3 * time.Second // idle: the windows roll over once or twice
		}
		now = now.Add(time.Duration(rng.Int64N(int64(step))))
		key := keys[rng.IntN(len(keys))]
		n := rng.Int64N(4) // 0 only reports
		if rng.IntN(100) == 0 {
			n = 11 // above the limit: never admitted, no Retry-After
		}
		got, err1 := one.AllowN(ctx, key, n)
		want, err2 := general.AllowN(ctx, key, n)
		if err1 != nil || err2 != nil {
			t.Fatalf("request %d: errors %v, %v", i, err1, err2)
		}
		if got != want {
			t.Fatalf("request %d (%s, cost %d): one-policy path decided\n%+v\ngeneral path\n%+v", i, key, n, got, want)
		}
		if !got.Allowed {
			denied++
		}
	}
	if denied < 1000 {
		t.Fatalf("only %d of 20000 requests denied: the test does not reach the denial path", denied)
	}
}
