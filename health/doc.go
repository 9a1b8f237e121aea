// Package health serves Kubernetes liveness, readiness and startup probes
// from a registry of named checks that answer fast, never pile up or leak
// goroutines on a hung dependency, and fail readiness at once when the
// process starts shutting down.
//
//	reg := health.New(health.Options{})
//	reg.Register("db", db.PingContext, health.CheckOptions{Timeout: 500 * time.Millisecond})
//	reg.Register("redis", store.Ping, health.CheckOptions{})  // a redisstore is a check
//	reg.Register("search", pingSearch, health.CheckOptions{Optional: true, Interval: 15 * time.Second})
//	reg.Register("migrations", migrated, health.CheckOptions{Probes: health.Startup})
//
//	mux.Handle("GET /livez", reg.Handler(health.Live))
//	mux.Handle("GET /readyz", reg.Handler(health.Ready))
//	mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))
//	mux.Handle("GET /startupz", reg.Handler(health.Startup))
//
//	srv := &http.Server{Addr: ":8080", Handler: mux}
//	err := reg.Serve(ctx, srv, srv.ListenAndServe) // SIGTERM: drain, wait, shut down
//
// # Checks
//
// A check is a [CheckFunc], func(ctx) error, so db.PingContext, the Ping
// method of the redisstore packages, or func(ctx context.Context) error {
// return rdb.Ping(ctx).Err() } for a bare go-redis client are checks as
// they are; [DB] and [HTTPGet] are ready-made ones. Each check has:
//
//   - A timeout (CheckOptions.Timeout, 800 ms by default), the deadline of
//     the context the check gets. A check that overruns it is reported as
//     [ErrTimeout] at the deadline; if it ignores its context it goes on
//     running, but never more than once at a time: while it runs, probes
//     join it instead of starting another run, so a hung dependency costs
//     one goroutine, not one per probe.
//   - A kind: critical by default (a failure fails the probe, 503), or
//     optional (CheckOptions.Optional: a failure is a "warn", still 200).
//   - A schedule: on demand by default, when a probe needs the check, with
//     its result reused for a TTL (1 s) and concurrent probes sharing one
//     run; or in the background every CheckOptions.Interval, probes reading
//     the latest result without waiting. A background check fails with
//     [ErrNotRun] before its first result and with [ErrStale] when its
//     result is older than two intervals plus the timeout.
//   - The probes it belongs to (CheckOptions.Probes), Ready by default.
//
// # Probes
//
// [Live], [Ready] and [Startup] are separate sets. Liveness holds no check
// unless one asks for it: restarting every container because a shared
// database is down turns an outage into a longer one. Startup checks pass
// once and then stay passed. The checks a probe needs to run run in
// parallel, so its answer takes as long as the slowest, and no lock is held
// while a check runs. [Registry.Check] queries a probe from Go code;
// [Registry.Handler] serves it over HTTP as application/health+json
// (draft-inadarei-api-health-check) or Kubernetes' text format (?verbose),
// with ?exclude=name and one check at /readyz/{name}. Failure reasons are
// withheld from clients unless Options.ShowErrors allows them, and logged.
//
// # Shutdown
//
// [Registry.Drain] makes readiness fail at once (its "shutdown" check)
// while liveness keeps passing. [Registry.Shutdown] drains, keeps serving
// for Options.DrainDelay (5 s) so that load balancers notice, then calls
// http.Server.Shutdown; [Registry.Serve] does that on SIGTERM or SIGINT.
//
// # Errors
//
// [ErrUnknownCheck] is the problem type (package problem) of a 404 for an
// unknown check name; a request with another method than GET or HEAD gets
// a 405 problem. Results carry errors that work with errors.Is:
// [ErrTimeout], [ErrNotRun], [ErrStale], [ErrDraining], the check's own
// error, or a [*PanicError] for a check that panicked.
//
// # Telemetry
//
// Each status change of a check is logged with log/slog (Options.Logger),
// the reason included, and passed to Options.OnChange. With the
// OpenTelemetry metric API (Options.MeterProvider, by default the global
// provider, a no-op until an SDK is installed) under the meter
// "github.com/backstop-go/backstop/health": the histogram
// backstop.health.check.duration (seconds; attributes backstop.health.check,
// the check's name, and backstop.health.result = pass|fail|timeout),
// recorded once per run, and the gauge backstop.health.check.status (1
// passing, 0 not; attribute backstop.health.check).
package health
