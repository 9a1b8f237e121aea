package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
)

// Options configure [Run]. The zero value runs every test on real time.
type Options struct {
	// Advance, when set, moves the store's clock forward by d. Without it
	// the suite sleeps, so tests of expiry take a few hundred milliseconds.
	Advance func(d time.Duration)
	// Short is the lease and retention used by tests that wait for expiry.
	// Zero means 100 ms. Raise it for stores with a coarse clock.
	Short time.Duration
}

// Run runs the conformance suite. newStore must return a store that holds
// no records (for a shared server, use a fresh key prefix per call); it is
// called once per subtest. Subtests run in parallel unless Advance is set.
func Run(t *testing.T, newStore func(t *testing.T) idempotency.Store, o Options) {
	if o.Short == 0 {
		o.Short = 100 * time.Millisecond
	}
	s := &suite{o: o}
	tests := []struct {
		name string
		fn   func(t *testing.T, st idempotency.Store)
	}{
		{"ClaimNew", s.claimNew},
		{"InFlight", s.inFlight},
		{"Mismatch", s.mismatch},
		{"CompleteAndReplay", s.completeAndReplay},
		{"EmptyResponse", s.emptyResponse},
		{"NotReplayable", s.notReplayable},
		{"OwnershipChecks", s.ownershipChecks},
		{"Release", s.release},
		{"Takeover", s.takeover},
		{"CompleteAfterLeaseWithoutTakeover", s.completeAfterLease},
		{"ExtendKeepsClaim", s.extendKeepsClaim},
		{"RetentionExpiry", s.retentionExpiry},
		{"KeysAreIndependent", s.independentKeys},
		{"ConcurrentClaims", s.concurrentClaims},
		{"ConcurrentCompleteAndTakeover", s.concurrentCompleteTakeover},
		{"GetMissing", s.getMissing},
		{"CanceledContext", s.canceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if o.Advance == nil {
				t.Parallel()
			}
			tc.fn(t, newStore(t))
		})
	}
}

type suite struct{ o Options }

const long = time.Hour

func (s *suite) sleep(d time.Duration) {
	if s.o.Advance != nil {
		s.o.Advance(d)
		return
	}
	time.Sleep(d)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func claim(t *testing.T, st idempotency.Store, key, fp string, lease, retention time.Duration) idempotency.ClaimResult {
	t.Helper()
	res, err := st.Claim(ctx(t), idempotency.ClaimRequest{Key: key, Fingerprint: fp, Lease: lease, Retention: retention})
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	return res
}

func mustClaim(t *testing.T, st idempotency.Store, key, fp string, lease time.Duration) idempotency.Owner {
	t.Helper()
	res := claim(t, st, key, fp, lease, long)
	if res.Outcome != idempotency.Claimed {
		t.Fatalf("Claim(%q) outcome = %v, want claimed", key, res.Outcome)
	}
	return res.Owner
}

func sampleResponse() idempotency.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h["Link"] = []string{"<a>; rel=x", "<b>; rel=y"}
	h.Set("Location", "/orders/42")
	return idempotency.Response{Status: http.StatusCreated, Header: h, Body: []byte("{\"id\":42}\x00\xff\n\r")}
}

func (s *suite) claimNew(t *testing.T, st idempotency.Store) {
	res := claim(t, st, "k", "fp", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover || res.Owner.Fence != 1 || res.Owner.Token == "" {
		t.Fatalf("first Claim = %+v, want claimed, fence 1, a token, no takeover", res)
	}
	rec, err := st.Get(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != idempotency.Pending || rec.Fingerprint != "fp" || rec.Fence != 1 || rec.LeaseRemaining <= 0 || rec.LeaseRemaining > long {
		t.Fatalf("Get = %+v, want pending, fp, fence 1, lease in (0, 1h]", rec)
	}
}

func (s *suite) inFlight(t *testing.T, st idempotency.Store) {
	mustClaim(t, st, "k", "fp", long)
	res := claim(t, st, "k", "fp", long, long)
	if res.Outcome != idempotency.InFlight {
		t.Fatalf("second Claim outcome = %v, want in_flight", res.Outcome)
	}
	if res.LeaseRemaining <= 0 || res.LeaseRemaining > long {
		t.Fatalf("LeaseRemaining = %v, want in (0, %v]", res.LeaseRemaining, long)
	}
}

func (s *suite) mismatch(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp1", long)
	if res := claim(t, st, "k", "fp2", long, long); res.Outcome != idempotency.Mismatch {
		t.Fatalf("Claim with another fingerprint while pending = %v, want mismatch", res.Outcome)
	}
	if err := st.Complete(ctx(t), "k", o, sampleResponse(), long); err != nil {
		t.Fatal(err)
	}
	if res := claim(t, st, "k", "fp2", long, long); res.Outcome != idempotency.Mismatch {
		t.Fatalf("Claim with another fingerprint after completion = %v, want mismatch", res.Outcome)
	}
}

func (s *suite) completeAndReplay(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", long)
	want := sampleResponse()
	if err := st.Complete(ctx(t), "k", o, want, long); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		res := claim(t, st, "k", "fp", long, long)
		if res.Outcome != idempotency.Completed {
			t.Fatalf("Claim after Complete = %v, want completed", res.Outcome)
		}
		assertResponse(t, res.Response, want)
	}
	rec, err := st.Get(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != idempotency.Done || rec.Fence != 1 || rec.Fingerprint != "fp" {
		t.Fatalf("Get = %+v, want done, fence 1", rec)
	}
	assertResponse(t, rec.Response, want)
}

func assertResponse(t *testing.T, got, want idempotency.Response) {
	t.Helper()
	if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) || got.NotReplayable != want.NotReplayable {
		t.Fatalf("response = %d %q %q, want %d %q %q", got.Status, got.Body, got.NotReplayable, want.Status, want.Body, want.NotReplayable)
	}
	if len(got.Header) != len(want.Header) || (len(want.Header) > 0 && !reflect.DeepEqual(got.Header, want.Header)) {
		t.Fatalf("header = %v, want %v", got.Header, want.Header)
	}
}

func (s *suite) emptyResponse(t *testing.T, st idempotency.Store) {
	completeAndReplay(t, st, idempotency.Response{Status: http.StatusNoContent})
}

func (s *suite) notReplayable(t *testing.T, st idempotency.Store) {
	completeAndReplay(t, st, idempotency.Response{Status: http.StatusOK, NotReplayable: "too_large"})
}

// completeAndReplay claims a key, completes it with want, and checks that
// the next claim finds want unchanged.
func completeAndReplay(t *testing.T, st idempotency.Store, want idempotency.Response) {
	t.Helper()
	o := mustClaim(t, st, "k", "fp", long)
	if err := st.Complete(ctx(t), "k", o, want, long); err != nil {
		t.Fatal(err)
	}
	res := claim(t, st, "k", "fp", long, long)
	if res.Outcome != idempotency.Completed {
		t.Fatalf("outcome = %v, want completed", res.Outcome)
	}
	assertResponse(t, res.Response, want)
}

func (s *suite) ownershipChecks(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", long)
	wrong := []idempotency.Owner{
		{Token: o.Token + "x", Fence: o.Fence},
		{Token: o.Token, Fence: o.Fence + 1},
		{},
	}
	for _, w := range wrong {
		if err := st.Extend(ctx(t), "k", w, long); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Extend by %+v = %v, want ErrNotOwner", w, err)
		}
		if err := st.Complete(ctx(t), "k", w, sampleResponse(), long); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Complete by %+v = %v, want ErrNotOwner", w, err)
		}
		if err := st.Release(ctx(t), "k", w); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Release by %+v = %v, want ErrNotOwner", w, err)
		}
	}
	for _, op := range []string{"Extend", "Complete", "Release"} {
		var err error
		switch op {
		case "Extend":
			err = st.Extend(ctx(t), "absent", o, long)
		case "Complete":
			err = st.Complete(ctx(t), "absent", o, sampleResponse(), long)
		case "Release":
			err = st.Release(ctx(t), "absent", o)
		}
		if !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("%s of an absent key = %v, want ErrNotOwner", op, err)
		}
	}
	if res := claim(t, st, "k", "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("after refused calls, Claim = %v, want in_flight", res.Outcome)
	}
	if err := st.Extend(ctx(t), "k", o, long); err != nil {
		t.Fatalf("Extend by owner: %v", err)
	}
	if err := st.Complete(ctx(t), "k", o, sampleResponse(), long); err != nil {
		t.Fatalf("Complete by owner: %v", err)
	}
	if err := st.Complete(ctx(t), "k", o, idempotency.Response{Status: 500}, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second Complete = %v, want ErrNotOwner", err)
	}
	if err := st.Extend(ctx(t), "k", o, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Extend after Complete = %v, want ErrNotOwner", err)
	}
	if err := st.Release(ctx(t), "k", o); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Release after Complete = %v, want ErrNotOwner", err)
	}
	res := claim(t, st, "k", "fp", long, long)
	if res.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", res.Outcome)
	}
	assertResponse(t, res.Response, sampleResponse())
}

func (s *suite) release(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", long)
	if err := st.Release(ctx(t), "k", o); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx(t), "k"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after Release = %v, want ErrNotFound", err)
	}
	if err := st.Release(ctx(t), "k", o); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second Release = %v, want ErrNotOwner", err)
	}
	// After a release the key is new: even another fingerprint may claim it.
	res := claim(t, st, "k", "other", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover || res.Owner.Token == o.Token {
		t.Fatalf("Claim after Release = %+v, want a fresh claim", res)
	}
}

func (s *suite) takeover(t *testing.T, st idempotency.Store) {
	old := mustClaim(t, st, "k", "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2)
	res := claim(t, st, "k", "fp", long, long)
	if res.Outcome != idempotency.Claimed || !res.Takeover {
		t.Fatalf("Claim after the lease ran out = %+v, want a takeover", res)
	}
	if res.Owner.Fence != old.Fence+1 || res.Owner.Token == old.Token {
		t.Fatalf("takeover owner = %+v, want fence %d and a new token", res.Owner, old.Fence+1)
	}
	if err := st.Complete(ctx(t), "k", old, idempotency.Response{Status: 200, Body: []byte("stale")}, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("late Complete by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Extend(ctx(t), "k", old, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Extend by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Release(ctx(t), "k", old); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Release by the old owner = %v, want ErrNotOwner", err)
	}
	if err := st.Complete(ctx(t), "k", res.Owner, sampleResponse(), long); err != nil {
		t.Fatalf("Complete by the new owner: %v", err)
	}
	got := claim(t, st, "k", "fp", long, long)
	if got.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", got.Outcome)
	}
	assertResponse(t, got.Response, sampleResponse())
	rec, err := st.Get(ctx(t), "k")
	if err != nil || rec.Fence != 2 {
		t.Fatalf("Get = %+v, %v; want fence 2", rec, err)
	}
}

func (s *suite) completeAfterLease(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2)
	if err := st.Complete(ctx(t), "k", o, sampleResponse(), long); err != nil {
		t.Fatalf("Complete after the lease ran out, nobody took over: %v", err)
	}
	if res := claim(t, st, "k", "fp", long, long); res.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", res.Outcome)
	}
}

func (s *suite) extendKeepsClaim(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", s.o.Short)
	if err := st.Extend(ctx(t), "k", o, long); err != nil {
		t.Fatal(err)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	if res := claim(t, st, "k", "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("Claim after the first lease, extended = %v, want in_flight", res.Outcome)
	}
	// A pending record lives at least as long as its lease, even when the
	// lease outgrows the retention given at claim time. The Extend must
	// reach the store within the record's first lifetime (6×Short); on real
	// time a stalled machine may miss it, so a late attempt is repeated
	// with a new key rather than failed.
	for attempt := 0; ; attempt++ {
		key := fmt.Sprint("k2-", attempt)
		start := time.Now()
		o2res := claim(t, st, key, "fp", 5*s.o.Short, s.o.Short)
		err := st.Extend(ctx(t), key, o2res.Owner, long)
		if err != nil && s.o.Advance == nil && time.Since(start) >= 6*s.o.Short && attempt < 10 {
			continue // too late to tell; try again
		}
		if err != nil {
			t.Fatalf("Extend within the record's lifetime: %v", err)
		}
		s.sleep(7 * s.o.Short)
		if res := claim(t, st, key, "fp", long, long); res.Outcome != idempotency.InFlight {
			t.Fatalf("Claim of a record extended past its lifetime = %v, want in_flight", res.Outcome)
		}
		return
	}
}

func (s *suite) retentionExpiry(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, "k", "fp", long)
	if err := st.Complete(ctx(t), "k", o, sampleResponse(), s.o.Short); err != nil {
		t.Fatal(err)
	}
	s.sleep(s.o.Short + s.o.Short/2)
	if _, err := st.Get(ctx(t), "k"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after retention = %v, want ErrNotFound", err)
	}
	res := claim(t, st, "k", "other", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover || res.Owner.Fence != 1 {
		t.Fatalf("Claim after retention = %+v, want a fresh claim", res)
	}
	// A pending record whose holder vanished disappears after lease+retention.
	mustClaim(t, st, "p", "fp", s.o.Short)
	s.sleep(s.o.Short + s.o.Short/2) // claimable now, but still remembered
	if rec, err := st.Get(ctx(t), "p"); err != nil || rec.State != idempotency.Pending {
		t.Fatalf("Get of an abandoned claim within lease+retention = %+v, %v; want pending", rec, err)
	}
}

func (s *suite) independentKeys(t *testing.T, st idempotency.Store) {
	a := mustClaim(t, st, "a", "fp", long)
	b := mustClaim(t, st, "b", "fp", long)
	if err := st.Complete(ctx(t), "a", b, sampleResponse(), long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Complete of a with b's owner = %v, want ErrNotOwner", err)
	}
	if err := st.Complete(ctx(t), "a", a, sampleResponse(), long); err != nil {
		t.Fatal(err)
	}
	if res := claim(t, st, "b", "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("b = %v, want in_flight", res.Outcome)
	}
}

func (s *suite) concurrentClaims(t *testing.T, st idempotency.Store) {
	const n = 50
	var wg sync.WaitGroup
	results := make([]idempotency.ClaimResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = st.Claim(ctx(t), idempotency.ClaimRequest{Key: "k", Fingerprint: "fp", Lease: long, Retention: long})
		})
	}
	wg.Wait()
	claimed := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("Claim: %v", errs[i])
		}
		switch r.Outcome {
		case idempotency.Claimed:
			claimed++
		case idempotency.InFlight:
		default:
			t.Fatalf("outcome %v", r.Outcome)
		}
	}
	if claimed != 1 {
		t.Fatalf("%d of %d concurrent claims won, want exactly 1", claimed, n)
	}
}

func (s *suite) concurrentCompleteTakeover(t *testing.T, st idempotency.Store) {
	// The old owner's late Complete races a takeover: whatever the order,
	// the record must end in one consistent state.
	for i := range 10 {
		key := fmt.Sprint("k", i)
		old := mustClaim(t, st, key, "fp", s.o.Short)
		s.sleep(s.o.Short + s.o.Short/2)
		var wg sync.WaitGroup
		var completeErr error
		var res idempotency.ClaimResult
		var claimErr error
		wg.Go(func() {
			completeErr = st.Complete(ctx(t), key, old, sampleResponse(), long)
		})
		wg.Go(func() {
			res, claimErr = st.Claim(ctx(t), idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: long, Retention: long})
		})
		wg.Wait()
		if claimErr != nil {
			t.Fatal(claimErr)
		}
		switch {
		case completeErr == nil && res.Outcome == idempotency.Completed:
		case errors.Is(completeErr, idempotency.ErrNotOwner) && res.Outcome == idempotency.Claimed && res.Takeover:
		default:
			t.Fatalf("race %d: Complete = %v, Claim = %+v; want one winner", i, completeErr, res)
		}
	}
}

func (s *suite) getMissing(t *testing.T, st idempotency.Store) {
	if _, err := st.Get(ctx(t), "absent"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func (s *suite) canceledContext(t *testing.T, st idempotency.Store) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Claim(c, idempotency.ClaimRequest{Key: "k", Fingerprint: "fp", Lease: long, Retention: long}); err == nil {
		t.Fatal("Claim with a canceled context succeeded")
	}
	if _, err := st.Get(ctx(t), "k"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after a canceled Claim = %v, want ErrNotFound", err)
	}
}
