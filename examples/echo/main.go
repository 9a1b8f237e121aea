// Command echo is the reference orders service on labstack/echo (v4),
// composing every Backstop package through echoadapter, so that handlers
// return errors the echo way and every error is an RFC 9457 problem. See
// examples/README.md for the configuration and a curl walk-through.
//
//	go run ./examples/echo
package main

import (
	"net/http"
	"os"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/examples/app"
	"github.com/backstop-go/backstop/health"
)

func main() {
	os.Exit(app.Main(routes))
}

// routes mounts the service on echo. The order of the middleware:
//
//	Observe (spans, metrics, logs, recover), around the whole Echo
//	  └ Identify (read the token; never refuses)
//	      └ RateLimit (keyed by principal, or by address when anonymous)
//	          └ RequireScopes (401, 403)
//	              └ Idempotency (POST /v1/orders)
//	                  └ handler (decode + validate + domain), returning errors
func routes(a *app.App) http.Handler {
	h := a.Handlers
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil) // echo's 404/405 and returned errors as problems
	// Name spans and log lines by echo's route template: Observe wraps the
	// Echo from outside and reads the request's Pattern once it returns.
	e.Use(echoadapter.Pattern())

	// HEAD is GET without the body (RFC 9110 §9.3.2); echo routes it only
	// where it is registered.
	e.Match(getHead, "/livez", echo.WrapHandler(a.Health.Handler(health.Live)))
	e.Match(getHead, "/readyz", echo.WrapHandler(a.Health.Handler(health.Ready)))
	e.Match(getHead, "/readyz/:name", withPathValue("name", a.Health.Handler(health.Ready)))
	e.Match(getHead, "/.well-known/jwks.json", echo.WrapHandler(a.JWKS))

	// Identify, then limit: anonymous requests, failed logins and bad tokens
	// count against the caller's address.
	v1 := e.Group("/v1", echoadapter.Wrap(a.Auth.Identify), echoadapter.RateLimit(a.Limiter))
	read := echoadapter.Wrap(a.Auth.RequireScopes(app.ScopeRead))
	write := echoadapter.Wrap(a.Auth.RequireScopes(app.ScopeWrite))

	v1.POST("/users", handle(h.CreateUser))
	v1.POST("/tokens", handle(h.CreateToken))
	// Wrap, as with DATABASE_URL the idempotency middleware is pgstore's
	// transactional one (the order commits with its recorded response).
	v1.POST("/orders", handle(h.CreateOrder), write, echoadapter.Wrap(a.Idempotency.Handler))
	v1.Match(getHead, "/orders", handle(h.ListOrders), read)
	v1.Match(getHead, "/orders/:id", handle(h.GetOrder), read)
	// Unknown /v1 paths are limited too before their 404.
	v1.Any("/*", noRoute(e))

	return a.Observe(nil)(e)
}

// noRoute answers what no /v1 route matched, after the group's middleware:
// a 405 with Allow when the path has routes for other methods (echo would
// have said so without this catch-all, which takes every method), else a
// 404. The routes are looked up, on the first miss, in a router holding
// every route but the catch-all.
func noRoute(e *echo.Echo) echo.HandlerFunc {
	var once sync.Once
	var known *echo.Router
	return func(c echo.Context) error {
		once.Do(func() {
			known = echo.NewRouter(e)
			for _, rt := range e.Routes() {
				if rt.Path != "/v1/*" {
					known.Add(rt.Method, rt.Path, func(echo.Context) error { return nil })
				}
			}
		})
		r := c.Request()
		kc := e.NewContext(r, nil)
		known.Find(r.Method, echo.GetPath(r), kc)
		if allow, _ := kc.Get(echo.ContextKeyHeaderAllow).(string); allow != "" {
			c.Response().Header().Set(echo.HeaderAllow, allow)
			return echo.ErrMethodNotAllowed
		}
		return echo.ErrNotFound
	}
}

// getHead are the methods of a read route.
var getHead = []string{http.MethodGet, http.MethodHead}

// handle adapts a domain handler, which returns its error, to echo, which
// renders a returned error with its HTTPErrorHandler. Path parameters are
// copied to the request's path values, where the handler reads them.
func handle(f func(http.ResponseWriter, *http.Request) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		for _, name := range c.ParamNames() {
			r.SetPathValue(name, c.Param(name))
		}
		return f(c.Response(), r)
	}
}

// withPathValue serves an http.Handler that reads a path value.
func withPathValue(name string, next http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Request().SetPathValue(name, c.Param(name))
		next.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
