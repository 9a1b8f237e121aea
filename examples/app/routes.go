package app

import (
	"net/http"

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
	mux := http.NewServeMux()
	mux.Handle("GET /livez", a.Health.Handler(health.Live))
	mux.Handle("GET /readyz", a.Health.Handler(health.Ready))
	mux.Handle("GET /readyz/{name}", a.Health.Handler(health.Ready))
	mux.Handle("GET /.well-known/jwks.json", a.JWKS)

	// Every /v1 route: identify, then limit, so that anonymous requests,
	// failed logins and bad tokens count against the caller's address.
	v1 := func(next http.Handler) http.Handler { return a.Auth.Identify(a.Limiter.Handler(next)) }
	read := a.Auth.RequireScopes(ScopeRead)
	write := a.Auth.RequireScopes(ScopeWrite)

	mux.Handle("POST /v1/users", v1(problem.HandlerFunc(h.CreateUser)))
	mux.Handle("POST /v1/tokens", v1(problem.HandlerFunc(h.CreateToken)))
	mux.Handle("POST /v1/orders", v1(write(a.Idempotency.Handler(problem.HandlerFunc(h.CreateOrder)))))
	mux.Handle("GET /v1/orders", v1(read(problem.HandlerFunc(h.ListOrders))))
	mux.Handle("GET /v1/orders/{id}", v1(read(problem.HandlerFunc(h.GetOrder))))
	// Anything else under /v1 is limited too, then a 404 or 405 problem.
	mux.Handle("/v1/", v1(problem.HandlerFunc(notFound)))
	mux.Handle("/v1", v1(problem.HandlerFunc(notFound))) // else ServeMux redirects to /v1/
	mux.Handle("/", problem.HandlerFunc(notFound))

	return a.Observe(nil)(mux)
}

func notFound(http.ResponseWriter, *http.Request) error {
	return problem.New(http.StatusNotFound, "There is nothing here.")
}
