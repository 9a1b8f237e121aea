package ginadapter

import (
	"context"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/ratelimit"
)

// RateLimit returns m as gin middleware. It answers 429 and 503 itself, as
// problems written by m's Options.ErrorHandler, and aborts the chain. It
// panics if m is nil.
//
//	r.POST("/orders", ginadapter.RateLimit(limit), createOrder)
func RateLimit(m *ratelimit.Middleware) gin.HandlerFunc {
	if m == nil {
		panic("ginadapter: RateLimit of a nil *ratelimit.Middleware")
	}
	return Wrap(m.Handler)
}

// Idempotency returns m as gin middleware. The response it records for
// replay is the one the client receives: handlers write to c.Writer, which
// writes through m's recorder (see [Wrap]), and under [Problems] the
// problem for an error or an aborted status is rendered inside m, so a
// retry gets the same status and body and a 5xx releases the key. It
// panics if m is nil.
//
//	r.POST("/orders", ginadapter.Idempotency(idem), createOrder)
func Idempotency(m *idempotency.Middleware) gin.HandlerFunc {
	if m == nil {
		panic("ginadapter: Idempotency of a nil *idempotency.Middleware")
	}
	return Wrap(m.Handler)
}

// Wrap returns a net/http middleware (a func(http.Handler) http.Handler,
// such as the Handler method of every Backstop middleware) as gin
// middleware in which the rest of the chain runs as the middleware's next
// handler, so that the middleware sees the response the client gets.
//
// Inside the chain, c.Request is the request the middleware passed on
// (with its context values) and c.Writer writes through the
// ResponseWriter it passed on, with gin's semantics (c.Status only sets
// the status; it is written with the first byte of the body, by
// WriteHeaderNow, or when the chain ends); both are restored when the
// middleware returns, also when the chain panics. A status set without a
// body (c.Status(http.StatusNoContent)) is written before the middleware
// sees the chain end. Under [Problems], an error in c.Errors or an aborted
// status without a body becomes a problem at the same point. When the
// middleware answers without calling next (a rejection, a replay), the
// chain is aborted.
//
// The middleware must call next at most once, on the calling goroutine,
// and not keep it past the request: gin.Context is not safe for concurrent
// use and is reused by gin, so http.TimeoutHandler and the like cannot be
// wrapped. mw is called once for each scope Wrap keeps in a pool (a few per
// concurrently served request), not once in all, so it must not register
// anything global.
func Wrap(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	if mw == nil {
		panic("ginadapter: Wrap of a nil middleware")
	}
	// Scopes are pooled with their middleware handler built once, so that
	// the adapter allocates nothing per request. A scope whose chain
	// panicked is not reused.
	pool := &sync.Pool{}
	pool.New = func() any {
		s := &scope{}
		s.h = mw(s)
		return s
	}
	return func(c *gin.Context) {
		s := pool.Get().(*scope)
		s.c = c
		s.h.ServeHTTP(c.Writer, c.Request)
		if !s.ran {
			c.Abort()
		}
		s.release()
		pool.Put(s)
	}
}

// scope is the rest of a gin chain as the next handler of a net/http
// middleware, with the writer the chain writes to.
type scope struct {
	h   http.Handler // the middleware, with this scope as next; nil in Problems
	c   *gin.Context
	ran bool
	// problems and errs are the scope's own setting, that of Problems;
	// a Wrap scope takes the one of the scope it runs in, if any.
	problems bool
	errs     *problem.Writer
	w        scopeWriter
}

// release readies a scope for the pool. It drops the writer the
// middleware passed on, which may hold the response; the rest is set anew
// by the next request. Writing pointer fields costs a GC write barrier
// while the collector marks, which a request that allocates as much as
// idempotency's makes frequent, so the scope is not zeroed whole: c and
// the gin writer it keeps are gin's, pooled by gin itself.
func (s *scope) release() {
	s.ran = false
	s.w.w = nil
}

func (s *scope) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.c
	s.ran = true
	outerW, outerR := c.Writer, c.Request
	defer func() {
		c.Writer = outerW
		c.Request = outerR
	}()
	s.w.init(w, outerW, s.problems, s.errs, len(c.Errors))
	c.Writer = &s.w
	c.Request = r
	c.Next()
	s.w.finish(c)
}

// Value reads a Backstop context value from the request of c with the
// package's FromContext function, for instance the claim a handler runs
// under:
//
//	exec, ok := ginadapter.Value(c, idempotency.FromContext)
//
// Backstop middleware passes its values on in the request's context, which
// gin keeps in c.Request; c.Get does not hold them, and c.Value (gin's
// context.Context) reaches them only with Engine.ContextWithFallback.
func Value[T any](c *gin.Context, fromContext func(context.Context) (T, bool)) (T, bool) {
	return fromContext(c.Request.Context())
}
