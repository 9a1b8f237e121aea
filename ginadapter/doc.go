// Package ginadapter runs Backstop's net/http middleware in gin the way gin
// users write handlers: handlers that write to c.Writer, errors pushed to
// c.Errors, c.AbortWithStatus, gin's own 404 and 405, gin.Recovery.
//
//	r := gin.New()
//	r.HandleMethodNotAllowed = true
//	r.Use(ginadapter.Problems(nil), gin.Recovery()) // errors and aborted statuses as RFC 9457 problems
//	r.POST("/orders",
//		ginadapter.RateLimit(limit),  // *ratelimit.Middleware
//		ginadapter.Idempotency(idem), // *idempotency.Middleware
//		createOrder)
//
// # Why not the usual five-line adapter
//
// The common way to run net/http middleware in gin (call it with a next
// handler that sets c.Request and calls c.Next) breaks idempotency: the
// handler writes to c.Writer, gin's own writer, which bypasses the
// ResponseWriter the middleware passed on. The middleware records an empty
// 200 while the client got 201 and a body, and every retry gets that empty
// 200 back; a rejection does not abort the chain either. [Wrap] (which
// [Idempotency] and [RateLimit] use) makes c.Writer write through the
// middleware's writer for the rest of the chain, aborts the chain when the
// middleware answers itself, and renders errors inside the middleware.
//
// # Errors
//
// gin renders no errors: c.AbortWithError writes a bare status and leaves
// the error in c.Errors. [Problems] writes them as problems instead:
// *problem.Problem values as they are, other errors with the aborted status
// (their text only for gin.ErrorTypePublic errors), bare error statuses
// (c.AbortWithStatus, gin.Recovery's 500, gin's 404 and 405 with Allow) as
// problems of that status.
//
// # Context values
//
// Backstop middleware passes values to handlers in the request's context.
// [Value] reads them from a gin.Context:
//
//	exec, ok := ginadapter.Value(c, idempotency.FromContext)
//
// # authn
//
// [Authenticate], [Identify], [Require] and [RequireScopes] are the forms
// of authn.Middleware's methods of the same names. A refusal is the
// problem the net/http middleware writes (401 with WWW-Authenticate, 403
// insufficient_scope, ...), and the chain is aborted; the principal is in
// the context of c.Request:
//
//	v1 := r.Group("/v1", ginadapter.Identify(auth), ginadapter.RateLimit(limit))
//	v1.POST("/orders", ginadapter.RequireScopes(auth, "orders:write"), createOrder)
//	p, ok := ginadapter.Value(c, authn.FromContext)
//
// # health
//
// [Handler] mounts an http.Handler with gin's path parameters as its
// request's path values, so that health's probes answer for the check
// named in the path:
//
//	r.GET("/readyz/:name", ginadapter.Handler(reg.Handler(health.Ready)))
//
// # otelx
//
// The module github.com/backstop-go/backstop/ginadapter/otelxgin gives
// otelx's middleware as gin middleware, spans named by gin's route
// template; it is a module of its own so that otelx's SDK and exporters
// stay out of this one. [Pattern] names the route for net/http middleware
// wrapped around the Engine instead.
//
// # Other middleware
//
// Every Backstop middleware is a func(http.Handler) http.Handler (its
// Handler method), and so is much middleware outside Backstop: [Wrap]
// runs any of them with the same guarantees as the named forms.
//
// Everything this package returns is safe for concurrent use.
//
// # Limits
//
// A wrapped middleware must call its next handler at most once, on the
// request's goroutine. [Problems] passes its settings to the Wrap scopes
// inside it through c.Writer: a middleware between them that replaces
// c.Writer with a writer of its own (a gzip writer) hides them, and
// errors are then rendered after the idempotency middleware has recorded
// the bare status.
package ginadapter
