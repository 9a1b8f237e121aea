package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
)

// Leases, takeovers, retention and fences.

func (s *suite) takeover(t *testing.T, st idempotency.Store) {
	k := key("k")
	old := mustClaim(t, st, k, "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2)
	res := claim(t, st, k, "fp", long, long)
	if res.Outcome != idempotency.Claimed || !res.Takeover {
		t.Fatalf("Claim after the lease ran out = %+v, want a takeover", res)
	}
	if res.Owner.Fence <= old.Fence || res.Owner.Token == old.Token {
		t.Fatalf("takeover owner = %+v, want a fence above %d and a new token", res.Owner, old.Fence)
	}
	if err := st.Complete(ctx(t), k, old, idempotency.Response{Status: 200, Body: []byte("stale")}, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("late Complete by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Extend(ctx(t), k, old, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Extend by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Release(ctx(t), k, old); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Release by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Complete(ctx(t), k, res.Owner, sampleResponse(), long); err != nil {
		t.Fatalf("Complete by the new owner: %v", err)
	}
	got := claim(t, st, k, "fp", long, long)
	if got.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", got.Outcome)
	}
	assertResponse(t, got.Response, sampleResponse())
	rec, err := st.Get(ctx(t), k)
	if err != nil || rec.Fence != res.Owner.Fence {
		t.Fatalf("Get = %+v, %v; want fence %d", rec, err, res.Owner.Fence)
	}
}

func (s *suite) completeAfterLease(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2)
	if err := st.Complete(ctx(t), key("k"), o, sampleResponse(), long); err != nil {
		t.Fatalf("Complete after the lease ran out, nobody took over: %v", err)
	}
	if res := claim(t, st, key("k"), "fp", long, long); res.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", res.Outcome)
	}
}

func (s *suite) extendKeepsClaim(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp", s.o.Short)
	if err := st.Extend(ctx(t), key("k"), o, long); err != nil {
		t.Fatal(err)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	if res := claim(t, st, key("k"), "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("Claim after the first lease, extended = %v, want in_flight", res.Outcome)
	}
	// A pending record lives at least as long as its lease, even when the
	// lease outgrows the retention given at claim time. The Extend must
	// reach the store within the record's first lifetime (6×Short); on real
	// time a stalled machine may miss it, so a late attempt is repeated
	// with a new key rather than failed.
	for attempt := 0; ; attempt++ {
		k := key(fmt.Sprint("k2-", attempt))
		start := time.Now()
		o2res := claim(t, st, k, "fp", 5*s.o.Short, s.o.Short)
		err := st.Extend(ctx(t), k, o2res.Owner, long)
		if err != nil && s.o.Advance == nil && time.Since(start) >= 6*s.o.Short && attempt < 10 {
			continue // too late to tell; try again
		}
		if err != nil {
			t.Fatalf("Extend within the record's lifetime: %v", err)
		}
		s.sleep(7 * s.o.Short)
		if res := claim(t, st, k, "fp", long, long); res.Outcome != idempotency.InFlight {
			t.Fatalf("Claim of a record extended past its lifetime = %v, want in_flight", res.Outcome)
		}
		return
	}
}

func (s *suite) retentionExpiry(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp", long)
	if err := st.Complete(ctx(t), key("k"), o, sampleResponse(), s.o.Short); err != nil {
		t.Fatal(err)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	if _, err := st.Get(ctx(t), key("k")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after retention = %v, want ErrNotFound", err)
	}
	res := claim(t, st, key("k"), "other", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover {
		t.Fatalf("Claim after retention = %+v, want a fresh claim", res)
	}
	// A pending record whose holder vanished disappears after lease+retention.
	mustClaim(t, st, key("p"), "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2) // claimable now, but still remembered
	if rec, err := st.Get(ctx(t), key("p")); err != nil || rec.State != idempotency.Pending {
		t.Fatalf("Get of an abandoned claim within lease+retention = %+v, %v; want pending", rec, err)
	}
}

// A handler guards its writes with "WHERE fence < $1": every claim of a
// key must get a greater fence than the claims before it, including one
// that was released after writing (a 5xx) and one that lost its lease.
func (s *suite) fencesGrowAcrossReleases(t *testing.T, st idempotency.Store) {
	k := key("k")
	first := mustClaim(t, st, k, "fp", long)
	if err := st.Release(ctx(t), k, first); err != nil {
		t.Fatal(err)
	}
	second := mustClaim(t, st, k, "fp", long)
	if second.Fence <= first.Fence {
		t.Fatalf("fence after a release = %d, want above the released claim's %d", second.Fence, first.Fence)
	}
	if err := st.Release(ctx(t), k, second); err != nil {
		t.Fatal(err)
	}
	third := mustClaim(t, st, k, "fp", s.o.Short)
	if third.Fence <= second.Fence {
		t.Fatalf("fence after a second release = %d, want above %d", third.Fence, second.Fence)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	took := claim(t, st, k, "fp", long, long)
	if took.Outcome != idempotency.Claimed || !took.Takeover || took.Owner.Fence <= third.Fence {
		t.Fatalf("takeover = %+v, want a fence above %d", took, third.Fence)
	}
	if err := st.Release(ctx(t), k, took.Owner); err != nil {
		t.Fatal(err)
	}
	if last := mustClaim(t, st, k, "fp", long); last.Fence <= took.Owner.Fence {
		t.Fatalf("fence after releasing a takeover = %d, want above %d", last.Fence, took.Owner.Fence)
	}
}

// Fences keep growing when a record is claimed again after its retention.
func (s *suite) fencesGrowAcrossRetention(t *testing.T, st idempotency.Store) {
	k := key("k")
	first := mustClaim(t, st, k, "fp", long)
	if err := st.Complete(ctx(t), k, first, sampleResponse(), s.o.Short); err != nil {
		t.Fatal(err)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	if again := mustClaim(t, st, k, "fp", long); again.Fence <= first.Fence {
		t.Fatalf("fence after retention = %d, want above %d", again.Fence, first.Fence)
	}
}
