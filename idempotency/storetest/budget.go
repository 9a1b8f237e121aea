package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

// A scope's budget: new records of a scope over it are refused, and
// nothing else is.

func budgetReq(k idempotency.RecordKey, records int, bytes int64) idempotency.ClaimRequest {
	return idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: long, Retention: long, MaxRecords: records, MaxBytes: bytes}
}

func (s *suite) budgetOfRecords(t *testing.T, st idempotency.Store) {
	const n = 3
	var owners []idempotency.Owner
	for i := range n {
		res := claimReq(t, st, budgetReq(key(fmt.Sprint("k", i)), n, 0))
		if res.Outcome != idempotency.Claimed {
			t.Fatalf("claim %d of %d = %v, want claimed", i+1, n, res.Outcome)
		}
		owners = append(owners, res.Owner)
	}
	if err := st.Complete(ctx(t), key("k0"), owners[0], sampleResponse(), long); err != nil {
		t.Fatal(err)
	}
	over := claimReq(t, st, budgetReq(key("k3"), n, 0))
	if over.Outcome != idempotency.OverBudget {
		t.Fatalf("claim over the budget = %+v, want over_budget", over)
	}
	if over.RetryAfter < 0 || over.RetryAfter > 2*long {
		t.Fatalf("RetryAfter = %v, want the time until the scope's oldest record expires (at most lease+retention)", over.RetryAfter)
	}
	if _, err := st.Get(ctx(t), key("k3")); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("Get of the refused key = %v, want ErrNotFound: a refused claim creates nothing", err)
	}
	// The scope's own records are still answered: a replay, an in-flight
	// claim, a mismatch.
	if res := claimReq(t, st, budgetReq(key("k0"), n, 0)); res.Outcome != idempotency.Completed {
		t.Fatalf("replay in a full scope = %v, want completed", res.Outcome)
	}
	if res := claimReq(t, st, budgetReq(key("k1"), n, 0)); res.Outcome != idempotency.InFlight {
		t.Fatalf("retry in a full scope = %v, want in_flight", res.Outcome)
	}
	// Other scopes are not affected.
	for i := range n + 1 {
		if res := claimReq(t, st, budgetReq(keyOf("b", fmt.Sprint("k", i)), n+1, 0)); res.Outcome != idempotency.Claimed {
			t.Fatalf("claim %d of another scope = %v, want claimed", i+1, res.Outcome)
		}
	}
	// A larger budget lets the scope go on.
	if res := claimReq(t, st, budgetReq(key("k3"), n+1, 0)); res.Outcome != idempotency.Claimed {
		t.Fatalf("claim within a larger budget = %v, want claimed", res.Outcome)
	}
}

func (s *suite) budgetOfBytes(t *testing.T, st idempotency.Store) {
	big := idempotency.Response{Status: 200, Body: make([]byte, 1000)}
	res := claimReq(t, st, budgetReq(key("k0"), 0, 1000))
	if res.Outcome != idempotency.Claimed {
		t.Fatalf("first claim = %v", res.Outcome)
	}
	// Pending records hold no response bytes.
	if r := claimReq(t, st, budgetReq(key("k1"), 0, 1000)); r.Outcome != idempotency.Claimed {
		t.Fatalf("second claim while the first is pending = %v, want claimed", r.Outcome)
	}
	if err := st.Complete(ctx(t), key("k0"), res.Owner, big, long); err != nil {
		t.Fatal(err)
	}
	if r := claimReq(t, st, budgetReq(key("k2"), 0, 1000)); r.Outcome != idempotency.OverBudget {
		t.Fatalf("claim with %d bytes recorded, budget 1000 = %v, want over_budget", len(big.Body), r.Outcome)
	}
	if r := claimReq(t, st, budgetReq(keyOf("b", "k2"), 0, 1000)); r.Outcome != idempotency.Claimed {
		t.Fatalf("claim of another scope = %v, want claimed", r.Outcome)
	}
}

func (s *suite) budgetFreedByRelease(t *testing.T, st idempotency.Store) {
	res := claimReq(t, st, budgetReq(key("k0"), 1, 0))
	if res.Outcome != idempotency.Claimed {
		t.Fatal(res.Outcome)
	}
	if r := claimReq(t, st, budgetReq(key("k1"), 1, 0)); r.Outcome != idempotency.OverBudget {
		t.Fatalf("claim over a budget of 1 = %v", r.Outcome)
	}
	if err := st.Release(ctx(t), key("k0"), res.Owner); err != nil {
		t.Fatal(err)
	}
	if r := claimReq(t, st, budgetReq(key("k1"), 1, 0)); r.Outcome != idempotency.Claimed {
		t.Fatalf("claim after the scope's record was released = %v, want claimed", r.Outcome)
	}
}

func (s *suite) budgetFreedByExpiry(t *testing.T, st idempotency.Store) {
	req := budgetReq(key("k0"), 1, 0)
	req.Lease, req.Retention = s.o.Short, s.o.Short
	res := claimReq(t, st, req)
	if res.Outcome != idempotency.Claimed {
		t.Fatal(res.Outcome)
	}
	if err := st.Complete(ctx(t), key("k0"), res.Owner, sampleResponse(), s.o.Short); err != nil {
		t.Fatal(err)
	}
	if r := claimReq(t, st, budgetReq(key("k1"), 1, 0)); r.Outcome != idempotency.OverBudget || r.RetryAfter > 2*s.o.Short {
		t.Fatalf("claim over a budget of 1 = %+v, want over_budget with RetryAfter at most %v", r, 2*s.o.Short)
	}
	s.sleep(3 * s.o.Short)
	if r := claimReq(t, st, budgetReq(key("k1"), 1, 0)); r.Outcome != idempotency.Claimed {
		t.Fatalf("claim after the scope's record expired = %v, want claimed", r.Outcome)
	}
}

func (s *suite) noBudget(t *testing.T, st idempotency.Store) {
	for i := range 50 {
		if r := claimReq(t, st, budgetReq(key(fmt.Sprint("k", i)), 0, 0)); r.Outcome != idempotency.Claimed {
			t.Fatalf("claim %d without a budget = %v, want claimed", i, r.Outcome)
		}
	}
}
