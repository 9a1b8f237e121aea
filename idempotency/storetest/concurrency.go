package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

// Concurrent calls on one key, and on one scope.

// concurrently makes n claims at once and counts their outcomes.
func concurrently(t *testing.T, n int, req func(i int) idempotency.ClaimRequest, st idempotency.Store) map[idempotency.Outcome]int {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]idempotency.ClaimResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = st.Claim(ctx(t), req(i)) })
	}
	wg.Wait()
	outcomes := map[idempotency.Outcome]int{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("Claim: %v", errs[i])
		}
		outcomes[r.Outcome]++
	}
	return outcomes
}

func (s *suite) concurrentClaims(t *testing.T, st idempotency.Store) {
	const n = 50
	got := concurrently(t, n, func(int) idempotency.ClaimRequest {
		return idempotency.ClaimRequest{Key: key("k"), Fingerprint: "fp", Lease: long, Retention: long}
	}, st)
	if got[idempotency.Claimed] != 1 || got[idempotency.InFlight] != n-1 {
		t.Fatalf("outcomes of %d concurrent claims of one key = %v, want exactly 1 claimed, the rest in flight", n, got)
	}
}

// Concurrent claims of distinct keys in one scope never exceed its budget.
func (s *suite) concurrentClaimsWithinBudget(t *testing.T, st idempotency.Store) {
	const n, budget = 40, 10
	got := concurrently(t, n, func(i int) idempotency.ClaimRequest {
		return budgetReq(key(fmt.Sprint("k", i)), budget, 0)
	}, st)
	if got[idempotency.Claimed] != budget || got[idempotency.OverBudget] != n-budget {
		t.Fatalf("outcomes of %d concurrent claims in one scope = %v, want the budget, %d, claimed and the rest over budget", n, got, budget)
	}
}

func (s *suite) concurrentCompleteTakeover(t *testing.T, st idempotency.Store) {
	// The old owner's late Complete races a takeover: whatever the order,
	// the record must end in one consistent state.
	for i := range 10 {
		k := key(fmt.Sprint("k", i))
		old := mustClaim(t, st, k, "fp", s.o.Short)
		s.sleep(s.o.Short + s.o.Short/2)
		var wg sync.WaitGroup
		var completeErr error
		var res idempotency.ClaimResult
		var claimErr error
		wg.Go(func() {
			completeErr = st.Complete(ctx(t), k, old, sampleResponse(), long)
		})
		wg.Go(func() {
			res, claimErr = st.Claim(ctx(t), idempotency.ClaimRequest{Key: k, Fingerprint: "fp", Lease: long, Retention: long})
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
