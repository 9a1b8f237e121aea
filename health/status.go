package health

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/backstop-go/backstop/problem"
)

// Status is the health of a check or of a probe, in the vocabulary of
// draft-inadarei-api-health-check.
type Status uint8

const (
	// StatusUnknown is the zero Status. A Report never holds it; a Change
	// has it as From for a check's first result.
	StatusUnknown Status = iota
	// StatusPass: the check passed, or every critical check of a probe
	// passed and every optional one too.
	StatusPass
	// StatusWarn: an optional check failed. The probe still answers 200.
	StatusWarn
	// StatusFail: a critical check failed. The probe answers 503.
	StatusFail
)

// String returns "pass", "warn", "fail" or "unknown".
func (s Status) String() string {
	switch s {
	case StatusPass:
		return "pass"
	case StatusWarn:
		return "warn"
	case StatusFail:
		return "fail"
	case StatusUnknown:
		return "unknown"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Probe names one of the three sets of checks that Kubernetes polls. A
// check belongs to one or more of them (CheckOptions.Probes is a set of
// Probe bits); a handler serves exactly one.
type Probe uint8

const (
	// Live is the liveness probe: failing it gets the container restarted,
	// so it holds no dependency checks unless a check asks for it. With no
	// checks it passes while the process serves HTTP, also while draining.
	Live Probe = 1 << iota
	// Ready is the readiness probe: failing it takes the instance out of
	// load balancing. It is the default set of a check, and it fails from
	// the moment Drain is called.
	Ready
	// Startup is the startup probe: each of its checks passes once and
	// then stays passed, so a slow start (migrations, cache warm-up) is
	// gated once and costs nothing afterwards.
	Startup
)

// String returns "livez", "readyz" or "startupz", the name used in text
// output, logs and metrics.
func (p Probe) String() string {
	switch p {
	case Live:
		return "livez"
	case Ready:
		return "readyz"
	case Startup:
		return "startupz"
	}
	return "Probe(" + strconv.Itoa(int(p)) + ")"
}

// single reports whether p is exactly one of Live, Ready and Startup.
func (p Probe) single() bool { return p == Live || p == Ready || p == Startup }

// Result is the latest known outcome of one check.
type Result struct {
	// Name is the check's name.
	Name string
	// Status is StatusPass, StatusWarn (an optional check failed) or
	// StatusFail.
	Status Status
	// Err is why the check failed: the check's own error, ErrTimeout,
	// ErrNotRun, ErrStale, ErrDraining, or a *PanicError. Nil when it
	// passed.
	Err error
	// Time is when the result was observed: when the check returned, or
	// when it was found running past its timeout. Zero when it has never
	// run.
	Time time.Time
	// Duration is how long the check ran.
	Duration time.Duration
}

// Report is the outcome of a probe: its status and one Result per check,
// in registration order. Ready reports end with the "shutdown" check,
// which fails while the registry drains.
type Report struct {
	Probe  Probe
	Status Status
	Checks []Result
}

// Errors a Result can hold besides the check's own. They are sentinels
// for errors.Is; none is ever sent to a client unless Options.ShowErrors
// allows it.
var (
	// ErrTimeout: the check did not return within its timeout. A check
	// that returns after its deadline, even with nil, has timed out.
	ErrTimeout = errors.New("health: check timed out")
	// ErrNotRun: a background check has not completed its first run.
	ErrNotRun = errors.New("health: check has not run yet")
	// ErrStale: a background check's latest result is older than two
	// intervals plus its timeout, so its runs are not happening.
	ErrStale = errors.New("health: check result is stale")
	// ErrDraining: the registry is draining (Drain was called); it is the
	// error of the "shutdown" check of the Ready probe.
	ErrDraining = errors.New("health: draining for shutdown")
)

// PanicError is the error of a check that panicked.
type PanicError struct {
	// Value is what the check passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error returns "health: check panicked: " and the panic value.
func (e *PanicError) Error() string { return fmt.Sprint("health: check panicked: ", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// errorText returns err's text as fmt prints it: "<nil>" for a nil pointer
// (a check returning a typed nil returns a non-nil error whose Error
// method may dereference it), and a note instead of a panic for an Error
// method that panics, which would otherwise crash the goroutine reporting
// the result.
func errorText(err error) string { return fmt.Sprint(err) }

// ErrUnknownCheck is the problem type of the 404 answer to a request for
// one check (/readyz/{name}) that the probe does not have.
var ErrUnknownCheck = problem.Type{
	URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/health#ErrUnknownCheck",
	Title:  "Unknown health check",
	Status: http.StatusNotFound,
}
