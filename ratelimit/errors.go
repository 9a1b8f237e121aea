package ratelimit

import (
	"errors"
	"net/http"

	"github.com/backstop-go/backstop/problem"
)

// ErrQuotaExceeded is the problem type of a 429 answer: the quota-exceeded
// type of draft-ietf-httpapi-ratelimit-headers. Its occurrences carry the
// "violated-policies" extension member, an array of policy names.
var ErrQuotaExceeded = problem.Type{
	URI:    "https://iana.org/assignments/http-problem-types#quota-exceeded",
	Title:  "Request cannot be satisfied as assigned quota has been exceeded",
	Status: http.StatusTooManyRequests,
}

// ErrUnavailable is the problem type of the 503 answer given under
// FailClosed when the limiter's store fails: the request was neither
// counted nor checked, so the server refuses it. The response carries
// Retry-After: 1.
var ErrUnavailable = problem.Type{
	URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/ratelimit#ErrUnavailable",
	Title:  "Rate limiter unavailable",
	Status: http.StatusServiceUnavailable,
}

// ErrStoreUnavailable is wrapped by Limiter implementations whose backing
// store failed or timed out (test with errors.Is). The middleware applies
// its FailurePolicy to any error from a Limiter, and answers a request it
// refuses for it with ErrUnavailable: the sentinel is what stores return,
// the problem type what clients receive.
var ErrStoreUnavailable = errors.New("ratelimit: store unavailable")
