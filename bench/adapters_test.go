package bench

// Router adapters: Backstop's ratelimit and idempotency middleware through
// echoadapter and ginadapter, against the same middleware on ServeMux (and
// on chi, which takes it as it is). Each router is measured bare (the same
// handler, no middleware) and with the middleware, so that
//
//	adapter overhead = (router with middleware − router bare) − (ServeMux with middleware − ServeMux bare)
//
// is what the adapter adds to the middleware, net of the router's own cost.
// echo and gin middleware is given per route (composed once, at
// registration); echo's e.Use composes on every request, which costs every
// echo middleware one allocation more. Idempotency requests carry a 1 KiB
// body and run on the in-memory store: "first" requests carry a fresh key
// (claim, run, record), "replay" requests repeat one key. The rows
// echo-wrapmiddleware and gin-plain are the plain forms the adapters
// replace (echo.WrapMiddleware, and the usual five-line gin adapter), as a
// cost baseline: both record the wrong response for idempotency. The
// passthrough and wrapwriter cases isolate the adapters' own cost with
// middleware that does nothing; the echo-native-noop and gin-native-noop
// rows put a native no-op middleware in place of the Backstop one, which
// is what any middleware costs on those routers.
//
// Besides ns/op (wall time), each benchmark reports cpu-ns/op: the
// process's CPU time (user+system, GC included) per request. On a machine
// shared with other work, wall time mostly measures waiting for a core;
// CPU time does not.
//
//	go test -run '^$' -bench 'Adapters' -benchmem -count 6 .

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/ratelimit"
)

// The same handler in each router's style, writing the same response:
// gin's c.Data sets Content-Length, so the others set it too. A header
// that idempotency does not replay costs its recorder more than one it
// does (it canonicalizes the name, twice per response), which must not
// count as gin's adapter.
var (
	adapterStd = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/orders/ord_8e03978e40d543e8")
		w.Header().Set("Content-Length", strconv.Itoa(len(idemResponse)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(idemResponse)
	})
	adapterEcho = func(c echo.Context) error {
		_, _ = io.Copy(io.Discard, c.Request().Body)
		c.Response().Header().Set("Location", "/orders/ord_8e03978e40d543e8")
		c.Response().Header().Set("Content-Length", strconv.Itoa(len(idemResponse)))
		return c.Blob(http.StatusCreated, "application/json", idemResponse)
	}
	adapterGin = func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Header("Location", "/orders/ord_8e03978e40d543e8")
		c.Data(http.StatusCreated, "application/json", idemResponse)
	}
)

// adapterMiddleware is one Backstop middleware in each router's form; all
// nil means none.
type adapterMiddleware struct {
	std  func(http.Handler) http.Handler
	echo echo.MiddlewareFunc
	gin  gin.HandlerFunc
}

type adapterRouter struct {
	name  string
	build func(adapterMiddleware) http.Handler
}

var adapterRouters = []adapterRouter{
	{"servemux", func(m adapterMiddleware) http.Handler {
		mux := http.NewServeMux()
		var h http.Handler = adapterStd
		if m.std != nil {
			h = m.std(h)
		}
		mux.Handle("POST /orders", h)
		return mux
	}},
	{"chi", func(m adapterMiddleware) http.Handler {
		r := chi.NewRouter()
		if m.std != nil {
			r.With(m.std).Post("/orders", adapterStd)
		} else {
			r.Post("/orders", adapterStd)
		}
		return r
	}},
	{"echo", func(m adapterMiddleware) http.Handler {
		e := echo.New()
		if m.echo != nil {
			e.POST("/orders", adapterEcho, m.echo)
		} else {
			e.POST("/orders", adapterEcho)
		}
		return e
	}},
	// A native middleware that does nothing, in place of the Backstop one:
	// what any middleware costs on the router.
	{"echo-native-noop", func(m adapterMiddleware) http.Handler {
		e := echo.New()
		if m.std != nil {
			noop := func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error { return next(c) }
			}
			e.POST("/orders", adapterEcho, noop)
		} else {
			e.POST("/orders", adapterEcho)
		}
		return e
	}},
	{"gin-native-noop", func(m adapterMiddleware) http.Handler {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		if m.std != nil {
			r.POST("/orders", func(c *gin.Context) { c.Next() }, adapterGin)
		} else {
			r.POST("/orders", adapterGin)
		}
		return r
	}},
	// The plain forms the adapters replace, as the cost baseline: they are
	// wrong for idempotency (see the adapters' package docs).
	{"echo-wrapmiddleware", func(m adapterMiddleware) http.Handler {
		e := echo.New()
		if m.std != nil {
			e.POST("/orders", adapterEcho, echo.WrapMiddleware(m.std))
		} else {
			e.POST("/orders", adapterEcho)
		}
		return e
	}},
	{"gin-plain", func(m adapterMiddleware) http.Handler {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		if m.std != nil {
			plain := func(c *gin.Context) {
				m.std(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c.Request = r
					c.Next()
				})).ServeHTTP(c.Writer, c.Request)
			}
			r.POST("/orders", plain, adapterGin)
		} else {
			r.POST("/orders", adapterGin)
		}
		return r
	}},
	{"gin", func(m adapterMiddleware) http.Handler {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		if m.gin != nil {
			r.POST("/orders", m.gin, adapterGin)
		} else {
			r.POST("/orders", adapterGin)
		}
		return r
	}},
}

// adapterServe sends b.N requests through h, each with a fresh
// idempotency key when fresh is set, else all with the same one; tick
// runs before each request. It reports cpu-ns/op besides the usual
// figures.
func adapterServe(b *testing.B, h http.Handler, fresh bool, tick func()) {
	r := httptest.NewRequest(http.MethodPost, "/orders", nil)
	r.Header.Set("Authorization", "Bearer bench-token")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(idempotency.HeaderKey, fmt.Sprintf("bench-%d-replayed", time.Now().UnixNano()))
	r.ContentLength = int64(len(idemBody))
	keys := r.Header[idempotency.HeaderKey]
	var fresher []string
	if fresh {
		base := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
		fresher = make([]string, b.N)
		for i := range fresher {
			fresher[i] = base + strconv.Itoa(i)
		}
	}
	w := &idemWriter{h: make(http.Header, 8)}
	body := bytes.NewReader(idemBody)
	rc := io.NopCloser(body)
	serve := func() {
		body.Reset(idemBody)
		r.Body = rc
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
	}
	serve() // warm up; when keys repeat, the loop replays this one
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if fresh {
			keys[0] = fresher[i]
		}
		if tick != nil {
			tick()
		}
		serve()
		if w.code != http.StatusCreated {
			b.Fatalf("status %d", w.code)
		}
	}
	if cpu > 0 {
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkAdapters(b *testing.B) {
	cases := []struct {
		name  string
		fresh bool
		// mw returns a fresh middleware, and a tick for its clock.
		mw func(b *testing.B) (adapterMiddleware, func())
	}{
		{"ratelimit", false, adapterRatelimit},
		{"idempotency-first", true, adapterIdempotency},
		// Middleware that does nothing, to isolate the adapters' own cost:
		// one passes the ResponseWriter on (as ratelimit does), one wraps it
		// (as idempotency's recorder does), so that the chain writes
		// through the adapter's writer.
		{"passthrough", false, func(*testing.B) (adapterMiddleware, func()) {
			return adapterNamed(func(next http.Handler) http.Handler { return next }), nil
		}},
		{"wrapwriter", false, func(*testing.B) (adapterMiddleware, func()) {
			return adapterNamed(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(&passWriter{w}, r)
				})
			}), nil
		}},
		{"idempotency-replay", false, adapterIdempotency},
	}
	for _, c := range cases {
		for _, rt := range adapterRouters {
			b.Run(c.name+"/"+rt.name+"/bare", func(b *testing.B) {
				adapterServe(b, rt.build(adapterMiddleware{}), c.fresh, nil)
			})
			b.Run(c.name+"/"+rt.name+"/middleware", func(b *testing.B) {
				m, tick := c.mw(b)
				adapterServe(b, rt.build(m), c.fresh, tick)
			})
		}
	}
}

// adapterIdempotency returns the idempotency middleware on a memory store
// whose clock advances a second per request, with a 1000 s retention, so
// that it holds a steady ~1000 records instead of growing with b.N.
func adapterIdempotency(b *testing.B) (adapterMiddleware, func()) {
	now := time.Now()
	s := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: func() time.Time { return now }})
	m := idempotency.New(s, nil, idempotency.Options{Retention: 1000 * time.Second})
	return adapterMiddleware{m.Handler, echoadapter.Idempotency(m), ginadapter.Idempotency(m)}, func() { now = now.Add(time.Second) }
}

// adapterNamed returns mw in each router's form through the adapters'
// Wrap.
func adapterNamed(mw func(http.Handler) http.Handler) adapterMiddleware {
	return adapterMiddleware{mw, echoadapter.Wrap(mw), ginadapter.Wrap(mw)}
}

// passWriter wraps a ResponseWriter and does nothing else.
type passWriter struct{ http.ResponseWriter }

func (w *passWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// adapterRatelimit returns the ratelimit middleware with a limit no
// benchmark reaches.
func adapterRatelimit(b *testing.B) (adapterMiddleware, func()) {
	l, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerSecond("burst", 1<<50)}, ratelimit.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	m := ratelimit.New(l, func(*http.Request) string { return "bench" }, ratelimit.Options{})
	return adapterMiddleware{m.Handler, echoadapter.RateLimit(m), ginadapter.RateLimit(m)}, nil
}
