package echoadapter

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/authn"
)

// Authenticate returns m's Handler as echo middleware: a request with a
// valid token runs the rest of the chain with its *authn.Principal in the
// request's context (read it with [Value] and authn.FromContext); any
// other is answered as authn.Middleware.Handler answers it (401 with
// WWW-Authenticate, 400, 403, 503: RFC 9457 problems written by m's
// Options.ErrorHandler), and the rest of the chain does not run. Under
// Options.Anonymous a request without credentials runs the chain with no
// Principal. It panics if m was not made by authn.New.
//
//	e.GET("/orders", listOrders, echoadapter.Authenticate(auth))
func Authenticate(m *authn.Middleware) echo.MiddlewareFunc {
	mustAuthn(m, "Authenticate")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			p, err := m.Authenticate(r)
			if err != nil {
				m.WriteError(c.Response(), r, err)
				return nil
			}
			if p != nil {
				c.SetRequest(r.WithContext(authn.NewContext(r.Context(), p)))
			}
			return next(c)
		}
	}
}

// Identify returns m's Identify as echo middleware: it never refuses. A
// request with a valid token runs the rest of the chain with its
// *authn.Principal in the request's context, any other without one, its
// failure remembered for a later [Require] or [RequireScopes]. Use it
// when something must run between reading the token and refusing the
// request, such as a rate limiter keyed by the principal:
//
//	v1 := e.Group("/v1", echoadapter.Identify(auth), echoadapter.RateLimit(limit))
//	v1.POST("/orders", createOrder, echoadapter.RequireScopes(auth, "orders:write"))
//
// It panics if m was not made by authn.New.
func Identify(m *authn.Middleware) echo.MiddlewareFunc {
	mustAuthn(m, "Identify")
	// authn keeps an Identify failure in the context under a key of its
	// own, which only its Identify sets.
	return Wrap(m.Identify)
}

// Require returns m's Require as echo middleware: the rest of the chain
// runs only for an authenticated request, with its *authn.Principal in the
// request's context; it authenticates the request itself unless an
// earlier [Identify] or [Authenticate] did. Other requests are answered
// as authn.Middleware.Require answers them (a request without
// credentials is a 401 with WWW-Authenticate: Bearer, whatever
// Options.Anonymous says), and the rest of the chain does not run. It
// panics if m was not made by authn.New.
//
//	e.POST("/orders", createOrder, echoadapter.Require(auth))
func Require(m *authn.Middleware) echo.MiddlewareFunc {
	mustAuthn(m, "Require")
	return RequireScopes(m)
}

// RequireScopes returns m's RequireScopes(scopes...) as echo middleware:
// as [Require], and a Principal that lacks one of scopes is answered 403
// with WWW-Authenticate: Bearer error="insufficient_scope",
// scope="<scopes>" (an RFC 9457 problem of type
// authn.ErrInsufficientScope), without running the rest of the chain. It
// panics as m.RequireScopes does: if m was not made by authn.New, or a
// scope is empty or holds a space, a quote or a backslash.
//
//	e.POST("/orders", createOrder, echoadapter.RequireScopes(auth, "orders:write"))
func RequireScopes(m *authn.Middleware, scopes ...string) echo.MiddlewareFunc {
	mustAuthn(m, "RequireScopes")
	_ = m.RequireScopes(scopes...) // its checks of m and of the scopes
	scopes = append([]string(nil), scopes...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			p, err := m.Required(r)
			if err == nil && len(scopes) > 0 {
				err = m.CheckScopes(r, p, scopes...)
			}
			if err != nil {
				m.WriteError(c.Response(), r, err)
				return nil
			}
			if _, ok := authn.FromContext(r.Context()); !ok {
				c.SetRequest(r.WithContext(authn.NewContext(r.Context(), p)))
			}
			return next(c)
		}
	}
}

func mustAuthn(m *authn.Middleware, name string) {
	if m == nil {
		panic("echoadapter: " + name + " of a nil *authn.Middleware")
	}
	_ = m.Identify(http.NotFoundHandler()) // panics unless m was made by authn.New
}
