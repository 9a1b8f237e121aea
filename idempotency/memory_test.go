package idempotency_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	clock := newFakeClock()
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
	}, storetest.Options{Advance: clock.Advance})
}

func TestMemoryStoreConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	}, storetest.Options{})
}

// memKey returns a record key shaped as the middleware's.
func memKey(scope, name string) idempotency.RecordKey {
	h := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:16]) }
	return idempotency.RecordKey{Scope: h(scope), ID: h(scope + "/" + name)}
}

func memClaim(s *idempotency.MemoryStore, k idempotency.RecordKey) (idempotency.ClaimResult, error) {
	return s.Claim(context.Background(), idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
}

// A full store drops the records completed longest ago to make room, so
// nobody is refused; records in flight are never dropped, and only a
// store full of them answers ErrStoreFull.
func TestMemoryStoreFullDropsOldestCompleted(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 3, MaxBytes: 1 << 20, Now: clock.Now})
	owners := map[string]idempotency.Owner{}
	for _, k := range []string{"a", "b", "c"} {
		res, err := memClaim(s, memKey("s", k))
		if err != nil || res.Outcome != idempotency.Claimed {
			t.Fatal(res, err)
		}
		owners[k] = res.Owner
	}
	// Full of records in flight: refused, nothing dropped.
	if _, err := memClaim(s, memKey("s", "d")); !errors.Is(err, idempotency.ErrStoreFull) {
		t.Fatalf("claim with every record in flight = %v, want ErrStoreFull", err)
	}
	if res, err := memClaim(s, memKey("s", "a")); err != nil || res.Outcome != idempotency.InFlight {
		t.Fatalf("claim of a held key when full = %v, %v; want in_flight", res.Outcome, err)
	}
	// b completes before a: b is the oldest completed record.
	for _, k := range []string{"b", "a"} {
		clock.Advance(time.Second)
		if err := s.Complete(ctx, memKey("s", k), owners[k], idempotency.Response{Status: 201}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range []string{"d", "e"} {
		res, err := memClaim(s, memKey("other", k))
		if err != nil || res.Outcome != idempotency.Claimed {
			t.Fatalf("claim %s in a full store with completed records = %v, %v; want claimed", k, res.Outcome, err)
		}
		if got := s.Evictions(); got != int64(i+1) {
			t.Fatalf("Evictions = %d, want %d", got, i+1)
		}
	}
	if _, err := s.Get(ctx, memKey("s", "b")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("b, completed first, = %v; want it dropped first", err)
	}
	if _, err := s.Get(ctx, memKey("s", "a")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("a, completed second, = %v; want it dropped second", err)
	}
	if rec, err := s.Get(ctx, memKey("s", "c")); err != nil || rec.State != idempotency.Pending {
		t.Fatalf("c, in flight, = %+v, %v; want it kept", rec, err)
	}
	if n := s.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
}

// MaxBytes is a bound too: a large response makes room for new claims by
// going first.
func TestMemoryStoreFullOfBytesDropsOldestCompleted(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxBytes: 100})
	res, err := memClaim(s, memKey("s", "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, memKey("s", "big"), res.Owner, idempotency.Response{Status: 200, Body: make([]byte, 200)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if res, err := memClaim(s, memKey("s", "next")); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("claim over MaxBytes = %v, %v; want claimed, the big response dropped", res.Outcome, err)
	}
	if _, err := s.Get(ctx, memKey("s", "big")); !errors.Is(err, idempotency.ErrNotFound) || s.Evictions() != 1 {
		t.Fatalf("big response = %v, evictions %d; want it dropped", err, s.Evictions())
	}
}

// A caller that floods a full store with new keys is held to its budget
// before anything is dropped: its refused claims cost other callers
// nothing.
func TestMemoryStoreOverBudgetDropsNothing(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxRecords: 4})
	claim := func(scope, k string) idempotency.ClaimResult {
		t.Helper()
		res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: memKey(scope, k), Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour, MaxRecords: 2})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, k := range []string{"a", "b"} {
		if res := claim("victim", k); res.Outcome != idempotency.Claimed {
			t.Fatal(res.Outcome)
		} else if err := s.Complete(ctx, memKey("victim", k), res.Owner, idempotency.Response{Status: 201}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		res := claim("flood", fmt.Sprint(i))
		if want := i < 2; (res.Outcome == idempotency.Claimed) != want {
			t.Fatalf("flood claim %d = %v", i, res.Outcome)
		}
	}
	if s.Evictions() != 0 {
		t.Fatalf("a caller over its budget made the store drop %d records", s.Evictions())
	}
	for _, k := range []string{"a", "b"} {
		if res := claim("victim", k); res.Outcome != idempotency.Completed {
			t.Fatalf("victim's record %s = %v, want it kept", k, res.Outcome)
		}
	}
}

func TestMemoryStoreSweepsExpired(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
	for i := range 1000 {
		k := memKey("s", fmt.Sprint(i))
		res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: time.Second, Retention: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Complete(ctx, k, res.Owner, idempotency.Response{Status: 200}, time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Advance(2 * time.Second) // completed records expire; pending ones live lease+retention
	if n := s.Len(); n != 1000 {
		t.Fatalf("Len before Sweep = %d, want 1000", n)
	}
	s.Sweep()
	if n := s.Len(); n != 500 {
		t.Fatalf("Len after Sweep = %d, want 500", n)
	}
}

func TestNewMemoryStorePanicsOnNegativeBounds(t *testing.T) {
	for _, o := range []idempotency.MemoryOptions{{MaxRecords: -1}, {MaxBytes: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewMemoryStore(%+v) did not panic", o)
				}
			}()
			idempotency.NewMemoryStore(o)
		}()
	}
}

// A "keep forever" retention saturates the lifetime of a pending record
// at the largest duration: wrapped around to a negative one, it would
// expire the claim at once and let a retry run the request while the
// first still runs.
func TestMemoryStoreSaturatesLifetime(t *testing.T) {
	store := newMemory(t, nil)
	req := idempotency.ClaimRequest{Key: memKey("s", "k"), Fingerprint: "fp", Lease: time.Minute, Retention: math.MaxInt64}
	if res, err := store.Claim(context.Background(), req); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("first Claim = %+v, %v", res, err)
	}
	if res, err := store.Claim(context.Background(), req); err != nil || res.Outcome != idempotency.InFlight {
		t.Fatalf("second Claim while the first holds its lease = %+v, %v; want in_flight", res.Outcome, err)
	}
}

// The fences of a memory store grow with every claim, across keys,
// releases and retention, and are at least the clock in microseconds, so
// that they also grow across restarts.
func TestMemoryStoreFencesFollowTheClock(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
	var last int64
	for i := range 5 {
		res, err := memClaim(s, memKey("s", "k"))
		if err != nil || res.Outcome != idempotency.Claimed {
			t.Fatal(res, err)
		}
		if res.Owner.Fence <= last || res.Owner.Fence < clock.Now().UnixMicro() {
			t.Fatalf("claim %d: fence %d, want above %d and at least the clock, %d", i, res.Owner.Fence, last, clock.Now().UnixMicro())
		}
		last = res.Owner.Fence
		if err := s.Release(ctx, memKey("s", "k"), res.Owner); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	restarted := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
	if res, _ := memClaim(restarted, memKey("s", "k")); res.Owner.Fence <= last {
		t.Fatalf("fence of a new store an hour later = %d, want above %d", res.Owner.Fence, last)
	}
}
