package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
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
//
// The suite checks the state machine of [idempotency.Store] (claims,
// replays, mismatches, ownership, leases and takeovers, retention), that
// fences grow across takeovers and releases, that a scope's budget refuses
// new records of that scope only, and that concurrent claims of one key
// make exactly one owner.
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
		{"HeaderWithoutValues", s.headerWithoutValues},
		{"NotReplayable", s.notReplayable},
		{"OwnershipChecks", s.ownershipChecks},
		{"Release", s.release},
		{"Takeover", s.takeover},
		{"CompleteAfterLeaseWithoutTakeover", s.completeAfterLease},
		{"ExtendKeepsClaim", s.extendKeepsClaim},
		{"RetentionExpiry", s.retentionExpiry},
		{"FencesGrowAcrossReleases", s.fencesGrowAcrossReleases},
		{"FencesGrowAcrossRetention", s.fencesGrowAcrossRetention},
		{"KeysAreIndependent", s.independentKeys},
		{"BudgetOfRecords", s.budgetOfRecords},
		{"BudgetOfBytes", s.budgetOfBytes},
		{"BudgetFreedByRelease", s.budgetFreedByRelease},
		{"BudgetFreedByExpiry", s.budgetFreedByExpiry},
		{"NoBudget", s.noBudget},
		{"ConcurrentClaims", s.concurrentClaims},
		{"ConcurrentClaimsWithinBudget", s.concurrentClaimsWithinBudget},
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

func hexSHA(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// keyOf returns the record key of name within scope, shaped as the
// middleware's (32 hex digits each).
func keyOf(scope, name string) idempotency.RecordKey {
	return idempotency.RecordKey{Scope: hexSHA("scope " + scope), ID: hexSHA(scope + "/" + name)}
}

// key returns the record key of name in the suite's default scope.
func key(name string) idempotency.RecordKey { return keyOf("a", name) }

func claim(t *testing.T, st idempotency.Store, k idempotency.RecordKey, fp string, lease, retention time.Duration) idempotency.ClaimResult {
	t.Helper()
	return claimReq(t, st, idempotency.ClaimRequest{Key: k, Fingerprint: fp, Lease: lease, Retention: retention})
}

func claimReq(t *testing.T, st idempotency.Store, req idempotency.ClaimRequest) idempotency.ClaimResult {
	t.Helper()
	res, err := st.Claim(ctx(t), req)
	if err != nil {
		t.Fatalf("Claim(%v): %v", req.Key, err)
	}
	return res
}

func mustClaim(t *testing.T, st idempotency.Store, k idempotency.RecordKey, fp string, lease time.Duration) idempotency.Owner {
	t.Helper()
	res := claim(t, st, k, fp, lease, long)
	if res.Outcome != idempotency.Claimed {
		t.Fatalf("Claim(%v) outcome = %v, want claimed", k, res.Outcome)
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

func assertResponse(t *testing.T, got, want idempotency.Response) {
	t.Helper()
	if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) || got.NotReplayable != want.NotReplayable {
		t.Fatalf("response = %d %q %q, want %d %q %q", got.Status, got.Body, got.NotReplayable, want.Status, want.Body, want.NotReplayable)
	}
	if len(got.Header) != len(want.Header) || (len(want.Header) > 0 && !reflect.DeepEqual(got.Header, want.Header)) {
		t.Fatalf("header = %v, want %v", got.Header, want.Header)
	}
}

// completeAndReplay claims a key, completes it with want, and checks that
// the next claim finds want unchanged.
func completeAndReplay(t *testing.T, st idempotency.Store, want idempotency.Response) {
	t.Helper()
	assertResponse(t, completeAndClaim(t, st, want), want)
}

// completeAndClaim claims a key, completes it with resp, and returns what
// the next claim finds.
func completeAndClaim(t *testing.T, st idempotency.Store, resp idempotency.Response) idempotency.Response {
	t.Helper()
	o := mustClaim(t, st, key("k"), "fp", long)
	if err := st.Complete(ctx(t), key("k"), o, resp, long); err != nil {
		t.Fatal(err)
	}
	res := claim(t, st, key("k"), "fp", long, long)
	if res.Outcome != idempotency.Completed {
		t.Fatalf("outcome = %v, want completed", res.Outcome)
	}
	return res.Response
}
