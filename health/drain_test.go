package health_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/health"
)

func TestDrainFailsReadinessAtOnceLivenessPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		reg.Register("db", pass, health.CheckOptions{TTL: time.Hour})
		reg.Register("ping", pass, health.CheckOptions{Probes: health.Live})
		ready, live := reg.Handler(health.Ready), reg.Handler(health.Live)
		if rec := get(ready, "/readyz"); rec.Code != http.StatusOK || reg.Draining() {
			t.Fatalf("before Drain: code %d, draining %v", rec.Code, reg.Draining())
		}
		reg.Drain()
		if rec := get(ready, "/readyz"); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("readiness after Drain, with a cached passing check: code %d, want 503", rec.Code)
		}
		rep := reg.Check(t.Context(), health.Ready)
		last := rep.Checks[len(rep.Checks)-1]
		if last.Name != "shutdown" || !errors.Is(last.Err, health.ErrDraining) || !reg.Draining() {
			t.Errorf("last check %+v, want shutdown failing with ErrDraining", last)
		}
		if rec := get(live, "/livez"); rec.Code != http.StatusOK {
			t.Errorf("liveness after Drain: code %d, want 200", rec.Code)
		}
		reg.Drain() // idempotent
	})
}

// shutdownRecorder is an http.Server whose Shutdown is observed: the time
// it began and whether readiness was failing then.
type shutdownRecorder struct {
	srv      *http.Server
	at       time.Time
	readyWas int
	done     chan struct{}
}

func newShutdownRecorder(reg *health.Registry) *shutdownRecorder {
	s := &shutdownRecorder{srv: &http.Server{}, done: make(chan struct{})}
	s.srv.RegisterOnShutdown(func() {
		s.at = time.Now()
		s.readyWas = get(reg.Handler(health.Ready), "/readyz").Code
		close(s.done)
	})
	return s
}

func TestShutdownDrainsThenWaitsThenShutsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{DrainDelay: 7 * time.Second})
		reg.Register("db", pass, health.CheckOptions{})
		rec := newShutdownRecorder(reg)
		start := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- reg.Shutdown(context.Background(), rec.srv) }()
		synctest.Wait()
		if code := get(reg.Handler(health.Ready), "/readyz").Code; code != http.StatusServiceUnavailable {
			t.Errorf("readiness once Shutdown began: %d, want 503", code)
		}
		if code := get(reg.Handler(health.Live), "/livez").Code; code != http.StatusOK {
			t.Errorf("liveness during the drain delay: %d, want 200", code)
		}
		time.Sleep(7*time.Second - time.Nanosecond)
		select {
		case <-rec.done:
			t.Fatal("the server was shut down before the drain delay ended")
		default:
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		<-rec.done
		if got := rec.at.Sub(start); got != 7*time.Second {
			t.Errorf("server shut down %v after Shutdown began, want the drain delay, 7s", got)
		}
		if rec.readyWas != http.StatusServiceUnavailable {
			t.Errorf("readiness when the server shut down: %d, want 503", rec.readyWas)
		}
	})
}

func TestShutdownDelayEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		rec := newShutdownRecorder(reg)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_ = reg.Shutdown(ctx, rec.srv)
		<-rec.done
		if got := rec.at.Sub(start); got != time.Second {
			t.Errorf("shut down after %v, want the context's 1s, not the 5s delay", got)
		}
	})
}

func TestShutdownWithoutDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{DrainDelay: -1})
		rec := newShutdownRecorder(reg)
		start := time.Now()
		if err := reg.Shutdown(context.Background(), rec.srv); err != nil {
			t.Fatal(err)
		}
		<-rec.done
		if rec.at != start || !reg.Draining() {
			t.Errorf("shut down after %v (draining %v), want at once", rec.at.Sub(start), reg.Draining())
		}
	})
}

// blockingServe stands in for srv.ListenAndServe: it returns
// http.ErrServerClosed once srv shuts down.
func blockingServe(srv *http.Server) (serve func() error, started chan struct{}) {
	closed := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(closed) })
	started = make(chan struct{})
	return func() error {
		close(started)
		<-closed
		return http.ErrServerClosed
	}, started
}

// Serve uses os/signal, whose goroutines cannot live in a synctest bubble:
// these tests run on the real clock with no drain delay.
func TestServeDrainsAndShutsDownWhenContextEnds(t *testing.T) {
	reg := newRegistry(t, health.Options{DrainDelay: -1})
	srv := &http.Server{}
	serve, started := blockingServe(srv)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- reg.Serve(ctx, srv, serve) }()
	<-started
	if reg.Draining() {
		t.Fatal("draining before the context ended")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v, want nil after a clean shutdown", err)
	}
	if !reg.Draining() {
		t.Error("Serve returned without draining")
	}
}

func TestServeReturnsServeError(t *testing.T) {
	reg := newRegistry(t, health.Options{})
	bad := errors.New("listen tcp :80: bind: permission denied")
	err := reg.Serve(context.Background(), &http.Server{}, func() error { return bad })
	if !errors.Is(err, bad) || reg.Draining() {
		t.Errorf("Serve: %v, draining %v; want serve's error and no drain", err, reg.Draining())
	}
	err = reg.Serve(context.Background(), &http.Server{}, func() error { return http.ErrServerClosed })
	if err != nil {
		t.Errorf("serve closed elsewhere: %v, want nil", err)
	}
}
