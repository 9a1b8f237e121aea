package bench

// Health-probe benchmarks: backstop's health against alexliesenfeld/health
// and hellofresh/health-go, in one run. GET /readyz with 5 checks that
// return nil at once (the "-waiting-checks" rows: after waiting 200 µs, as
// a check waiting on a database does, which shows whether requests wait
// for each other's checks: with no lock held while checks run, two cores
// serve twice the requests); every op is one request through a new
// httptest.ResponseRecorder (10 allocs and 1 KB by itself: the floor row),
// served with b.RunParallel, so with -cpu 2 ns/op is wall time per request
// with two goroutines. Every library answers with its default JSON body.
// cpu-ns/op is the CPU time the whole process used per request (every
// goroutine, the garbage collector included): on a shared, loaded machine
// it varies much less than ns/op, which counts time spent waiting for a
// core.
//
//	go test -run '^$' -bench 'Health' -benchmem -count 6 -cpu 1,2 .

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	alex "github.com/alexliesenfeld/health"
	hellofresh "github.com/hellofresh/health-go/v5"

	"github.com/backstop-go/backstop/health"
)

const healthChecks = 5

// healthWait is how long each check of the waiting-checks rows waits.
const healthWait = 200 * time.Microsecond

// healthCounter counts check calls, so that a test can tell cached modes
// from those that run every check per request.
type healthCounter struct{ calls atomic.Int64 }

func (c *healthCounter) check(context.Context) error { c.calls.Add(1); return nil }

func healthName(i int) string { return "check" + strconv.Itoa(i) }

// healthHandlers builds every handler under comparison around the counter
// and returns a function stopping their background work.
func healthHandlers(c *healthCounter) (handlers []healthCase, stop func()) {
	var stops []func()
	add := func(name string, h http.Handler) { handlers = append(handlers, healthCase{name, h}) }

	add("floor-httptest-static-json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"up"}`))
	}))

	backstop := func(name string, opts health.Options, co health.CheckOptions) {
		opts.Logger = slog.New(slog.DiscardHandler)
		reg := health.New(opts)
		for i := range healthChecks {
			reg.Register(healthName(i), c.check, co)
		}
		stops = append(stops, reg.Close)
		add(name, reg.Handler(health.Ready))
	}
	backstop("backstop-cached", health.Options{}, health.CheckOptions{})
	backstop("backstop-background", health.Options{}, health.CheckOptions{Interval: 10 * time.Second})
	backstop("backstop-every-request", health.Options{TTL: -1}, health.CheckOptions{})
	waiting := func(ctx context.Context) error { time.Sleep(healthWait); return c.check(ctx) }
	{
		reg := health.New(health.Options{TTL: -1, Logger: slog.New(slog.DiscardHandler)})
		for i := range healthChecks {
			reg.Register(healthName(i), waiting, health.CheckOptions{})
		}
		stops = append(stops, reg.Close)
		add("backstop-every-request-waiting-checks", reg.Handler(health.Ready))
	}

	alexChecker := func(name string, opts ...alex.CheckerOption) {
		checker := alex.NewChecker(opts...)
		stops = append(stops, checker.Stop)
		add(name, alex.NewHandler(checker))
	}
	var alexSync, alexPeriodic []alex.CheckerOption
	for i := range healthChecks {
		check := alex.Check{Name: healthName(i), Check: c.check}
		alexSync = append(alexSync, alex.WithCheck(check))
		alexPeriodic = append(alexPeriodic, alex.WithPeriodicCheck(10*time.Second, 0, check))
	}
	alexChecker("alexliesenfeld-cached", alexSync...)
	alexChecker("alexliesenfeld-periodic", alexPeriodic...)
	alexChecker("alexliesenfeld-no-cache", append(alexSync, alex.WithDisabledCache())...)

	hf, err := hellofresh.New()
	if err != nil {
		panic(err)
	}
	for i := range healthChecks {
		if err := hf.Register(hellofresh.Config{Name: healthName(i), Check: c.check}); err != nil {
			panic(err)
		}
	}
	add("hellofresh-every-request", hf.Handler())
	hfw, err := hellofresh.New()
	if err != nil {
		panic(err)
	}
	for i := range healthChecks {
		if err := hfw.Register(hellofresh.Config{Name: healthName(i), Check: waiting}); err != nil {
			panic(err)
		}
	}
	add("hellofresh-every-request-waiting-checks", hfw.Handler())

	return handlers, func() {
		for _, s := range stops {
			s()
		}
	}
}

type healthCase struct {
	name string
	h    http.Handler
}

func BenchmarkHealth(b *testing.B) {
	handlers, stop := healthHandlers(&healthCounter{})
	defer stop()
	time.Sleep(100 * time.Millisecond) // background checks have their first results
	for _, hc := range handlers {
		b.Run(hc.name, func(b *testing.B) {
			if code := serveReady(hc.h); code != http.StatusOK {
				b.Fatalf("code %d", code)
			}
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/readyz", nil)
				for pb.Next() {
					rec := httptest.NewRecorder()
					hc.h.ServeHTTP(rec, req)
				}
			})
			b.StopTimer()
			if cpu > 0 {
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

func serveReady(h http.Handler) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	return rec.Code
}

// TestHealthBenchmarkModes pins what each benchmarked handler does: the
// cached and background modes run no check per request, the
// every-request modes run all five.
func TestHealthBenchmarkModes(t *testing.T) {
	c := &healthCounter{}
	handlers, stop := healthHandlers(c)
	defer stop()
	for _, hc := range handlers {
		serveReady(hc.h) // first results
	}
	time.Sleep(100 * time.Millisecond) // background and periodic first runs
	perRequest := map[string]int64{
		"backstop-every-request":                  healthChecks,
		"alexliesenfeld-no-cache":                 healthChecks,
		"hellofresh-every-request":                healthChecks,
		"backstop-every-request-waiting-checks":   healthChecks,
		"hellofresh-every-request-waiting-checks": healthChecks,
	}
	for _, hc := range handlers {
		before := c.calls.Load()
		for range 10 {
			if code := serveReady(hc.h); code != http.StatusOK {
				t.Fatalf("%s: code %d", hc.name, code)
			}
		}
		// The cached modes may refresh once if their 1 s TTL ran out.
		got, want := c.calls.Load()-before, 10*perRequest[hc.name]
		if got != want && (want != 0 || got > healthChecks) {
			t.Errorf("%s: %d check calls for 10 requests, want %d", hc.name, got, want)
		}
	}
}
