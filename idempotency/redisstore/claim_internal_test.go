package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/redistest"
)

// A command whose connection is lost before its reply may have run: the
// store sends it again, so the claim script must give a claim sent twice
// back to its owner, with its fence, instead of answering "inflight" (a
// 409 for the client, and a key wedged until the lease ran out).
func TestClaimSentTwiceReturnsTheClaim(t *testing.T) {
	c := redistest.Client(t)
	s := New(c, Options{Prefix: strings.TrimSuffix(redistest.Prefix(t), ":"), Timeout: 10 * time.Second})
	ctx := context.Background()
	key := idempotency.RecordKey{Scope: "scope", ID: "k"}
	k := s.keys(key)
	if k.record != s.prefix+"scope}:k" || k.expiries != s.prefix+"scope}:x" || k.usage != s.prefix+"scope}:u" || k.member != "k" {
		t.Fatalf("keys = %+v", k)
	}
	run := func(token string, lease time.Duration) []any {
		t.Helper()
		v, _, err := s.run(ctx, claimScript, k, true, token, "fp", ms(lease), ms(time.Hour), 0, 0, k.member)
		if err != nil {
			t.Fatal(err)
		}
		return v.([]any)
	}
	first := run("token-1", time.Minute)
	again := run("token-1", time.Minute)
	if first[0] != "claimed" || again[0] != "claimed" || again[1] != first[1] {
		t.Fatalf("claim sent again = %v, want %v", again, first)
	}
	if other := run("token-2", time.Minute); other[0] != "inflight" {
		t.Fatalf("another caller's claim = %v, want inflight", other)
	}
	// The same after a takeover: the resent takeover keeps its fence.
	if err := c.HSet(ctx, k.record, "lease", "0").Err(); err != nil { // the lease runs out
		t.Fatal(err)
	}
	took := run("token-3", time.Minute)
	if took[0] != "takeover" || took[1].(int64) <= first[1].(int64) {
		t.Fatalf("takeover = %v, want a fence above %v", took, first[1])
	}
	if again := run("token-3", time.Minute); again[0] != "takeover" || again[1] != took[1] {
		t.Fatalf("takeover sent again = %v, want %v", again, took)
	}
	// The old owner's token no longer matches.
	if old := run("token-1", time.Minute); old[0] != "inflight" {
		t.Fatalf("claim with the old token = %v, want inflight", old)
	}
	// And the owner can complete as usual; a completion sent twice is
	// recognised too.
	owner := idempotency.Owner{Token: "token-3", Fence: took[1].(int64)}
	if err := s.Complete(ctx, key, owner, idempotency.Response{Status: 201}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.run(ctx, completeScript, k, true, owner.Token, owner.Fence, 201, "", "", "", ms(time.Hour), k.member); err != nil || v != int64(2) {
		t.Fatalf("completion sent again = %v, %v; want 2 (completed already by this owner)", v, err)
	}
}

// A claim that runs after its withdrawal (both queued behind a stalled
// server, on different connections) takes nothing: the withdrawal marks
// the record, and other callers' claims are not affected.
func TestClaimWithdrawnBeforeItRuns(t *testing.T) {
	c := redistest.Client(t)
	s := New(c, Options{Prefix: strings.TrimSuffix(redistest.Prefix(t), ":"), Timeout: 10 * time.Second})
	ctx := context.Background()
	key := idempotency.RecordKey{Scope: "scope", ID: "k"}
	k := s.keys(key)
	if v, _, err := s.run(ctx, withdrawScript, k, true, "ghost", k.member, ms(time.Minute)); err != nil || v != int64(0) {
		t.Fatalf("withdrawal of a claim not yet made = %v, %v; want 0", v, err)
	}
	if v, _, err := s.run(ctx, claimScript, k, true, "ghost", "fp", ms(time.Minute), ms(time.Hour), 0, 0, k.member); err != nil || v.([]any)[0] != "withdrawn" {
		t.Fatalf("withdrawn claim = %v, %v; want withdrawn", v, err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after the withdrawn claim = %v, want ErrNotFound", err)
	}
	res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("the client's retry = %+v, %v; want claimed", res, err)
	}
	if err := s.Complete(ctx, key, res.Owner, idempotency.Response{Status: 201}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, k.record).Result(); err != nil || ttl <= time.Minute {
		t.Fatalf("completed record's PTTL = %v, %v; want its retention", ttl, err)
	}
}
