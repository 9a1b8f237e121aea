package ginadapter

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/authn"
)

// Authenticate returns m's Handler as gin middleware: a request with a
// valid token continues with its *authn.Principal in the context of
// c.Request (read it with [Value] and authn.FromContext); any other is
// answered as authn.Middleware.Handler answers it (401 with
// WWW-Authenticate, 400, 403, 503: RFC 9457 problems written by m's
// Options.ErrorHandler), and the chain is aborted. Under
// Options.Anonymous a request without credentials continues with no
// Principal. It panics if m was not made by authn.New.
//
//	r.GET("/orders", ginadapter.Authenticate(auth), listOrders)
func Authenticate(m *authn.Middleware) gin.HandlerFunc {
	mustAuthn(m, "Authenticate")
	return func(c *gin.Context) {
		r := c.Request
		p, err := m.Authenticate(r)
		if err != nil {
			refuse(c, m, err)
			return
		}
		if p != nil {
			c.Request = r.WithContext(authn.NewContext(r.Context(), p))
		}
	}
}

// Identify returns m's Identify as gin middleware: it never refuses. A
// request with a valid token continues with its *authn.Principal in the
// context of c.Request, any other without one, its failure remembered
// for a later [Require] or [RequireScopes]. Use it when something must
// run between reading the token and refusing the request, such as a rate
// limiter keyed by the principal:
//
//	v1 := r.Group("/v1", ginadapter.Identify(auth), ginadapter.RateLimit(limit))
//	v1.POST("/orders", ginadapter.RequireScopes(auth, "orders:write"), createOrder)
//
// It panics if m was not made by authn.New.
func Identify(m *authn.Middleware) gin.HandlerFunc {
	mustAuthn(m, "Identify")
	// authn keeps an Identify failure in the context under a key of its
	// own, which only its Identify sets.
	return Wrap(m.Identify)
}

// Require returns m's Require as gin middleware: the chain continues only
// for an authenticated request, with its *authn.Principal in the context
// of c.Request; it authenticates the request itself unless an earlier
// [Identify] or [Authenticate] did. Other requests are answered as
// authn.Middleware.Require answers them (a request without credentials is
// a 401 with WWW-Authenticate: Bearer, whatever Options.Anonymous says),
// and the chain is aborted. It panics if m was not made by authn.New.
//
//	r.POST("/orders", ginadapter.Require(auth), createOrder)
func Require(m *authn.Middleware) gin.HandlerFunc {
	mustAuthn(m, "Require")
	return RequireScopes(m)
}

// RequireScopes returns m's RequireScopes(scopes...) as gin middleware: as
// [Require], and a Principal that lacks one of scopes is answered 403 with
// WWW-Authenticate: Bearer error="insufficient_scope", scope="<scopes>"
// (an RFC 9457 problem of type authn.ErrInsufficientScope), and the chain
// is aborted. It panics as m.RequireScopes does: if m was not made by
// authn.New, or a scope is empty or holds a space, a quote or a
// backslash.
//
//	r.POST("/orders", ginadapter.RequireScopes(auth, "orders:write"), createOrder)
func RequireScopes(m *authn.Middleware, scopes ...string) gin.HandlerFunc {
	mustAuthn(m, "RequireScopes")
	_ = m.RequireScopes(scopes...) // its checks of m and of the scopes
	scopes = append([]string(nil), scopes...)
	return func(c *gin.Context) {
		r := c.Request
		p, err := m.Required(r)
		if err == nil && len(scopes) > 0 {
			err = m.CheckScopes(r, p, scopes...)
		}
		if err != nil {
			refuse(c, m, err)
			return
		}
		if _, ok := authn.FromContext(r.Context()); !ok {
			c.Request = r.WithContext(authn.NewContext(r.Context(), p))
		}
	}
}

// refuse answers with err as m's net/http middleware does, and aborts the
// chain.
func refuse(c *gin.Context, m *authn.Middleware, err error) {
	c.Abort()
	m.WriteError(c.Writer, c.Request, err)
}

func mustAuthn(m *authn.Middleware, name string) {
	if m == nil {
		panic("ginadapter: " + name + " of a nil *authn.Middleware")
	}
	_ = m.Identify(http.NotFoundHandler()) // panics unless m was made by authn.New
}
