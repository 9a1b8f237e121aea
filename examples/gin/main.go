// Command gin is the reference orders service on gin-gonic/gin, composing
// every Backstop package through ginadapter, so that handlers write through
// gin's writer, report errors with c.Error, and every error is an RFC 9457
// problem. See examples/README.md for the configuration and a curl
// walk-through.
//
//	go run ./examples/gin
package main

import (
	"net/http"
	"os"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/examples/app"
	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/problem"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(app.Main(routes))
}

// routes mounts the service on gin. The order of the middleware:
//
//	Observe (spans, metrics, logs, recover), around the whole Engine
//	  └ Problems (c.Errors and aborted statuses as problems)
//	      └ Identify (read the token; never refuses)
//	          └ RateLimit (keyed by principal, or by address when anonymous)
//	              └ RequireScopes (401, 403)
//	                  └ Idempotency (POST /v1/orders)
//	                      └ handler (decode + validate + domain)
func routes(a *app.App) http.Handler {
	h := a.Handlers
	g := gin.New()
	g.HandleMethodNotAllowed = true
	// A path no route has is a 404 problem, as on every router, not a
	// redirect to its neighbour with or without a trailing slash.
	g.RedirectTrailingSlash = false
	g.Use(ginadapter.Problems(nil))
	// Name spans and log lines by gin's route template: Observe wraps the
	// Engine from outside and reads the request's Pattern once it returns.
	g.Use(ginadapter.Pattern())
	// Identify, then limit: anonymous requests, failed logins and bad tokens
	// count against the caller's address.
	identify, limit := ginadapter.Wrap(a.Auth.Identify), ginadapter.RateLimit(a.Limiter)
	// gin runs NoRoute and NoMethod outside every group: unknown /v1 paths
	// and methods are limited here, like the routes beside them.
	g.NoRoute(underV1(identify), underV1(limit), problemHandler(notFound))
	g.NoMethod(underV1(identify), underV1(limit), problemHandler(methodNotAllowed))

	// HEAD is GET without the body (RFC 9110 §9.3.2); gin routes it only
	// where it is registered.
	g.Match(getHead, "/livez", gin.WrapH(a.Health.Handler(health.Live)))
	g.Match(getHead, "/readyz", gin.WrapH(a.Health.Handler(health.Ready)))
	g.Match(getHead, "/readyz/:name", withPathValue("name", a.Health.Handler(health.Ready)))
	g.Match(getHead, "/.well-known/jwks.json", gin.WrapH(a.JWKS))

	v1 := g.Group("/v1", identify, limit)
	read := ginadapter.Wrap(a.Auth.RequireScopes(app.ScopeRead))
	write := ginadapter.Wrap(a.Auth.RequireScopes(app.ScopeWrite))

	v1.POST("/users", handle(h.CreateUser))
	v1.POST("/tokens", handle(h.CreateToken))
	// Wrap, as with DATABASE_URL the idempotency middleware is pgstore's
	// transactional one (the order commits with its recorded response).
	v1.POST("/orders", write, ginadapter.Wrap(a.Idempotency.Handler), handle(h.CreateOrder))
	v1.Match(getHead, "/orders", read, handle(h.ListOrders))
	v1.Match(getHead, "/orders/:id", read, handle(h.GetOrder))

	return a.Observe(nil)(g)
}

// getHead are the methods of a read route.
var getHead = []string{http.MethodGet, http.MethodHead}

// underV1 runs mw only for paths under /v1.
func underV1(mw gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := c.Request.URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
			mw(c)
		}
	}
}

// handle adapts a domain handler, which returns its error, to gin: the
// error goes to c.Error, which Problems renders. Path parameters are copied
// to the request's path values, where the handler reads them.
func handle(f func(http.ResponseWriter, *http.Request) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			c.Request.SetPathValue(p.Key, p.Value)
		}
		if err := f(c.Writer, c.Request); err != nil {
			_ = c.Error(err)
			c.Abort()
		}
	}
}

func problemHandler(f func(http.ResponseWriter, *http.Request) error) gin.HandlerFunc {
	return handle(f)
}

func withPathValue(name string, next http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.SetPathValue(name, c.Param(name))
		next.ServeHTTP(c.Writer, c.Request)
	}
}

func notFound(http.ResponseWriter, *http.Request) error {
	return problem.New(http.StatusNotFound, "There is nothing here.")
}

func methodNotAllowed(http.ResponseWriter, *http.Request) error {
	return problem.New(http.StatusMethodNotAllowed, "This method is not allowed here.")
}
