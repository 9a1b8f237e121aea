// Package echoadapter runs Backstop's net/http middleware in echo (v4) the
// way echo users write handlers: handlers that return errors, echo's own
// 404 and 405, echo's Recover middleware.
//
//	e := echo.New()
//	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil) // every error an RFC 9457 problem
//	e.Use(middleware.Recover())
//	e.POST("/orders", createOrder,
//		echoadapter.RateLimit(limit),     // *ratelimit.Middleware
//		echoadapter.Idempotency(idem))    // *idempotency.Middleware
//
// # Why not echo.WrapMiddleware
//
// echo.WrapMiddleware(idem.Handler) looks right and is wrong: echo renders
// an error a handler returns only after every middleware has returned, so
// the idempotency middleware records an empty 200 while the client gets
// the error, every retry gets that empty 200 back, and a 5xx never
// releases its key. [Wrap] (which [Idempotency] and [RateLimit] use)
// renders the error with the Echo's HTTPErrorHandler inside the middleware,
// so it records exactly what the client receives.
//
// # Errors
//
// [ErrorHandler] writes problems for every error that reaches echo's error
// handler: *problem.Problem values as they are, *echo.HTTPError with its
// status (404 and 405 stay 404 and 405, the latter with its Allow header),
// anything else as a generic 500 whose cause is logged.
//
// # Context values
//
// Backstop middleware passes values to handlers in the request's context.
// [Value] reads them from an echo.Context:
//
//	exec, ok := echoadapter.Value(c, idempotency.FromContext)
//
// # authn
//
// [Authenticate], [Identify], [Require] and [RequireScopes] are the forms
// of authn.Middleware's methods of the same names. A refusal is the
// problem the net/http middleware writes (401 with WWW-Authenticate, 403
// insufficient_scope, ...), and the rest of the chain does not run; the
// principal is in the request's context:
//
//	v1 := e.Group("/v1", echoadapter.Identify(auth), echoadapter.RateLimit(limit))
//	v1.POST("/orders", createOrder, echoadapter.RequireScopes(auth, "orders:write"))
//	p, ok := echoadapter.Value(c, authn.FromContext)
//
// # health
//
// [Handler] mounts an http.Handler with echo's path parameters as its
// request's path values, so that health's probes answer for the check
// named in the path:
//
//	e.GET("/readyz/:name", echoadapter.Handler(reg.Handler(health.Ready)))
//
// # otelx
//
// The module github.com/backstop-go/backstop/echoadapter/otelxecho gives
// otelx's middleware as echo middleware, spans named by echo's route
// template; it is a module of its own so that otelx's SDK and exporters
// stay out of this one. [Pattern] names the route for net/http middleware
// wrapped around the Echo instead.
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
// echo applies middleware given to e.Use on every request, which costs one
// allocation per middleware; route and group middleware is composed once.
// A wrapped middleware must call its next handler at most once, on the
// request's goroutine.
package echoadapter
