package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxPolicies is the largest number of policies one Limiter checks per
// decision. A Decision carries its per-policy results inline, so a decision
// never allocates and stays small to copy; four covers per-second,
// per-minute, per-hour and per-day limits on one key.
const MaxPolicies = 4

// Policy is one quota: at most Limit units per Window. Name identifies the
// policy in response headers, problem bodies and metrics, so it must be short,
// stable and free of user data.
type Policy struct {
	// Name is the policy name sent in RateLimit-Policy and RateLimit headers
	// and in the violated-policies problem member. It must be 1 to 64
	// characters from [A-Za-z0-9_.-] and unique within a Limiter.
	Name string
	// Limit is the quota: how many units a key may use per Window. It must be
	// at least 1 and at most 2^52, so that counts plus any cost the
	// middleware passes stay exact in the float64 arithmetic of the sliding
	// window (in Go and in the Redis script alike). Header fields carry at most 999 999 999 999 999
	// (the largest structured-field integer): larger quotas and remaining
	// counts are advertised as that.
	Limit int64
	// Window is the length of the window. It must be a whole number of
	// seconds (the draft's w parameter has no sub-second precision), at least
	// one second and at most MaxWindowLength.
	Window time.Duration
}

// PerSecond returns a policy of limit units per second.
func PerSecond(name string, limit int64) Policy { return Policy{name, limit, time.Second} }

// PerMinute returns a policy of limit units per minute.
func PerMinute(name string, limit int64) Policy { return Policy{name, limit, time.Minute} }

// PerHour returns a policy of limit units per hour.
func PerHour(name string, limit int64) Policy { return Policy{name, limit, time.Hour} }

// PerDay returns a policy of limit units per day (24 hours, not a
// calendar day: windows are not aligned to midnight).
func PerDay(name string, limit int64) Policy { return Policy{name, limit, 24 * time.Hour} }

// MaxWindowLength is the longest Policy.Window: ten years. Limiters keep
// state for a small multiple of the longest window, which must not overflow
// a time.Duration.
const MaxWindowLength = 10 * 365 * 24 * time.Hour

// maxLimit is the largest Policy.Limit: counts, and counts plus a clamped
// cost (at most maxLimit+1), stay exact in a float64.
const maxLimit = 1 << 52

// ErrInvalidPolicy is returned (wrapped) by constructors given policies that
// cannot be enforced or advertised: test with errors.Is.
var ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

// ErrInvalidCost is returned by AllowN for a negative cost.
var ErrInvalidCost = errors.New("ratelimit: negative cost")

// ValidatePolicies reports whether policies can be used by a Limiter: between
// 1 and MaxPolicies of them, each with a valid name, limit and window, names
// unique. Limiter implementations outside this package should call it from
// their constructor.
func ValidatePolicies(policies []Policy) error {
	if len(policies) == 0 || len(policies) > MaxPolicies {
		return fmt.Errorf("%w: need 1 to %d policies, got %d", ErrInvalidPolicy, MaxPolicies, len(policies))
	}
	for i, p := range policies {
		if !validName(p.Name) {
			return fmt.Errorf("%w: policy %d: name %q must be 1-64 characters of [A-Za-z0-9_.-]", ErrInvalidPolicy, i, p.Name)
		}
		if p.Limit < 1 || p.Limit > maxLimit {
			return fmt.Errorf("%w: policy %q: limit %d must be within 1 and %d", ErrInvalidPolicy, p.Name, p.Limit, int64(maxLimit))
		}
		if p.Window < time.Second || p.Window > MaxWindowLength || p.Window%time.Second != 0 {
			return fmt.Errorf("%w: policy %q: window %v must be a whole number of seconds within 1s and %v",
				ErrInvalidPolicy, p.Name, p.Window, MaxWindowLength)
		}
		for _, q := range policies[:i] {
			if q.Name == p.Name {
				return fmt.Errorf("%w: duplicate policy name %q", ErrInvalidPolicy, p.Name)
			}
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) < 0
}

// Limiter decides whether a key may spend units now. Implementations must be
// safe for concurrent use.
type Limiter interface {
	// AllowN atomically checks key against every policy and, only if all of
	// them admit n units, consumes n units from each. A denied request
	// consumes nothing. n == 0 reports the current state without consuming.
	// A cost larger than a policy's Limit is always denied with a zero
	// RetryAfter for that policy, because waiting never helps. An error
	// means no decision was made (store unavailable, context done); the
	// returned Decision is then the zero value.
	AllowN(ctx context.Context, key string, n int64) (Decision, error)
	// Policies returns the policies checked by AllowN, in a fixed order that
	// Decision.Result follows, in a slice of the caller's own: changing it
	// changes nothing in the Limiter.
	Policies() []Policy
}

// Result is one policy's part of a Decision.
type Result struct {
	// Allowed reports whether this policy admitted the request on its own.
	Allowed bool
	// Remaining is the number of units still available in the policy's
	// window after this decision (0 when denied).
	Remaining int64
	// Reset is how long until the policy frees capacity. For an admitting
	// policy it is the end of the current window (sliding window) or the
	// time until the bucket is full again (token bucket); for a denying
	// policy it equals RetryAfter, so a Retry-After header never points
	// earlier than the RateLimit reset of the policy it cites. (A cost
	// above the Limit is denied with a zero RetryAfter and no Retry-After;
	// Reset then keeps its admitting meaning.)
	Reset time.Duration
	// RetryAfter is, for a denying policy, how long until a request of the
	// same cost would be admitted by this policy if no other traffic
	// arrives; zero when allowed or when the cost exceeds the limit.
	RetryAfter time.Duration
}

// Decision is the outcome of one AllowN call. The zero value is a denial
// with no policy results. A Decision is a plain value: copy it freely.
type Decision struct {
	// Allowed reports whether the request was admitted by every policy.
	Allowed bool
	// The per-policy results, packed: a Decision is returned and copied by
	// value on every request.
	n       int8  // number of results
	binding int8  // index of the binding policy, -1 when n == 0
	allowed uint8 // bit i: policy i admitted the request
	// Limit is the quota of the binding policy. When denied it is a violated
	// policy the request can never satisfy (its cost exceeds the Limit), or
	// failing that the violated policy with the longest RetryAfter; when
	// allowed, the policy with the least Remaining.
	Limit int64
	// Remaining is the binding policy's remaining units.
	Remaining int64
	// Reset is the binding policy's Reset.
	Reset time.Duration
	// RetryAfter is how long until the same request can succeed when denied
	// (the longest of the violated policies' RetryAfter). It is zero when
	// allowed, and when a violated policy has a zero RetryAfter (the cost
	// exceeds its Limit): waiting never helps such a request.
	RetryAfter time.Duration

	results [MaxPolicies]result
}

// result is a Result without Allowed (a bit of Decision.allowed).
type result struct {
	remaining         int64
	reset, retryAfter time.Duration
}

// set stores r as policy i's result.
func (d *Decision) set(i int, r Result) {
	d.results[i] = result{r.Remaining, r.Reset, r.RetryAfter}
	if r.Allowed {
		d.allowed |= 1 << i
	} else {
		d.allowed &^= 1 << i
	}
}

func (d *Decision) admitted(i int) bool { return d.allowed&(1<<i) != 0 }

// Len returns the number of policy results, equal to len(Limiter.Policies()).
func (d *Decision) Len() int { return int(d.n) }

// Result returns the result for policy i, in the Limiter's Policies order.
func (d *Decision) Result(i int) Result {
	r := d.results[i]
	return Result{Allowed: d.admitted(i), Remaining: r.remaining, Reset: r.reset, RetryAfter: r.retryAfter}
}

// Binding returns the index of the binding policy (see Decision.Limit), or
// -1 for an empty decision.
func (d *Decision) Binding() int {
	if d.n == 0 {
		return -1
	}
	return int(d.binding)
}

func (d *Decision) findBinding() int {
	best := -1
	for i := 0; i < int(d.n); i++ {
		r := &d.results[i]
		if best < 0 {
			best = i
			continue
		}
		b := &d.results[best]
		if d.Allowed {
			if r.remaining < b.remaining {
				best = i
			}
		} else if !d.admitted(i) && (d.admitted(best) || b.retryAfter > 0 && (r.retryAfter == 0 || r.retryAfter > b.retryAfter)) {
			// Among violated policies a never-satisfiable one (zero
			// RetryAfter) binds, else the longest wait.
			best = i
		}
	}
	return best
}

// NewDecision assembles a Decision from per-policy results (one per policy,
// in order) and fills the summary fields. It is meant for Limiter
// implementations outside this package. It returns ErrMismatchedResults
// when len(results) differs from len(policies) or exceeds MaxPolicies.
func NewDecision(policies []Policy, results []Result) (Decision, error) {
	if len(results) != len(policies) || len(results) > MaxPolicies {
		return Decision{}, fmt.Errorf("%w: %d results for %d policies", ErrMismatchedResults, len(results), len(policies))
	}
	var d Decision
	for i, r := range results {
		d.set(i, r)
	}
	d.n = int8(len(results))
	d.finish(policies)
	return d, nil
}

// ErrMismatchedResults is returned by NewDecision for results that are not
// one per policy.
var ErrMismatchedResults = errors.New("ratelimit: results do not match policies")

// finish computes Allowed and the binding-policy summary from d.results.
func (d *Decision) finish(policies []Policy) {
	d.Allowed = d.n > 0 && d.allowed == 1<<d.n-1
	b := d.findBinding()
	d.binding = int8(b)
	if b < 0 {
		return
	}
	r := &d.results[b]
	d.Limit = policies[b].Limit
	d.Remaining = r.remaining
	d.Reset = r.reset
	if !d.Allowed {
		d.RetryAfter = r.retryAfter
	}
}
