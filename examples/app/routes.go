package app

import (
	"net/http"
	"path"
	"strings"

	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/problem"
)

// Routes mounts the service on Go's http.ServeMux: the stdlib variant
// (examples/stdlib), and the benchmarks and load test of the whole chain
// (bench), which measure exactly this. The order of the middleware is the
// point of this function:
//
//	Observe (spans, metrics, logs, recover)
//	  └ Identify (read the token; never refuses)
//	      └ Limiter (keyed by principal, or by address when anonymous)
//	          └ Require / RequireScopes (401, 403)
//	              └ Idempotency (POST /v1/orders)
//	                  └ handler (decode + validate + domain)
func Routes(a *App) http.Handler {
	h := a.Handlers
	// Every /v1 route: identify, then limit, so that anonymous requests,
	// failed logins and bad tokens count against the caller's address.
	v1 := func(next http.Handler) http.Handler { return a.Auth.Identify(a.Limiter.Handler(next)) }
	read := a.Auth.RequireScopes(ScopeRead)
	write := a.Auth.RequireScopes(ScopeWrite)

	routes := []struct {
		pattern string
		handler http.Handler
	}{
		{"GET /livez", a.Health.Handler(health.Live)},
		{"GET /readyz", a.Health.Handler(health.Ready)},
		{"GET /readyz/{name}", a.Health.Handler(health.Ready)},
		{"GET /.well-known/jwks.json", a.JWKS},
		{"POST /v1/users", v1(problem.HandlerFunc(h.CreateUser))},
		{"POST /v1/tokens", v1(problem.HandlerFunc(h.CreateToken))},
		{"POST /v1/orders", v1(write(a.Idempotency.Handler(problem.HandlerFunc(h.CreateOrder))))},
		{"GET /v1/orders", v1(read(problem.HandlerFunc(h.ListOrders)))},
		{"GET /v1/orders/{id}", v1(read(problem.HandlerFunc(h.GetOrder)))},
	}
	// known holds the routes alone: the catch-alls below take every request
	// no route answers, a wrong method too, and ask known which it was.
	mux, known := http.NewServeMux(), http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, rt.handler)
		known.Handle(rt.pattern, rt.handler)
	}
	miss := problem.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error { return noRoute(known, r) })
	// Anything else under /v1 is limited too, then a 404 or 405 problem.
	v1Miss := v1(miss)
	mux.Handle("/v1/", v1Miss)
	mux.Handle("/v1", v1Miss) // else ServeMux redirects to /v1/
	mux.Handle("/", miss)

	// ServeMux redirects a path it would clean (//, ., ..) before any
	// handler runs: answer those as the other routers do, with a problem,
	// limited under /v1.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; r.Method != http.MethodConnect && p != cleanPath(p) {
			if p == "/v1" || strings.HasPrefix(p, "/v1/") {
				v1Miss.ServeHTTP(w, r)
			} else {
				miss.ServeHTTP(w, r)
			}
			return
		}
		mux.ServeHTTP(w, r)
	})
	return a.Observe(nil)(root)
}

// noRoute is the 404 problem for a path without routes, or the 405 problem
// with Allow for a path whose routes are for other methods, as known, a
// ServeMux of the routes alone, decides.
func noRoute(known *http.ServeMux, r *http.Request) error {
	if h, pattern := known.Handler(r); pattern == "" {
		rec := headerRecorder{header: http.Header{}}
		h.ServeHTTP(&rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			return problem.New(http.StatusMethodNotAllowed, "This method is not allowed here.").
				WithHeader("Allow", rec.header.Get("Allow"))
		}
	}
	return problem.New(http.StatusNotFound, "There is nothing here.")
}

// headerRecorder keeps the status and header a handler writes.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// cleanPath is the path ServeMux would redirect p to, as net/http cleans it.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
