package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/redisstore"
)

// The denied cache answers only requests of the cost it saw denied: a
// heavier request needs longer, so the cached RetryAfter would be early for
// it, and a request costing more than the Limit can never be admitted (a
// zero RetryAfter). Compared with a limiter without the cache on the same
// counters.
func TestDeniedCacheRetryAfterNeverEarlyForOtherCosts(t *testing.T) {
	client := redistest.NewServer(t).Client(t)
	policy := ratelimit.Policy{Name: "m", Limit: 10, Window: time.Minute}
	// A generous Timeout: a call timing out on a loaded CI machine is not
	// what this test is about.
	cached, err := redisstore.New(client, []ratelimit.Policy{policy}, redisstore.Options{Prefix: "cached", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	uncached, err := redisstore.New(client, []ratelimit.Policy{policy}, redisstore.Options{Prefix: "cached", DeniedCacheSize: -1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, err := cached.AllowN(ctx, "k", 10); err != nil || !d.Allowed {
		t.Fatalf("fill: %+v %v", d, err)
	}
	if d, err := cached.AllowN(ctx, "k", 1); err != nil || d.Allowed { // cached: denied for cost 1
		t.Fatalf("cost 1: %+v %v", d, err)
	}
	for _, cost := range []int64{8, 11} {
		got, err := cached.AllowN(ctx, "k", cost)
		if err != nil {
			t.Fatal(err)
		}
		truth, err := uncached.AllowN(ctx, "k", cost)
		if err != nil {
			t.Fatal(err)
		}
		// Redis keeps running, so allow the truth to have moved on a little.
		if got.Allowed || got.RetryAfter < truth.RetryAfter-time.Second || (truth.RetryAfter == 0) != (got.RetryAfter == 0) {
			t.Errorf("cost %d: cached RetryAfter %v, Redis says %v", cost, got.RetryAfter, truth.RetryAfter)
		}
	}
}
