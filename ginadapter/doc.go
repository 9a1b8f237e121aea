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
// # Other middleware
//
// Every Backstop middleware is a func(http.Handler) http.Handler (its
// Handler method). Those this package does not name yet run through
// [Wrap] with the same guarantees: ginadapter.Wrap(mw.Handler). Handlers
// (health's probes) mount with gin.WrapH.
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
