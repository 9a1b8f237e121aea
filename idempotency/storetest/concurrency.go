package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

// Concurrent calls on one key, and on one scope.

func (s *suite) concurrentClaims(t *testing.T, st idempotency.Store) {
	const n = 50
	var wg sync.WaitGroup
	results := make([]idempotency.ClaimResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = st.Claim(ctx(t), idempotency.ClaimRequest{Key: key("k"), Fingerprint: "fp", Lease: long, Retention: long})
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

// Concurrent claims of distinct keys in one scope never exceed its budget.
func (s *suite) concurrentClaimsWithinBudget(t *testing.T, st idempotency.Store) {
	const n, budget = 40, 10
	var wg sync.WaitGroup
	results := make([]idempotency.ClaimResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = st.Claim(ctx(t), budgetReq(key(fmt.Sprint("k", i)), budget, 0))
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
		case idempotency.OverBudget:
		default:
			t.Fatalf("outcome %v", r.Outcome)
		}
	}
	if claimed != budget {
		t.Fatalf("%d of %d concurrent claims in one scope won, want the budget, %d", claimed, n, budget)
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
