package health

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/backstop-go/backstop/problem"
)

// CheckFunc is a health check: it returns nil when the dependency or
// component it checks is healthy. It must honour ctx, whose deadline is the
// check's timeout; a check that does not is abandoned at the deadline (and
// reported as ErrTimeout) but never run twice at once. Method values such
// as db.PingContext and store.Ping are CheckFuncs.
type CheckFunc func(ctx context.Context) error

// Defaults of Options and CheckOptions.
const (
	// DefaultTimeout leaves a margin below the kubelet's default probe
	// timeout of one second, so a probe is answered with the check's
	// failure rather than abandoned by the kubelet.
	DefaultTimeout = 800 * time.Millisecond
	// DefaultTTL is how long an on-demand result is reused.
	DefaultTTL = time.Second
	// DefaultDrainDelay is how long Shutdown keeps serving after readiness
	// started failing, so that load balancers stop sending traffic first.
	DefaultDrainDelay = 5 * time.Second
	// DefaultShutdownTimeout bounds http.Server.Shutdown in Serve. With the
	// drain delay it stays below Kubernetes' default grace period of 30 s.
	DefaultShutdownTimeout = 20 * time.Second
)

// Options configures a Registry. The zero value is the documented
// defaults.
type Options struct {
	// Timeout is the default time a check may run. Default DefaultTimeout
	// (800 ms). It must not be negative.
	Timeout time.Duration
	// TTL is the default time an on-demand check's result is reused: probes
	// within it are answered from the result without running the check.
	// Default DefaultTTL (1 s); negative runs the check for every probe
	// (concurrent probes still share one run).
	TTL time.Duration
	// ShowErrors reports whether a request may see why checks failed (the
	// error text, as "output" in JSON and after "failed:" in text). Default
	// nil: never; clients see "reason withheld" and the reason is logged.
	// Use it to allow authenticated operators, never everyone: errors name
	// hosts, users and queries.
	ShowErrors func(r *http.Request) bool
	// OnChange is called when a check's status changes, including its
	// first result (From is StatusUnknown then). Calls for one check are
	// made one at a time, in order; a change superseded before its call
	// is skipped. It runs on the goroutine that observed the change (a
	// check's, a probe's or a background loop's) and should return quickly;
	// it must not call Registry.Check or serve a probe, which may wait on
	// the call in progress.
	OnChange func(Change)
	// Logger receives one record per status change (the failure reason
	// included) and the start of a drain. Nil means slog.Default() at the
	// time of each record.
	Logger *slog.Logger
	// MeterProvider provides the check duration histogram and the check
	// status gauge. Default the OpenTelemetry global provider (a no-op
	// until an SDK is installed).
	MeterProvider metric.MeterProvider
	// DrainDelay is how long Shutdown waits after Drain before it shuts the
	// server down. Default DefaultDrainDelay (5 s); negative: no wait.
	DrainDelay time.Duration
	// ShutdownTimeout bounds http.Server.Shutdown in Serve, after the drain
	// delay. Default DefaultShutdownTimeout (20 s). It must not be
	// negative.
	ShutdownTimeout time.Duration
	// ErrorHandler writes the 404 (ErrUnknownCheck) and 405 answers of the
	// handlers. Default problem.Write.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

func (o Options) withDefaults() Options {
	if o.Timeout < 0 || o.ShutdownTimeout < 0 {
		panic("health: New: Options.Timeout and Options.ShutdownTimeout must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.DrainDelay == 0 {
		o.DrainDelay = DefaultDrainDelay
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = problem.Write
	}
	return o
}

// CheckOptions configures one check. The zero value is a critical,
// on-demand readiness check with the registry's timeout and TTL.
type CheckOptions struct {
	// Probes is the set of probes the check belongs to, such as
	// Ready|Startup. Default Ready. Liveness runs a check only when it is
	// asked for here: a dependency in liveness restarts healthy containers
	// whenever the dependency fails.
	Probes Probe
	// Optional makes a failure of the check a warning: the probe reports
	// "warn" and still answers 200. Default false: a failure fails the
	// probe.
	Optional bool
	// Timeout is how long the check may run, as the deadline of its
	// context. Default Options.Timeout.
	Timeout time.Duration
	// TTL is how long an on-demand result is reused. Default Options.TTL;
	// negative runs the check for every probe. Ignored with Interval.
	TTL time.Duration
	// Interval, when positive, runs the check in the background: first at
	// registration, then Interval after each run ends. Probes read its
	// latest result and never wait for it; before the first result the
	// check fails with ErrNotRun, and a result older than two intervals
	// plus the timeout fails with ErrStale.
	Interval time.Duration
}

// Change is a change of one check's status, passed to Options.OnChange.
type Change struct {
	// Check is the check's name.
	Check string
	// From is the previous status, StatusUnknown for the first result.
	From Status
	// To is the new status: StatusPass, StatusWarn for an optional check
	// that failed, or StatusFail.
	To Status
	// Err is the failure, nil when To is StatusPass.
	Err error
	// Time is when the new result was observed.
	Time time.Time
}

// Registry holds named checks and serves them as liveness, readiness and
// startup probes. Create it with New; the methods of a zero Registry
// panic. It is safe for concurrent use, including Register while probes
// are served.
//
// A Registry with background checks (CheckOptions.Interval) runs a
// goroutine per such check until Close.
type Registry struct {
	opts Options
	tel  telemetry

	mu     sync.Mutex // guards registration and closed
	names  map[string]*check
	closed bool
	// probes holds the checks of Live, Ready and Startup, in that order.
	// Register replaces a slice; readers load it without locking.
	probes [3]atomic.Pointer[[]*check]

	stop     chan struct{} // closed by Close
	loops    sync.WaitGroup
	draining atomic.Pointer[result] // non-nil once Drain was called: the shutdown check's failure
}

// New returns a Registry configured by opts. It panics when opts.Timeout or
// opts.ShutdownTimeout is negative.
func New(opts Options) *Registry {
	opts = opts.withDefaults()
	r := &Registry{opts: opts, names: make(map[string]*check), stop: make(chan struct{})}
	r.tel = newTelemetry(opts.MeterProvider, r)
	return r
}

// mustBeNew panics when r was not made by New: a zero Registry would
// answer every probe with 200.
func (r *Registry) mustBeNew(method string) {
	if r == nil || r.stop == nil {
		panic("health: " + method + " on a Registry not created by New")
	}
}

// probeIndex maps a single Probe to its slot in Registry.probes.
func probeIndex(p Probe) int {
	switch p {
	case Live:
		return 0
	case Ready:
		return 1
	}
	return 2
}

func (r *Registry) checks(p Probe) []*check {
	if cs := r.probes[probeIndex(p)].Load(); cs != nil {
		return *cs
	}
	return nil
}

// shutdownName is the readiness check that fails while draining.
const shutdownName = "shutdown"

// maxNameLen bounds a check name, which appears in URLs, metrics and logs.
const maxNameLen = 128

// validName reports whether name may name a check: 1 to 128 ASCII letters,
// digits, '.', '_' and '-', so that it is one URL path segment, a JSON key
// and a metric attribute value without escaping. "." and ".." are not:
// clients and ServeMux remove them from paths as dot-segments.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Register adds the check fn under name. It panics, as http.Handle does,
// when name is not 1 to 128 of [A-Za-z0-9._-] or is "." or "..", is
// already registered or is "shutdown" (the readiness check that Drain
// fails), when fn is nil, when opts.Probes holds bits other than Live,
// Ready and Startup, when opts.Timeout or opts.Interval is negative, or
// after Close.
//
// A check with a positive opts.Interval starts running in the background
// now; an on-demand check runs when a probe first needs it.
func (r *Registry) Register(name string, fn CheckFunc, opts CheckOptions) {
	r.mustBeNew("Register")
	if !validName(name) {
		panic("health: Register: invalid check name " + strconv.Quote(name) + ": want 1 to 128 of [A-Za-z0-9._-], not \".\" or \"..\"")
	}
	if name == shutdownName {
		panic(`health: Register: the name "shutdown" is reserved for the readiness check that Drain fails`)
	}
	if fn == nil {
		panic("health: Register: nil CheckFunc for " + strconv.Quote(name))
	}
	if opts.Probes == 0 {
		opts.Probes = Ready
	}
	if opts.Probes&^(Live|Ready|Startup) != 0 {
		panic("health: Register: CheckOptions.Probes holds an unknown probe for " + strconv.Quote(name))
	}
	if opts.Timeout < 0 || opts.Interval < 0 {
		panic("health: Register: negative Timeout or Interval for " + strconv.Quote(name))
	}
	if opts.Timeout == 0 {
		opts.Timeout = r.opts.Timeout
	}
	if opts.TTL == 0 {
		opts.TTL = r.opts.TTL
	}
	c := &check{
		reg:      r,
		name:     name,
		fn:       fn,
		probes:   opts.Probes,
		optional: opts.Optional,
		timeout:  opts.Timeout,
		ttl:      opts.TTL,
		interval: opts.Interval,
	}
	c.tel = r.tel.forCheck(name)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		panic("health: Register after Close")
	}
	if _, dup := r.names[name]; dup {
		panic("health: Register: duplicate check name " + strconv.Quote(name))
	}
	r.names[name] = c
	for _, p := range [...]Probe{Live, Ready, Startup} {
		if c.probes&p == 0 {
			continue
		}
		slot := &r.probes[probeIndex(p)]
		old := r.checks(p)
		cs := make([]*check, len(old), len(old)+1)
		copy(cs, old)
		cs = append(cs, c)
		slot.Store(&cs)
	}
	if c.interval > 0 {
		r.loops.Add(1)
		go c.loop(r.stop)
	}
}

// Close stops the background checks and cancels the context of every check
// still running, then waits for the background loops to end. A check that
// ignores its context goes on running until it returns. Probes served after
// Close report a background check's last result until it is older than two
// intervals plus its timeout, and then ErrStale. Close is idempotent; a Registry
// without background checks need not be closed.
func (r *Registry) Close() {
	r.mustBeNew("Close")
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	cs := make([]*check, 0, len(r.names))
	for _, c := range r.names {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	for _, c := range cs {
		c.cancelRun()
	}
	r.loops.Wait()
	r.tel.close()
}

// Check runs the checks of probe p that need running (those whose result
// is not fresh), waits for them in parallel, and reports the outcome, as
// the probe's handler would. It waits at most until every check has
// returned or timed out, or ctx is done: checks still running then are
// reported failed with ctx's error. It panics when p is not exactly one of
// Live, Ready and Startup.
//
// The Report is the caller's own.
func (r *Registry) Check(ctx context.Context, p Probe) Report {
	r.mustBeNew("Check")
	if !p.single() {
		panic("health: Check: want exactly one of Live, Ready, Startup; got " + p.String())
	}
	ev := getEval()
	defer putEval(ev)
	ev.load(r, p)
	status := ev.run(ctx, r, p, false)
	rep := Report{Probe: p, Status: status, Checks: make([]Result, 0, len(ev.entries))}
	for i := range ev.entries {
		rep.Checks = append(rep.Checks, ev.entries[i].result())
	}
	return rep
}
