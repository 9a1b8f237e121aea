package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/redistest"
)

// go-redis sends a command again when its reply is lost (a read timeout, a
// dropped connection), so the claim script can run twice for one Claim. The
// second run used to find the caller's own pending record and answer
// "inflight": the request got a 409 and its key stayed wedged until the
// lease ran out. A resent claim must give the claim back to its owner.
func TestClaimResentReturnsTheClaim(t *testing.T) {
	c := redistest.Client(t)
	s := &Store{client: c, prefix: strings.TrimSuffix(redistest.Prefix(t), ":") + ":{"}
	ctx := context.Background()
	key := []string{s.key("k")}
	run := func(token string, lease time.Duration) []any {
		t.Helper()
		v, err := claimScript.Run(ctx, c, key, token, "fp", ms(lease), ms(time.Hour)).Slice()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := run("token-1", time.Minute)
	again := run("token-1", time.Minute)
	if again[0] != "claimed" || again[1] != first[1] {
		t.Fatalf("resent claim = %v, want %v", again, first)
	}
	if other := run("token-2", time.Minute); other[0] != "inflight" {
		t.Fatalf("another caller's claim = %v, want inflight", other)
	}
	// The same after a takeover: the resent takeover keeps its fence.
	if err := c.HSet(ctx, key[0], "lease", "0").Err(); err != nil { // the lease runs out
		t.Fatal(err)
	}
	took := run("token-3", time.Minute)
	if took[0] != "takeover" || took[1] != int64(2) {
		t.Fatalf("takeover = %v", took)
	}
	if again := run("token-3", time.Minute); again[0] != "takeover" || again[1] != int64(2) {
		t.Fatalf("resent takeover = %v, want [takeover 2]", again)
	}
	// The old owner's token no longer matches.
	if old := run("token-1", time.Minute); old[0] != "inflight" {
		t.Fatalf("claim with the old token = %v, want inflight", old)
	}
	// And the owner can complete as usual.
	if err := s.Complete(ctx, "k", idempotency.Owner{Token: "token-3", Fence: 2}, idempotency.Response{Status: 201}, time.Hour); err != nil {
		t.Fatal(err)
	}
}
