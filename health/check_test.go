package health_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/health"
)

func TestCheckGetsItsTimeoutAsContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		var deadlines []time.Duration
		var mu sync.Mutex
		seen := func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok {
				return errors.New("no deadline")
			}
			mu.Lock()
			deadlines = append(deadlines, time.Until(d))
			mu.Unlock()
			return nil
		}
		reg.Register("own", seen, health.CheckOptions{Timeout: 250 * time.Millisecond})
		reg.Register("default", seen, health.CheckOptions{})
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusPass {
			t.Fatalf("status %v: %+v", rep.Status, rep.Checks)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(deadlines) != 2 {
			t.Fatalf("%d calls, want 2", len(deadlines))
		}
		got := map[time.Duration]bool{deadlines[0]: true, deadlines[1]: true}
		if !got[250*time.Millisecond] || !got[health.DefaultTimeout] {
			t.Errorf("deadlines %v after start, want 250ms and %v", deadlines, health.DefaultTimeout)
		}
	})
}

func TestCheckHonouringDeadlineFailsWithErrTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		reg.Register("slow", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, health.CheckOptions{Timeout: 300 * time.Millisecond})
		start := time.Now()
		rep := reg.Check(t.Context(), health.Ready)
		if elapsed := time.Since(start); elapsed != 300*time.Millisecond {
			t.Errorf("Check took %v, want the timeout, 300ms", elapsed)
		}
		r := rep.Checks[0]
		if rep.Status != health.StatusFail || !errors.Is(r.Err, health.ErrTimeout) {
			t.Errorf("got %v %v, want fail with ErrTimeout", rep.Status, r.Err)
		}
		if r.Duration != 300*time.Millisecond {
			t.Errorf("Duration %v, want 300ms", r.Duration)
		}
	})
}

func TestCheckReturningNilAfterDeadlineTimedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1, Logger: quiet})
		g := newGate()
		reg.Register("late", g.check, health.CheckOptions{Timeout: time.Second})
		go func() {
			time.Sleep(2 * time.Second)
			g.open()
		}()
		rep := reg.Check(t.Context(), health.Ready)
		if !errors.Is(rep.Checks[0].Err, health.ErrTimeout) {
			t.Fatalf("at the deadline: %v, want ErrTimeout", rep.Checks[0].Err)
		}
		time.Sleep(2 * time.Second) // the check returns nil, a second late
		synctest.Wait()
		rep = reg.Check(t.Context(), health.Ready)
		if g.calls.Load() != 2 || rep.Status != health.StatusPass {
			t.Errorf("after the late return: %d calls, %v; want a new run that passes", g.calls.Load(), rep.Status)
		}
	})
}

func TestHungCheckNeverBlocksProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1})
		g := newGate()
		defer g.open()
		reg.Register("hung", g.check, health.CheckOptions{Timeout: 500 * time.Millisecond})
		h := reg.Handler(health.Ready)
		start := time.Now()
		if rec := get(h, "/readyz"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("code %d, want 503", rec.Code)
		}
		if elapsed := time.Since(start); elapsed != 500*time.Millisecond {
			t.Errorf("first probe took %v, want the timeout", elapsed)
		}
		time.Sleep(10 * time.Second)
		start = time.Now()
		if rec := get(h, "/readyz"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("code %d, want 503", rec.Code)
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("a probe while the run hangs took %v, want an immediate answer", elapsed)
		}
	})
}

// runGoroutines counts the goroutines running a check's function.
func runGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("health.(*run).execute("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Not parallel: it counts goroutines of the whole process.
func TestHungCheckPolledThousandTimesLeaksNoGoroutine(t *testing.T) {
	for _, ttl := range []time.Duration{-1, 0} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := newRegistry(t, health.Options{TTL: ttl})
				g := newGate()
				defer g.open()
				reg.Register("hung", g.check, health.CheckOptions{Timeout: 200 * time.Millisecond})
				h := reg.Handler(health.Ready)
				before := runtime.NumGoroutine()
				for i := range 1000 {
					start := time.Now()
					rec := get(h, "/readyz")
					if rec.Code != http.StatusServiceUnavailable {
						t.Fatalf("poll %d: code %d, want 503", i, rec.Code)
					}
					if elapsed := time.Since(start); i > 0 && elapsed != 0 {
						t.Fatalf("poll %d waited %v on a run that had timed out", i, elapsed)
					}
					time.Sleep(100 * time.Millisecond)
				}
				if n := g.calls.Load(); n != 1 {
					t.Errorf("the hung check was started %d times, want 1", n)
				}
				if n := runGoroutines(); n != 1 {
					t.Errorf("%d goroutines run the check, want 1", n)
				}
				if after := runtime.NumGoroutine(); after > before+1 {
					t.Errorf("goroutines: %d before the polls, %d after; want at most the hung run's one more", before, after)
				}
				g.open()
				synctest.Wait()
				if n := runGoroutines(); n != 0 {
					t.Errorf("%d goroutines run the check after it returned, want 0", n)
				}
				time.Sleep(2 * time.Second)
				if rec := get(h, "/readyz"); rec.Code != http.StatusOK || g.calls.Load() != 2 {
					t.Errorf("after the release: code %d, %d calls; want 200 from a second run", rec.Code, g.calls.Load())
				}
			})
		})
	}
}

func TestConcurrentProbesShareOneRun(t *testing.T) {
	for _, ttl := range []time.Duration{-1, 0} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := newRegistry(t, health.Options{TTL: ttl})
				c := count(func(ctx context.Context) error {
					time.Sleep(20 * time.Millisecond)
					return nil
				})
				reg.Register("db", c.check, health.CheckOptions{})
				h := reg.Handler(health.Ready)
				var wg sync.WaitGroup
				codes := make([]int, 100)
				for i := range codes {
					wg.Go(func() { codes[i] = get(h, "/readyz").Code })
				}
				wg.Wait()
				if n := c.calls.Load(); n != 1 {
					t.Errorf("100 concurrent probes ran the check %d times, want 1", n)
				}
				for i, code := range codes {
					if code != http.StatusOK {
						t.Fatalf("probe %d: code %d", i, code)
					}
				}
			})
		})
	}
}

func TestTTLReusesResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		c := count(nil)
		reg.Register("db", c.check, health.CheckOptions{TTL: 5 * time.Second})
		other := count(nil)
		reg.Register("nocache", other.check, health.CheckOptions{TTL: -1})
		for range 5 {
			reg.Check(t.Context(), health.Ready)
			time.Sleep(time.Second)
		}
		if c.calls.Load() != 1 || other.calls.Load() != 5 {
			t.Errorf("within the TTL: %d calls, want 1; without a TTL: %d, want 5", c.calls.Load(), other.calls.Load())
		}
		reg.Check(t.Context(), health.Ready) // 5 s after the first run
		if c.calls.Load() != 2 {
			t.Errorf("after the TTL: %d calls, want 2", c.calls.Load())
		}
	})
}

func TestChecksRunInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		for _, name := range []string{"a", "b", "c", "d"} {
			reg.Register(name, func(ctx context.Context) error {
				time.Sleep(400 * time.Millisecond)
				return nil
			}, health.CheckOptions{})
		}
		reg.Register("slowest", func(ctx context.Context) error {
			time.Sleep(600 * time.Millisecond)
			return nil
		}, health.CheckOptions{})
		start := time.Now()
		rep := reg.Check(t.Context(), health.Ready)
		if elapsed := time.Since(start); elapsed != 600*time.Millisecond {
			t.Errorf("5 checks took %v, want the slowest one's 600ms", elapsed)
		}
		if rep.Status != health.StatusPass {
			t.Errorf("status %v", rep.Status)
		}
	})
}

func TestNoLockHeldWhileCheckRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1})
		g := newGate()
		reg.Register("blocked", g.check, health.CheckOptions{Timeout: time.Minute})
		reg.Register("quick", pass, health.CheckOptions{Probes: health.Ready | health.Live})
		h := reg.Handler(health.Ready)
		go get(h, "/readyz") // waits on the blocked check
		synctest.Wait()
		start := time.Now()
		if rec := get(h, "/readyz?exclude=blocked"); rec.Code != http.StatusOK {
			t.Errorf("readiness without the blocked check: code %d", rec.Code)
		}
		if rep := reg.Check(t.Context(), health.Live); rep.Status != health.StatusPass {
			t.Errorf("liveness: %v", rep.Status)
		}
		reg.Register("late", pass, health.CheckOptions{})
		if rec := get(h, "/readyz/late"); rec.Code != http.StatusOK {
			t.Errorf("a check registered while another runs: code %d", rec.Code)
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("probes waited %v behind a running check", elapsed)
		}
		g.open()
	})
}

func TestProbeGivesUpWhenRequestIsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		g := newGate()
		defer g.open()
		reg.Register("blocked", g.check, health.CheckOptions{Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		rep := reg.Check(ctx, health.Ready)
		if !errors.Is(rep.Checks[0].Err, context.DeadlineExceeded) || rep.Status != health.StatusFail {
			t.Errorf("got %v %v, want fail with the caller's context error", rep.Status, rep.Checks[0].Err)
		}
	})
}

func TestOptionalFailureWarnsCriticalFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		var downErr = errors.New("down")
		reg.Register("search", func(context.Context) error { return downErr }, health.CheckOptions{Optional: true})
		reg.Register("db", pass, health.CheckOptions{})
		rep := reg.Check(t.Context(), health.Ready)
		if rep.Status != health.StatusWarn || rep.Checks[0].Status != health.StatusWarn || !errors.Is(rep.Checks[0].Err, downErr) {
			t.Errorf("optional failure: %v %+v, want warn", rep.Status, rep.Checks[0])
		}
		if rec := get(reg.Handler(health.Ready), "/readyz"); rec.Code != http.StatusOK {
			t.Errorf("optional failure: code %d, want 200", rec.Code)
		}
		reg.Register("cache", func(context.Context) error { return downErr }, health.CheckOptions{})
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusFail {
			t.Errorf("critical failure: %v, want fail", rep.Status)
		}
		if rec := get(reg.Handler(health.Ready), "/readyz"); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("critical failure: code %d, want 503", rec.Code)
		}
	})
}

func TestPanickingCheckFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		reg.Register("bug", func(context.Context) error { panic("nil map") }, health.CheckOptions{})
		rep := reg.Check(t.Context(), health.Ready)
		var pe *health.PanicError
		if !errors.As(rep.Checks[0].Err, &pe) || pe.Value != "nil map" || len(pe.Stack) == 0 {
			t.Fatalf("got %v, want a *PanicError with the value and a stack", rep.Checks[0].Err)
		}
		if rep.Status != health.StatusFail {
			t.Errorf("status %v", rep.Status)
		}
	})
}

func TestBackgroundCheckFailsBeforeFirstRunThenServesLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		var fail bool
		var mu sync.Mutex
		c := count(func(ctx context.Context) error {
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("down")
			}
			return nil
		})
		reg.Register("bg", c.check, health.CheckOptions{Interval: 10 * time.Second})
		rep := reg.Check(t.Context(), health.Ready)
		if !errors.Is(rep.Checks[0].Err, health.ErrNotRun) || rep.Status != health.StatusFail {
			t.Fatalf("before the first run: %v %v, want fail with ErrNotRun", rep.Status, rep.Checks[0].Err)
		}
		time.Sleep(time.Second)
		start := time.Now()
		rep = reg.Check(t.Context(), health.Ready)
		if rep.Status != health.StatusPass || time.Since(start) != 0 {
			t.Fatalf("after the first run: %v in %v, want pass at once", rep.Status, time.Since(start))
		}
		mu.Lock()
		fail = true
		mu.Unlock()
		for range 50 {
			reg.Check(t.Context(), health.Ready)
		}
		if c.calls.Load() != 1 {
			t.Errorf("probes ran a background check: %d calls", c.calls.Load())
		}
		time.Sleep(10 * time.Second) // the second run, 10 s after the first ended
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusFail || c.calls.Load() != 2 {
			t.Errorf("after the second run: %v, %d calls; want fail, 2", rep.Status, c.calls.Load())
		}
	})
}

func TestBackgroundResultGoesStaleWhenRunsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		reg.Register("bg", pass, health.CheckOptions{Interval: 10 * time.Second, Timeout: time.Second})
		time.Sleep(time.Millisecond)
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusPass {
			t.Fatalf("status %v", rep.Status)
		}
		reg.Close() // no more runs
		time.Sleep(20 * time.Second)
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusPass {
			t.Errorf("within two intervals plus the timeout: %v %v, want pass", rep.Status, rep.Checks[0].Err)
		}
		time.Sleep(time.Second)
		rep := reg.Check(t.Context(), health.Ready)
		if rep.Status != health.StatusFail || !errors.Is(rep.Checks[0].Err, health.ErrStale) {
			t.Errorf("after two missed runs: %v %v, want fail with ErrStale", rep.Status, rep.Checks[0].Err)
		}
	})
}

func TestHungBackgroundCheckTimesOutAndIsNotRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		g := newGate()
		reg.Register("bg", g.check, health.CheckOptions{Interval: time.Second, Timeout: 300 * time.Millisecond})
		time.Sleep(time.Minute)
		rep := reg.Check(t.Context(), health.Ready)
		if !errors.Is(rep.Checks[0].Err, health.ErrTimeout) {
			t.Errorf("got %v, want ErrTimeout", rep.Checks[0].Err)
		}
		if n := g.calls.Load(); n != 1 {
			t.Errorf("a hung background check was started %d times in a minute, want 1", n)
		}
		g.open()
		time.Sleep(time.Second) // the next tick starts a new run
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusPass || g.calls.Load() != 2 {
			t.Errorf("after the release: %v, %d calls", rep.Status, g.calls.Load())
		}
	})
}

func TestCloseCancelsRunningChecksAndStopsLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		changes := 0
		reg := health.New(health.Options{Logger: quiet, OnChange: func(health.Change) { changes++ }})
		stopped := make(chan struct{})
		reg.Register("bg", func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		}, health.CheckOptions{Interval: time.Second, Timeout: time.Hour})
		synctest.Wait()
		reg.Close()
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Fatal("Close did not cancel the running check's context")
		}
		if changes != 0 {
			t.Errorf("a check cancelled by Close reported %d changes, want none", changes)
		}
		reg.Close() // idempotent
	})
}

func TestLivenessRunsNoDependencyCheckByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{})
		db := count(func(context.Context) error { return errors.New("down") })
		reg.Register("db", db.check, health.CheckOptions{})
		rec := get(reg.Handler(health.Live), "/livez")
		if rec.Code != http.StatusOK || db.calls.Load() != 0 {
			t.Errorf("liveness: code %d, %d calls of a readiness check; want 200, 0", rec.Code, db.calls.Load())
		}
		if rec := get(reg.Handler(health.Ready), "/readyz"); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("readiness: code %d, want 503", rec.Code)
		}
		if rec := get(reg.Handler(health.Startup), "/startupz"); rec.Code != http.StatusOK {
			t.Errorf("startup: code %d, want 200", rec.Code)
		}
	})
}

func TestStartupCheckPassesOnceThenStaysPassed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1})
		var ready bool
		var mu sync.Mutex
		c := count(func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if !ready {
				return errors.New("migrating")
			}
			return nil
		})
		reg.Register("migrations", c.check, health.CheckOptions{Probes: health.Startup | health.Ready})
		h := reg.Handler(health.Startup)
		if rec := get(h, "/startupz"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("before: code %d, want 503", rec.Code)
		}
		mu.Lock()
		ready = true
		mu.Unlock()
		if rec := get(h, "/startupz"); rec.Code != http.StatusOK {
			t.Fatalf("ready: code %d, want 200", rec.Code)
		}
		mu.Lock()
		ready = false
		mu.Unlock()
		calls := c.calls.Load()
		for range 10 {
			if rec := get(h, "/startupz"); rec.Code != http.StatusOK {
				t.Fatalf("after passing once: code %d, want 200", rec.Code)
			}
		}
		if c.calls.Load() != calls {
			t.Errorf("startup ran a passed check %d more times", c.calls.Load()-calls)
		}
		if rep := reg.Check(t.Context(), health.Ready); rep.Status != health.StatusFail {
			t.Errorf("readiness of the same check: %v, want fail: the latch is startup's only", rep.Status)
		}
	})
}

func TestRegisterPanicsOnProgrammingErrors(t *testing.T) {
	reg := newRegistry(t, health.Options{})
	reg.Register("taken", pass, health.CheckOptions{})
	for name, f := range map[string]func(){
		"empty name":      func() { reg.Register("", pass, health.CheckOptions{}) },
		"slash":           func() { reg.Register("a/b", pass, health.CheckOptions{}) },
		"space":           func() { reg.Register("a b", pass, health.CheckOptions{}) },
		"colon":           func() { reg.Register("db:primary", pass, health.CheckOptions{}) },
		"too long":        func() { reg.Register(string(make([]byte, 129)), pass, health.CheckOptions{}) },
		"duplicate":       func() { reg.Register("taken", pass, health.CheckOptions{}) },
		"reserved":        func() { reg.Register("shutdown", pass, health.CheckOptions{}) },
		"nil func":        func() { reg.Register("nil", nil, health.CheckOptions{}) },
		"unknown probe":   func() { reg.Register("p", pass, health.CheckOptions{Probes: 8}) },
		"negative":        func() { reg.Register("n", pass, health.CheckOptions{Timeout: -1}) },
		"negative New":    func() { health.New(health.Options{Timeout: -1}) },
		"Handler of two":  func() { reg.Handler(health.Live | health.Ready) },
		"Check of none":   func() { reg.Check(t.Context(), 0) },
		"nil DB":          func() { health.DB(nil) },
		"Shutdown no srv": func() { _ = reg.Shutdown(t.Context(), nil) },
		"zero Handler":    func() { new(health.Registry).Handler(health.Ready) },
		"zero Register":   func() { new(health.Registry).Register("x", pass, health.CheckOptions{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
	reg.Register("a.B_9-z", pass, health.CheckOptions{}) // every allowed kind of character
	reg.Close()
	defer func() {
		if recover() == nil {
			t.Error("Register after Close did not panic")
		}
	}()
	reg.Register("after", pass, health.CheckOptions{})
}

// The context a check gets is lazy (no timer until Done is called) but
// must behave as context.WithTimeout's does.
func TestCheckContextBehavesLikeWithTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1})
		var mu sync.Mutex // guards what the checks report
		var escaped context.Context
		var errs []error
		reg.Register("polling", func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			escaped = ctx
			errs = append(errs, ctx.Err(), ctx.Err())
			if ctx.Value("key") != nil {
				return errors.New("unexpected value")
			}
			mu.Unlock()
			time.Sleep(time.Second) // past the deadline, without selecting on ctx
			mu.Lock()
			errs = append(errs, ctx.Err())
			return nil
		}, health.CheckOptions{Timeout: 500 * time.Millisecond, Probes: health.Live})
		rep := reg.Check(t.Context(), health.Live)
		if !errors.Is(rep.Checks[0].Err, health.ErrTimeout) {
			t.Errorf("a check returning nil after its deadline: %v, want ErrTimeout", rep.Checks[0].Err)
		}
		time.Sleep(time.Second) // the check returns
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 3 || errs[0] != nil || errs[1] != nil || errs[2] != context.DeadlineExceeded {
			t.Errorf("Err before and after the deadline: %v, want nil, nil, DeadlineExceeded", errs)
		}
		select {
		case <-escaped.Done():
		default:
			t.Error("Done called after the run ended is not closed")
		}

		var derivedErr, ownErr error
		reg.Register("deriving", func(ctx context.Context) error {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			mu.Lock()
			derivedErr, ownErr = child.Err(), ctx.Err()
			mu.Unlock()
			return ctx.Err()
		}, health.CheckOptions{Timeout: 300 * time.Millisecond})
		start := time.Now()
		mu.Unlock()
		reg.Check(t.Context(), health.Ready)
		synctest.Wait()
		mu.Lock()
		if time.Since(start) != 300*time.Millisecond || derivedErr != context.DeadlineExceeded || ownErr != context.DeadlineExceeded {
			t.Errorf("a derived context ended with %v (own %v) after %v; want DeadlineExceeded at the deadline",
				derivedErr, ownErr, time.Since(start))
		}

		var after error
		reg.Register("quick", func(ctx context.Context) error {
			mu.Lock()
			escaped = ctx
			mu.Unlock()
			return nil
		}, health.CheckOptions{Probes: health.Startup})
		mu.Unlock()
		reg.Check(t.Context(), health.Startup)
		synctest.Wait()
		mu.Lock()
		after = escaped.Err()
		if after != context.Canceled {
			t.Errorf("Err after the check returned: %v, want Canceled, as after WithTimeout's cancel", after)
		}
	})
}

// A waiter that arms the deadline of a run that has already returned (its
// waiters not yet woken, while its change is handed to OnChange) must not
// replace the deadline of the next run, or a hung next run never times
// out and its probes wait for their own context instead.
func TestLateWaiterOfFinishedRunKeepsNextRunsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		reg := newRegistry(t, health.Options{TTL: -1, OnChange: func(ch health.Change) {
			if ch.Check == "flaky" {
				once.Do(func() { close(entered); <-release })
			}
		}})
		reg.Register("slow", func(context.Context) error {
			time.Sleep(500 * time.Millisecond)
			return nil
		}, health.CheckOptions{Probes: health.Live})
		g := newGate()
		defer g.open()
		var calls atomic.Int64
		reg.Register("flaky", func(ctx context.Context) error {
			if calls.Add(1) == 1 {
				return errors.New("down") // returns at once; its change blocks in OnChange
			}
			return g.check(ctx) // the next run hangs
		}, health.CheckOptions{Probes: health.Live | health.Ready, Timeout: time.Second})

		// The first run of flaky starts with a probe that waits for slow
		// first, and reaches flaky's run only after the second run started.
		go reg.Check(context.Background(), health.Live)
		<-entered
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		var rep health.Report
		var waited time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep = reg.Check(ctx, health.Ready) // starts the second run, which hangs
			waited = time.Since(start)
		}()
		time.Sleep(500 * time.Millisecond) // the Live probe now waits on the first run
		close(release)
		time.Sleep(5 * time.Second)
		g.open()
		<-done
		if waited != time.Second || !errors.Is(rep.Checks[0].Err, health.ErrTimeout) {
			t.Errorf("a probe of a hung run with a 1s timeout: %v after %v, want ErrTimeout after 1s", rep.Checks[0].Err, waited)
		}
	})
}

// Close cancels every run, including one a background loop starts as
// Close is called: no check may run on after Close with a live context.
func TestCloseCancelsARunStartedAsItCloses(t *testing.T) {
	for i := range 200 {
		synctest.Test(t, func(t *testing.T) {
			reg := health.New(health.Options{Logger: quiet})
			var calls, running atomic.Int64
			reg.Register("bg", func(ctx context.Context) error {
				if calls.Add(1) == 1 {
					return nil
				}
				running.Add(1)
				defer running.Add(-1)
				<-ctx.Done()
				return ctx.Err()
			}, health.CheckOptions{Interval: time.Second, Timeout: time.Hour})
			time.Sleep(time.Second) // the loop's second tick is now too
			reg.Close()
			synctest.Wait()
			n := running.Load()
			time.Sleep(time.Hour) // let such a run reach its deadline
			if n != 0 {
				t.Fatalf("round %d: %d runs go on after Close with a live context", i, n)
			}
		})
	}
}

// A context's Err never changes once it is non-nil (context.Context): a
// run's context cancelled when its check returned stays Canceled after
// its deadline, whether or not Done was called.
func TestCheckContextErrStaysCanceledPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry(t, health.Options{TTL: -1})
		var mu sync.Mutex
		var escaped context.Context
		reg.Register("quick", func(ctx context.Context) error {
			mu.Lock()
			escaped = ctx
			mu.Unlock()
			return nil
		}, health.CheckOptions{Timeout: time.Second})
		reg.Check(t.Context(), health.Ready)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		before := escaped.Err()
		time.Sleep(2 * time.Second) // past the run's deadline
		after := escaped.Err()
		<-escaped.Done()
		last := escaped.Err()
		if before != context.Canceled || after != context.Canceled || last != context.Canceled {
			t.Errorf("Err after the check returned: %v, past its deadline: %v, after Done: %v; want Canceled throughout", before, after, last)
		}
	})
}
