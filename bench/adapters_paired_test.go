//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/backstop-go/backstop/idempotency"
)

// BenchmarkAdapterOverhead measures what each adapter adds to a Backstop
// middleware, in CPU time of the benchmark's thread, on a machine shared
// with other work, where the ns/op of BenchmarkAdapters mostly measures
// waiting for a core. For each middleware it serves, in turn, blocks of
// 2000 requests through ServeMux, echo and gin, bare and with the
// middleware, for 100 rounds; a variant's cost is the median over rounds
// of its block's CPU time minus that of the router's bare block in the
// same round. It reports, per middleware, "<router>-adds-ns": the
// middleware's cost on the router minus its cost on ServeMux, and as a
// control "around-gin-adds-ns": the same for the net/http middleware
// wrapped around the whole gin engine, where no adapter runs, which is
// what gin itself costs more once the middleware runs. It ignores b.N:
// run it with -benchtime 1x.
//
//	go test -run '^$' -bench AdapterOverhead -benchtime 1x .
func BenchmarkAdapterOverhead(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	routers := map[string]func(adapterMiddleware) http.Handler{}
	for _, r := range adapterRouters {
		routers[r.name] = r.build
	}
	cases := []struct {
		name  string
		fresh bool
		mw    func(b *testing.B) (adapterMiddleware, func())
	}{
		{"passthrough", false, func(*testing.B) (adapterMiddleware, func()) {
			return adapterNamed(func(next http.Handler) http.Handler { return next }), nil
		}},
		{"wrapwriter", false, func(*testing.B) (adapterMiddleware, func()) {
			return adapterNamed(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(&passWriter{w}, r) })
			}), nil
		}},
		{"ratelimit", false, adapterRatelimit},
		{"idempotency-first", true, adapterIdempotency},
		{"idempotency-replay", false, adapterIdempotency},
	}
	const block, rounds = 2000, 100
	for _, c := range cases {
		type variant struct {
			router string
			h      http.Handler
			tick   func()
		}
		var vs []variant
		for _, rt := range []string{"servemux", "echo", "gin"} {
			vs = append(vs, variant{router: rt, h: routers[rt](adapterMiddleware{})})
			m, tick := c.mw(b)
			vs = append(vs, variant{router: rt + "+mw", h: routers[rt](m), tick: tick})
		}
		// The control: the net/http middleware around the whole gin
		// engine, no adapter involved.
		engine := routers["gin"](adapterMiddleware{})
		m, tick := c.mw(b)
		vs = append(vs, variant{router: "gin", h: engine}, variant{router: "mw(gin)", h: m.std(engine), tick: tick})
		cost := make([][]float64, len(vs))
		for _, v := range vs {
			pairedBlock(v.h, c.fresh, v.tick, block) // warm up; a replayed key is recorded
		}
		for range rounds {
			for i, v := range vs {
				cost[i] = append(cost[i], pairedBlock(v.h, c.fresh, v.tick, block))
			}
		}
		added := func(i int) float64 { // variant i+1 (with middleware) minus variant i (bare), median of rounds
			d := make([]float64, rounds)
			for r := range d {
				d[r] = cost[i+1][r] - cost[i][r]
			}
			slices.Sort(d)
			return d[rounds/2]
		}
		mux := added(0)
		b.ReportMetric(mux, c.name+"-servemux-ns")
		b.ReportMetric(added(2)-mux, c.name+"-echo-adds-ns")
		b.ReportMetric(added(4)-mux, c.name+"-gin-adds-ns")
		b.ReportMetric(added(6)-mux, c.name+"-around-gin-adds-ns")
	}
}

// pairedBlock serves n requests through h and returns the thread's CPU
// time per request, in ns.
func pairedBlock(h http.Handler, fresh bool, tick func(), n int) float64 {
	r := httptest.NewRequest(http.MethodPost, "/orders", nil)
	r.Header.Set("Authorization", "Bearer bench-token")
	r.Header.Set(idempotency.HeaderKey, "paired-bench-replayed-key")
	r.ContentLength = int64(len(idemBody))
	keys := r.Header[idempotency.HeaderKey]
	base := "paired-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	w := &idemWriter{h: make(http.Header, 8)}
	body := bytes.NewReader(idemBody)
	rc := io.NopCloser(body)
	runtime.GC()
	start := threadCPU()
	for i := range n {
		if fresh {
			keys[0] = base + strconv.Itoa(i)
		}
		if tick != nil {
			tick()
		}
		body.Reset(idemBody)
		r.Body = rc
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusCreated {
			panic(fmt.Sprintf("status %d", w.code))
		}
	}
	return float64(threadCPU()-start) / float64(n)
}

// threadCPU returns the CPU time of the calling thread in ns
// (CLOCK_THREAD_CPUTIME_ID, exact, unlike getrusage's tick-sampled
// RUSAGE_THREAD).
func threadCPU() int64 {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return ts.Nano()
}
