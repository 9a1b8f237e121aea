package storetest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

// The state machine of one record: claim, in flight, mismatch, complete
// and replay, ownership, release.

func (s *suite) claimNew(t *testing.T, st idempotency.Store) {
	res := claim(t, st, key("k"), "fp", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover || res.Owner.Fence <= 0 || res.Owner.Token == "" {
		t.Fatalf("first Claim = %+v, want claimed, a positive fence, a token, no takeover", res)
	}
	rec, err := st.Get(ctx(t), key("k"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != idempotency.Pending || rec.Fingerprint != "fp" || rec.Fence != res.Owner.Fence || rec.LeaseRemaining <= 0 || rec.LeaseRemaining > long {
		t.Fatalf("Get = %+v, want pending, fp, fence %d, lease in (0, 1h]", rec, res.Owner.Fence)
	}
}

func (s *suite) inFlight(t *testing.T, st idempotency.Store) {
	mustClaim(t, st, key("k"), "fp", long)
	res := claim(t, st, key("k"), "fp", long, long)
	if res.Outcome != idempotency.InFlight {
		t.Fatalf("second Claim outcome = %v, want in_flight", res.Outcome)
	}
	if res.LeaseRemaining <= 0 || res.LeaseRemaining > long {
		t.Fatalf("LeaseRemaining = %v, want in (0, %v]", res.LeaseRemaining, long)
	}
}

func (s *suite) mismatch(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp1", long)
	if res := claim(t, st, key("k"), "fp2", long, long); res.Outcome != idempotency.Mismatch {
		t.Fatalf("Claim with another fingerprint while pending = %v, want mismatch", res.Outcome)
	}
	if err := st.Complete(ctx(t), key("k"), o, sampleResponse(), long); err != nil {
		t.Fatal(err)
	}
	if res := claim(t, st, key("k"), "fp2", long, long); res.Outcome != idempotency.Mismatch {
		t.Fatalf("Claim with another fingerprint after completion = %v, want mismatch", res.Outcome)
	}
}

func (s *suite) completeAndReplay(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp", long)
	want := sampleResponse()
	if err := st.Complete(ctx(t), key("k"), o, want, long); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res := claim(t, st, key("k"), "fp", long, long)
		if res.Outcome != idempotency.Completed {
			t.Fatalf("Claim after Complete = %v, want completed", res.Outcome)
		}
		assertResponse(t, res.Response, want)
	}
	rec, err := st.Get(ctx(t), key("k"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != idempotency.Done || rec.Fence != o.Fence || rec.Fingerprint != "fp" {
		t.Fatalf("Get = %+v, want done, fence %d", rec, o.Fence)
	}
	assertResponse(t, rec.Response, want)
}

func (s *suite) emptyResponse(t *testing.T, st idempotency.Store) {
	completeAndReplay(t, st, idempotency.Response{Status: http.StatusNoContent})
}

// headerWithoutValues: a handler suppresses a header net/http would add
// (Content-Type sniffing, Date) by setting its value to nil. The name must
// come back, with no values, so that the replay suppresses it too.
func (s *suite) headerWithoutValues(t *testing.T, st idempotency.Store) {
	h := http.Header{"Content-Type": nil, "Location": {"/orders/42"}}
	want := idempotency.Response{Status: http.StatusCreated, Header: h, Body: []byte("<p>not sniffed</p>")}
	got := completeAndClaim(t, st, want)
	vs, ok := got.Header["Content-Type"]
	if !ok || len(vs) != 0 || len(got.Header) != 2 || got.Header.Get("Location") != "/orders/42" {
		t.Fatalf("replayed header = %#v, want Content-Type present with no values, and Location", got.Header)
	}
	if got.Status != want.Status || string(got.Body) != string(want.Body) {
		t.Fatalf("replayed %d %q, want %d %q", got.Status, got.Body, want.Status, want.Body)
	}
}

func (s *suite) notReplayable(t *testing.T, st idempotency.Store) {
	completeAndReplay(t, st, idempotency.Response{Status: http.StatusOK, NotReplayable: idempotency.ReasonTooLarge})
}

func (s *suite) ownershipChecks(t *testing.T, st idempotency.Store) {
	k, absent := key("k"), key("absent")
	o := mustClaim(t, st, k, "fp", long)
	wrong := []idempotency.Owner{
		{Token: o.Token + "x", Fence: o.Fence},
		{Token: o.Token, Fence: o.Fence + 1},
		{},
	}
	for _, w := range wrong {
		if err := st.Extend(ctx(t), k, w, long); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Extend by %+v = %v, want ErrNotOwner", w, err)
		}
		if err := st.Complete(ctx(t), k, w, sampleResponse(), long); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Complete by %+v = %v, want ErrNotOwner", w, err)
		}
		if err := st.Release(ctx(t), k, w); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("Release by %+v = %v, want ErrNotOwner", w, err)
		}
	}
	for _, op := range []string{"Extend", "Complete", "Release"} {
		var err error
		switch op {
		case "Extend":
			err = st.Extend(ctx(t), absent, o, long)
		case "Complete":
			err = st.Complete(ctx(t), absent, o, sampleResponse(), long)
		case "Release":
			err = st.Release(ctx(t), absent, o)
		}
		if !errors.Is(err, idempotency.ErrNotOwner) {
			t.Errorf("%s of an absent key = %v, want ErrNotOwner", op, err)
		}
	}
	if res := claim(t, st, k, "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("after refused calls, Claim = %v, want in_flight", res.Outcome)
	}
	if err := st.Extend(ctx(t), k, o, long); err != nil {
		t.Fatalf("Extend by owner: %v", err)
	}
	if err := st.Complete(ctx(t), k, o, sampleResponse(), long); err != nil {
		t.Fatalf("Complete by owner: %v", err)
	}
	if err := st.Complete(ctx(t), k, o, idempotency.Response{Status: 500}, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second Complete = %v, want ErrNotOwner", err)
	}
	if err := st.Extend(ctx(t), k, o, long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Extend after Complete = %v, want ErrNotOwner", err)
	}
	if err := st.Release(ctx(t), k, o); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Release after Complete = %v, want ErrNotOwner", err)
	}
	res := claim(t, st, k, "fp", long, long)
	if res.Outcome != idempotency.Completed {
		t.Fatalf("Claim = %v, want completed", res.Outcome)
	}
	assertResponse(t, res.Response, sampleResponse())
}

func (s *suite) release(t *testing.T, st idempotency.Store) {
	o := mustClaim(t, st, key("k"), "fp", long)
	if err := st.Release(ctx(t), key("k"), o); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx(t), key("k")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after Release = %v, want ErrNotFound", err)
	}
	if err := st.Release(ctx(t), key("k"), o); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second Release = %v, want ErrNotOwner", err)
	}
	// After a release the key is new: even another fingerprint may claim it.
	res := claim(t, st, key("k"), "other", long, long)
	if res.Outcome != idempotency.Claimed || res.Takeover || res.Owner.Token == o.Token {
		t.Fatalf("Claim after Release = %+v, want a fresh claim", res)
	}
}

func (s *suite) independentKeys(t *testing.T, st idempotency.Store) {
	a := mustClaim(t, st, key("a"), "fp", long)
	b := mustClaim(t, st, key("b"), "fp", long)
	if err := st.Complete(ctx(t), key("a"), b, sampleResponse(), long); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("Complete of a with b's owner = %v, want ErrNotOwner", err)
	}
	if err := st.Complete(ctx(t), key("a"), a, sampleResponse(), long); err != nil {
		t.Fatal(err)
	}
	if res := claim(t, st, key("b"), "fp", long, long); res.Outcome != idempotency.InFlight {
		t.Fatalf("b = %v, want in_flight", res.Outcome)
	}
	// The same record name in another scope is another record.
	if res := claim(t, st, keyOf("b", "a"), "other", long, long); res.Outcome != idempotency.Claimed {
		t.Fatalf("a in another scope = %v, want claimed", res.Outcome)
	}
}

func (s *suite) getMissing(t *testing.T, st idempotency.Store) {
	if _, err := st.Get(ctx(t), key("absent")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func (s *suite) canceledContext(t *testing.T, st idempotency.Store) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Claim(c, idempotency.ClaimRequest{Key: key("k"), Fingerprint: "fp", Lease: long, Retention: long}); err == nil {
		t.Fatal("Claim with a canceled context succeeded")
	}
	if _, err := st.Get(ctx(t), key("k")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get after a canceled Claim = %v, want ErrNotFound", err)
	}
}
