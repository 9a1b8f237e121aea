// Command chi is the reference orders service on go-chi/chi, composing
// every Backstop package. chi speaks net/http, so Backstop's middleware
// mounts as it is, with r.Use and r.With. See examples/README.md for the
// configuration and a curl walk-through.
//
//	go run ./examples/chi
package main

import (
	"net/http"
	"os"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/backstop-go/backstop/examples/app"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/problem"
)

func main() {
	os.Exit(app.Main(routes))
}

// routes mounts the service on a chi router. The order of the middleware:
//
//	Observe (spans, metrics, logs, recover)
//	  └ Identify (read the token; never refuses)
//	      └ Limiter (keyed by principal, or by address when anonymous)
//	          └ RequireScopes (401, 403)
//	              └ Idempotency (POST /v1/orders)
//	                  └ handler (decode + validate + domain)
func routes(a *app.App) http.Handler {
	h := a.Handlers
	r := chi.NewRouter()
	root := r // the whole tree, for the Allow header of a 405 under /v1
	// Inside the router, so that the span is named by chi's route pattern.
	r.Use(a.Observe(func(r *http.Request) string {
		if rc := chi.RouteContext(r.Context()); rc != nil {
			return rc.RoutePattern()
		}
		return ""
	}))
	// HEAD is GET without the body (RFC 9110 §9.3.2); chi routes it only
	// where it is registered.
	r.Use(middleware.GetHead)
	r.NotFound(problem.HandlerFunc(notFound).ServeHTTP)
	r.MethodNotAllowed(problem.HandlerFunc(methodNotAllowed(r)).ServeHTTP)

	r.Get("/livez", a.Health.Handler(health.Live).ServeHTTP)
	r.Get("/readyz", a.Health.Handler(health.Ready).ServeHTTP)
	r.Get("/readyz/{name}", a.Health.Handler(health.Ready).ServeHTTP)
	r.Get("/.well-known/jwks.json", a.JWKS.ServeHTTP)

	r.Route("/v1", func(r chi.Router) {
		// Identify, then limit: anonymous requests, failed logins and bad
		// tokens count against the caller's address.
		r.Use(a.Auth.Identify, a.Limiter.Handler)
		r.NotFound(problem.HandlerFunc(notFound).ServeHTTP)
		r.MethodNotAllowed(problem.HandlerFunc(methodNotAllowed(root)).ServeHTTP)

		r.Post("/users", problem.HandlerFunc(h.CreateUser).ServeHTTP)
		r.Post("/tokens", problem.HandlerFunc(h.CreateToken).ServeHTTP)
		r.With(a.Auth.RequireScopes(app.ScopeWrite), a.Idempotency.Handler).
			Post("/orders", problem.HandlerFunc(h.CreateOrder).ServeHTTP)
		r.With(a.Auth.RequireScopes(app.ScopeRead)).
			Get("/orders", problem.HandlerFunc(h.ListOrders).ServeHTTP)
		r.With(a.Auth.RequireScopes(app.ScopeRead)).
			Get("/orders/{id}", problem.HandlerFunc(h.GetOrder).ServeHTTP)
	})
	return r
}

func notFound(http.ResponseWriter, *http.Request) error {
	return problem.New(http.StatusNotFound, "There is nothing here.")
}

// methodNotAllowed answers a path that has routes, none for the method,
// with the Allow header RFC 9110 requires: chi sets it only in its own 405
// handler, so it is found here by matching each method against routes.
func methodNotAllowed(routes chi.Routes) func(http.ResponseWriter, *http.Request) error {
	return func(_ http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			match := m
			if m == http.MethodHead {
				match = http.MethodGet // GetHead serves HEAD with the GET route
			}
			if routes.Match(chi.NewRouteContext(), match, r.URL.Path) {
				allow = append(allow, m)
			}
		}
		return problem.New(http.StatusMethodNotAllowed, "This method is not allowed here.").
			WithHeader("Allow", strings.Join(allow, ", "))
	}
}
