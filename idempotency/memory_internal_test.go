package idempotency

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A claim at capacity makes room across shards, then creates its record
// in its own shard. When another claim takes that room first, and the
// claim's shard holds only records in flight, the store still holds
// completed records elsewhere: the claim must make room again, not answer
// ErrStoreFull, which the docs keep for a store full of records in flight.
func TestClaimMakesRoomAgainWhenAnotherClaimTookIt(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryOptions{MaxRecords: 3, MaxBytes: 1 << 20})
	claim := func(k RecordKey) ClaimResult {
		t.Helper()
		res, err := s.Claim(ctx, ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
		if err != nil || res.Outcome != Claimed {
			t.Fatalf("claim %s: %+v, %v", k.ID, res, err)
		}
		return res
	}
	target := RecordKey{Scope: "scope", ID: "target"}
	home := s.shard(target.ID)
	var mate RecordKey     // in the target's shard
	var others []RecordKey // in other shards
	for i := 0; mate.ID == "" || len(others) < 3; i++ {
		k := RecordKey{Scope: "scope", ID: fmt.Sprintf("key-%d", i)}
		switch {
		case s.shard(k.ID) == home:
			mate = k
		case len(others) < 3:
			others = append(others, k)
		}
	}
	claim(mate) // in flight: the target's shard has nothing to drop
	for _, k := range others[:2] {
		if err := s.Complete(ctx, k, claim(k).Owner, Response{Status: 201}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s.roomMade = func() {
		s.roomMade = nil
		claim(others[2]) // takes the room made for the target
	}
	res, err := s.Claim(ctx, ClaimRequest{Key: target, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil || res.Outcome != Claimed {
		t.Fatalf("claim at capacity with a completed record left: %+v, %v; want Claimed", res, err)
	}
	if n, ev := s.Len(), s.Evictions(); n != 3 || ev != 2 {
		t.Fatalf("%d records, %d evictions; want 3 and 2 (both completed records dropped)", n, ev)
	}
}
