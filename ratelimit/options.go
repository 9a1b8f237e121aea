package ratelimit

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// FailurePolicy is what the middleware does when the Limiter returns an
// error (its store is down or too slow).
type FailurePolicy int

const (
	// FailOpen lets the request through without limiting or RateLimit
	// headers. It is the default: an outage of the limiter's store should
	// not become an outage of the service.
	FailOpen FailurePolicy = iota
	// FailClosed answers 503 with an ErrUnavailable problem and
	// Retry-After: 1.
	FailClosed
	// FailLocal decides with Options.Fallback, an in-memory limiter with the
	// same policies by default: each process then enforces the limits on its
	// own, so a fleet of n instances admits up to n times the limit.
	FailLocal
)

// String returns "open", "closed" or "local", the names used in logs,
// metrics and span events.
func (f FailurePolicy) String() string {
	switch f {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return "FailurePolicy(" + strconv.Itoa(int(f)) + ")"
}

// Options configures a Middleware. The zero value is the documented
// defaults.
type Options struct {
	// Cost returns the number of units a request uses. Default (nil): 1 for
	// every request. A cost above every policy's Limit is denied without
	// Retry-After, however large (costs derived from client input such as
	// Content-Length cannot overflow a counter). A negative cost (such as
	// r.ContentLength, -1 for a chunked body) is a bug in Cost, not a store
	// outage: whatever OnError says, that request is answered 500 through
	// ErrorHandler with an error wrapping ErrInvalidCost, logged and counted,
	// and never let through undecided (except under DryRun, which never
	// rejects). The Limiter is not called and not paused for other requests.
	Cost func(r *http.Request) int64
	// OnError chooses what happens when the Limiter fails. Default FailOpen.
	OnError FailurePolicy
	// Fallback is the limiter used under FailLocal. Default: a
	// SlidingWindow with the Limiter's policies. It must have the same
	// policies, in the same order.
	Fallback Limiter
	// RetryStoreAfter is how long the middleware applies OnError without
	// calling the Limiter after it failed, so an outage costs one timeout
	// per interval instead of one per request. Limiting resumes by itself
	// once the store answers again. Default 1s; negative disables.
	RetryStoreAfter time.Duration
	// DryRun computes decisions, headers, metrics and span events but never
	// rejects: use it to roll out a new limit safely.
	DryRun bool
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (Unix time in seconds) for the binding policy, for
	// clients written against the de-facto GitHub-style fields.
	LegacyHeaders bool
	// ErrorHandler writes the 429, 500 and 503 answers. Its error is a
	// fresh *problem.Problem of type ErrQuotaExceeded (429) or
	// ErrUnavailable (503), with any headers it needs in its Header, which
	// the handler may decorate; or, for a negative Cost, an error wrapping
	// ErrInvalidCost, to be answered 500 without its text. Default: a
	// problem.Writer with default options except that it logs nothing,
	// because the middleware logs failures itself at most once a second
	// (problem.Write would log every 503 of an outage).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives limiter failures and Cost errors (never keys), at
	// most one record per second each with a count of the suppressed ones.
	// Nil means slog.Default() at the time of each record, so a default
	// set after New (a middleware built in a package-level var, logging
	// set up in main) is the one used.
	Logger *slog.Logger
	// MeterProvider provides the decision counter. Default the OpenTelemetry
	// global provider (a no-op until an SDK is installed).
	MeterProvider metric.MeterProvider
}

// withDefaults fills the zero fields and panics on impossible ones: they
// are programming errors, reported at construction, never at request time.
// logger returns the Logger records go to: Logger, else the default now.
func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o Options) withDefaults(policies []Policy) Options {
	if o.OnError < FailOpen || o.OnError > FailLocal {
		panic("ratelimit: New: unknown Options.OnError " + o.OnError.String())
	}
	if o.OnError == FailLocal {
		if o.Fallback == nil {
			fb, err := NewSlidingWindow(policies, MemoryOptions{})
			if err != nil {
				panic("ratelimit: New: " + err.Error()) // unreachable: policies were validated
			}
			o.Fallback = fb
		}
		fp := o.Fallback.Policies()
		if len(fp) != len(policies) {
			panic("ratelimit: New: Options.Fallback must have the Limiter's policies")
		}
		for i := range fp {
			if fp[i] != policies[i] {
				panic("ratelimit: New: Options.Fallback must have the Limiter's policies")
			}
		}
	}
	if o.RetryStoreAfter == 0 {
		o.RetryStoreAfter = time.Second
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = quietProblems.Write
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	return o
}
