// Package client is the calling side of Backstop's server contracts: an
// http.RoundTripper that retries safely, with Idempotency-Keys, backoff,
// Retry-After and RateLimit, within a retry budget, and a way to read the
// RFC 9457 problems a service answers with as Go errors.
//
//	c := client.NewClient(client.Options{})
//	resp, err := c.Post(url, "application/json", bytes.NewReader(order))
//	if err != nil {
//		return err // no response, even after retries
//	}
//	defer resp.Body.Close()
//	if err := client.Error(resp); err != nil {
//		if errors.Is(err, idempotency.ErrKeyReused) { ... } // the server's own problem.Type
//		return err
//	}
//
// Or wrap a transport of your own: &http.Client{Transport: client.New(base, client.Options{})}.
//
// # Idempotency keys
//
// A request whose method is in Options.KeyMethods (POST and PATCH by
// default) and that has no Idempotency-Key header gets one: 128 random bits
// (from ChaCha8 generators seeded by crypto/rand), sent as a quoted string
// (draft-ietf-httpapi-idempotency-key-header-07). The same key goes with
// every attempt of that request, so a server running package idempotency
// executes it at most once and answers a retry with the first response. A
// key the caller set is kept. [NewContext] with RequestOptions.NoKey turns
// the key off for one request, as does a header entry without values
// (req.Header["Idempotency-Key"] = nil, net/http's way to suppress a
// header) or with blank ones (which package idempotency takes for no key):
// such a request carries no key, so an unsafe one is sent once.
// A request with an empty Method is a GET, as net/http sends it. The
// caller's request is never modified:
// the key is added to a copy of its header, and the response's Request (the
// last attempt's) shows the key that was sent. Each hop of a redirect is a
// request of its own, made by http.Client, and gets a key of its own.
//
// # What is retried
//
// A request is retried only when running it twice is harmless: its method
// is GET, HEAD, OPTIONS, PUT or DELETE, or it carries an Idempotency-Key.
// Any other request (a POST without a key) is sent once, whatever happens.
//
// It is retried after an error before any response (a refused or dropped
// connection), and after these responses:
//
//	408 Request Timeout
//	409 Conflict, only when the problem type is the in-flight problem of
//	    package idempotency (InFlightType): the first request with this
//	    key is still running. Any other 409 is final.
//	425 Too Early
//	429 Too Many Requests
//	502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout
//
// Never after 422 (with package idempotency: the key was used for another
// request, a bug to fix, not to retry), 500 (the request may have run) or
// any other status. A request is tried at most Options.MaxAttempts times
// (3), and a cancelled context ends it at once.
//
// A body is replayed on retries through Request.GetBody, which
// http.NewRequest sets for *bytes.Buffer, *bytes.Reader and *strings.Reader
// bodies. A request whose body can be read only once is sent once; if that
// attempt fails without a response, the error wraps [ErrBodyNotReplayable].
// The body of each response that is retried is drained (up to 64 KiB) and
// closed, so that its connection is reused.
//
// # Waits
//
// Before a retry the Transport waits for what the server asked: the
// Retry-After field (delay-seconds, or an HTTP-date measured against the
// response's Date), or else the t parameter of an exhausted policy (r=0)
// of the RateLimit field (draft-ietf-httpapi-ratelimit-headers-11). When
// the server says nothing, it waits a random time in [0, min(MaxDelay,
// BaseDelay·2^n)] before resend n+1 (exponential backoff with full
// jitter). A wait longer than Options.MaxWait, or one that would end after
// the context's deadline, is not waited at all: the retries end at once
// with the last response (or an error wrapping [ErrWaitTooLong]).
//
// With Options.WaitForQuota, a request to a host whose last RateLimit
// field said a policy had no quota left first waits until that policy's t.
//
// # Retry budget
//
// Retries to each host (host:port: the host name in any case, the port
// explicit or the scheme's default) are limited by a budget
// ([Budget]): every request deposits 0.1 retry, every retry takes one, up
// to a reserve of 10. A failing host thus gets at most 10 % more requests
// (plus a burst of 10) than it would without retries, as with gRPC's retry
// throttling and Envoy's retry budgets, instead of three times as many.
//
// # Errors
//
// RoundTrip returns an error only when no attempt got a response, as
// http.RoundTripper requires; any status is a response. [Error] turns a
// response of status 400 or more into a *[StatusError] that carries the
// parsed problem, so that errors.Is matches the server's [problem.Type]
// values and problem.From returns the problem. When retries stopped
// because of a rule, the error wraps the last attempt's error and one of
// ErrBodyNotReplayable, ErrAttemptsExhausted, ErrWaitTooLong and
// ErrBudgetExhausted.
//
// # Observability
//
// Each request gets one span, of kind internal, named "backstop.client"
// and the method, through the OpenTelemetry API only
// (Options.TracerProvider, by default the global one). It carries the semantic
// conventions' http.request.method (and http.request.method_original for
// a method they do not know), server.address, server.port, url.full
// (without credentials: user info and the values of signed URLs'
// X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, sig and
// X-Goog-Signature parameters are REDACTED), http.response.status_code,
// error.type, and, when the request was resent,
// http.request.resend_count. A failed request's span has status Error
// without a description: the error's text is not recorded. Each attempt is an
// event "attempt" with its http.request.resend_count (from the first
// resend on), its status or error.type, the decision
// (backstop.client.decision: done, retry, or why retries stopped:
// body_not_replayable, attempts_exhausted, wait_too_long, budget_exhausted)
// and the wait before the next attempt in seconds (backstop.client.wait).
// For a span per attempt, as the semantic conventions prefer, and for
// trace context propagation, wrap the underlying transport with
// otelhttp.NewTransport: its spans become children of this one.
//
// Each retry is also logged at debug level to Options.Logger, with the
// method, host, attempt, status or error, and wait; never the key, the URL
// or a body.
//
// While no OpenTelemetry SDK is installed (and Options.TracerProvider is
// nil), or when Options.TracerProvider is one of package
// go.opentelemetry.io/otel/trace/noop, no span is started: a request that
// succeeds at once then costs no allocation beyond the inner transport's
// if it is a GET, and three (the copy of the request and its header, with
// the key) if it gets a key.
package client
