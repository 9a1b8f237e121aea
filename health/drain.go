package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Drain makes the Ready probe fail from now on, through its "shutdown"
// check, while Live keeps passing, so that Kubernetes takes the instance
// out of load balancing without restarting it. The server keeps serving:
// call Shutdown (or use Serve) to stop it after the drain delay. Drain is
// idempotent and cannot be undone.
func (r *Registry) Drain() {
	r.mustBeNew("Drain")
	now := time.Now()
	if r.draining.CompareAndSwap(nil, newResult(ErrDraining, now, 0, false)) {
		r.logger().LogAttrs(context.Background(), slog.LevelInfo, "health: draining; readiness fails from now on",
			slog.Duration("drain_delay", max(r.opts.DrainDelay, 0)))
	}
}

// Draining reports whether Drain was called.
func (r *Registry) Draining() bool { return r.draining.Load() != nil }

// Shutdown drains the registry, waits Options.DrainDelay (or until ctx is
// done) while srv goes on serving, then calls srv.Shutdown(ctx) and
// returns its error. In that order:
//
//  1. readiness fails at once, liveness passes (Drain);
//  2. load balancers and Kubernetes endpoints see the failing readiness
//     and stop sending new requests, during the drain delay;
//  3. srv stops accepting connections and waits for in-flight requests,
//     as long as ctx allows.
//
// Close dependencies (databases, Redis clients) and flush telemetry after
// Shutdown returns. ctx bounds the whole call, delay included.
func (r *Registry) Shutdown(ctx context.Context, srv *http.Server) error {
	if srv == nil {
		panic("health: Shutdown: nil *http.Server")
	}
	r.Drain()
	if d := r.opts.DrainDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return srv.Shutdown(ctx)
}

// Serve runs serve (usually srv.ListenAndServe, or a function calling
// srv.Serve or srv.ListenAndServeTLS) until the process receives SIGTERM
// or SIGINT, or ctx is done; then it calls Shutdown with a context bounded
// by Options.DrainDelay plus Options.ShutdownTimeout. It returns nil after
// a clean shutdown, serve's error when serve fails first, or the error of
// srv.Shutdown. After the first signal, a second one is handled by Go's
// default (the process exits), so an impatient operator can still kill
// it.
//
//	srv := &http.Server{Addr: ":8080", Handler: mux}
//	if err := reg.Serve(ctx, srv, srv.ListenAndServe); err != nil {
//		log.Fatal(err)
//	}
func (r *Registry) Serve(ctx context.Context, srv *http.Server, serve func() error) error {
	if srv == nil || serve == nil {
		panic("health: Serve: nil *http.Server or serve function")
	}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve() }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil // shut down by someone else
		}
		return err
	case <-sigCtx.Done():
	}
	stop()
	// The shutdown must outlive ctx, which may be what asked for it.
	timeout := r.opts.ShutdownTimeout + max(r.opts.DrainDelay, 0)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := r.Shutdown(shutCtx, srv)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
