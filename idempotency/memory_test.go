package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/internal/clocktest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock { return clocktest.New() }

func TestMemoryStoreConformance(t *testing.T) {
	clock := newFakeClock()
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		s, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Options{Advance: clock.Advance})
}

func TestMemoryStoreConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		s, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Options{})
}

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxEntries: 3, MaxBytes: 100, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(key string) (idempotency.ClaimResult, error) {
		return s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	}
	var owners []idempotency.Owner
	for _, k := range []string{"a", "b", "c"} {
		res, err := claim(k)
		if err != nil {
			t.Fatal(err)
		}
		owners = append(owners, res.Owner)
	}
	if _, err := claim("d"); !errors.Is(err, idempotency.ErrStoreFull) {
		t.Fatalf("fourth claim = %v, want ErrStoreFull", err)
	}
	// Existing records still answer when the store is full.
	if res, err := claim("a"); err != nil || res.Outcome != idempotency.InFlight {
		t.Fatalf("claim of a held key when full = %v, %v; want in_flight", res.Outcome, err)
	}
	// Releasing frees room.
	if err := s.Release(ctx, "c", owners[2]); err != nil {
		t.Fatal(err)
	}
	if res, err := claim("d"); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("claim after release = %v, %v; want claimed", res.Outcome, err)
	}
	// Bytes: a 200-byte response puts the store over MaxBytes.
	if err := s.Complete(ctx, "a", owners[0], idempotency.Response{Status: 200, Body: make([]byte, 200)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "b", owners[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := claim("e"); !errors.Is(err, idempotency.ErrStoreFull) {
		t.Fatalf("claim over MaxBytes = %v, want ErrStoreFull", err)
	}
	// Expiry frees both.
	clock.Advance(2 * time.Hour)
	if res, err := claim("e"); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("claim after expiry = %v, %v; want claimed", res.Outcome, err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len after expiry sweep = %d, want 1", n)
	}
}

func TestMemoryStoreSweepsExpired(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		key := string(rune('a'+i%26)) + time.Duration(i).String()
		res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Second, Retention: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Complete(ctx, key, res.Owner, idempotency.Response{Status: 200}, time.Second); err != nil {
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

func TestNewMemoryStoreRejectsNegativeBounds(t *testing.T) {
	if _, err := idempotency.NewMemoryStore(idempotency.MemoryOptions{MaxEntries: -1}); err == nil {
		t.Fatal("want an error")
	}
}
