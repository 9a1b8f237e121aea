package echoadapter

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/ratelimit"
)

// RateLimit returns m as echo middleware. It answers 429 and 503 itself,
// as problems written by m's Options.ErrorHandler, without calling the
// rest of the chain. It panics if m is nil.
//
//	e.POST("/orders", createOrder, echoadapter.RateLimit(limit))
func RateLimit(m *ratelimit.Middleware) echo.MiddlewareFunc {
	if m == nil {
		panic("echoadapter: RateLimit of a nil *ratelimit.Middleware")
	}
	return Wrap(m.Handler)
}

// Idempotency returns m as echo middleware. The response it records for
// replay is the one the client receives, including an error the handler
// returns: that error is rendered by the Echo's HTTPErrorHandler inside
// m's scope (see [Wrap]), so a retry gets the same status and body, and a
// 5xx releases the key. It panics if m is nil.
//
//	e.POST("/orders", createOrder, echoadapter.Idempotency(idem))
func Idempotency(m *idempotency.Middleware) echo.MiddlewareFunc {
	if m == nil {
		panic("echoadapter: Idempotency of a nil *idempotency.Middleware")
	}
	return Wrap(m.Handler)
}

// Wrap returns a net/http middleware (a func(http.Handler) http.Handler,
// such as the Handler method of every Backstop middleware) as echo
// middleware in which the rest of the chain runs as the middleware's next
// handler, so that the middleware sees the response the client gets.
//
// Unlike echo.WrapMiddleware, an error returned by the rest of the chain is
// rendered inside the middleware, by calling c.Error (the Echo's
// HTTPErrorHandler), and then returned: echo's own error handling finds
// the response committed and writes nothing more, as it does after its
// Logger middleware. Inside the chain, c.Request() is the request the
// middleware passed on (with its context values) and c.Response() writes
// through the ResponseWriter it passed on; both are restored when the
// middleware returns, also when the chain panics. When the middleware
// answers without calling next (a rejection, a replay), the rest of the
// chain does not run and Wrap returns nil.
//
// The middleware must call next at most once, on the calling goroutine,
// and not keep it past the request: echo.Context is not safe for
// concurrent use and is reused by echo, so http.TimeoutHandler and the
// like cannot be wrapped. mw is called once for each scope Wrap keeps in a
// pool (a few per concurrently served request), not once in all, so it
// must not register anything global.
func Wrap(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	if mw == nil {
		panic("echoadapter: Wrap of a nil middleware")
	}
	// Scopes are pooled with their middleware handler built once: echo
	// composes middleware on every request, and a scope plus mw(scope) per
	// request would cost two allocations more than the middleware costs on
	// ServeMux. A scope whose chain panicked is not reused.
	pool := &sync.Pool{}
	pool.New = func() any {
		s := &scope{}
		s.h = mw(s)
		return s
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s := pool.Get().(*scope)
			s.c, s.next = c, next
			s.h.ServeHTTP(c.Response(), c.Request())
			err := s.err
			s.release()
			pool.Put(s)
			return err
		}
	}
}

// scope is the rest of an echo chain as the next handler of a net/http
// middleware, with the echo.Response the chain writes to.
type scope struct {
	h    http.Handler // the middleware, with this scope as next
	c    echo.Context
	next echo.HandlerFunc
	err  error
	res  echo.Response
}

// release readies a scope for the pool. It drops the chain's error and
// the writer the middleware passed on, which may hold the response; the
// rest is set anew by the next request. Writing a pointer field costs a GC
// write barrier while the collector marks, which a request that allocates
// as much as idempotency's makes frequent, so the scope is not zeroed
// whole, and fields already nil are not written: c and next are echo's.
func (s *scope) release() {
	if s.err != nil {
		s.err = nil
	}
	if s.res.Writer != nil {
		s.res.Writer = nil
	}
}

func (s *scope) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.c
	outerRes, outerReq := c.Response(), c.Request()
	defer func() {
		c.SetResponse(outerRes)
		c.SetRequest(outerReq)
	}()
	if w != http.ResponseWriter(outerRes) {
		// The middleware wrapped the writer (idempotency's recorder): the
		// chain must write through it. A fresh echo.Response keeps echo's
		// bookkeeping (Committed, Status, Size) for the chain, while the
		// outer one sees what the middleware passes on.
		newResponse(&s.res, c.Echo(), w)
		c.SetResponse(&s.res)
	}
	c.SetRequest(r)
	if err := s.next(c); err != nil {
		s.err = err
		c.Error(err)
	}
}

// responseTemplate is an empty echo.Response of one Echo. echo.Response
// has an unexported field (its Echo, for logging), so a Response can only
// be made by echo.NewResponse, which allocates; copying a template made by
// it costs nothing. Programs have one Echo as a rule, so one template is
// kept and replaced when another Echo serves a request.
type responseTemplate struct {
	e   *echo.Echo
	res *echo.Response
}

var template atomic.Pointer[responseTemplate]

// newResponse sets *dst to a new echo.Response of e writing to w.
func newResponse(dst *echo.Response, e *echo.Echo, w http.ResponseWriter) {
	t := template.Load()
	if t == nil || t.e != e {
		t = &responseTemplate{e: e, res: echo.NewResponse(nil, e)}
		template.Store(t)
	}
	*dst = *t.res
	dst.Writer = w
}

// Value reads a Backstop context value from the request of c with the
// package's FromContext function, for instance the claim a handler runs
// under:
//
//	exec, ok := echoadapter.Value(c, idempotency.FromContext)
//
// Backstop middleware passes its values on in the request's context, which
// echo keeps in c.Request(); the echo.Context's own store (c.Get) does not
// hold them.
func Value[T any](c echo.Context, fromContext func(context.Context) (T, bool)) (T, bool) {
	return fromContext(c.Request().Context())
}
