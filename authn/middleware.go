package authn

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/problem"
)

// Options configure a [Middleware]. The zero value of every field is its
// documented default: bearer tokens from the Authorization header only,
// credentials required.
type Options struct {
	// Anonymous lets requests without credentials through [Middleware.Handler]
	// with no Principal in their context. Requests with invalid credentials
	// are still refused: a bad token is not anonymous.
	Anonymous bool

	// Cookie names a cookie that may carry the token, for browser clients
	// (set it with [NewCookie]: HttpOnly, Secure, SameSite=Lax). The
	// Authorization header is still read; a request carrying both with
	// different tokens is refused (400). Default "": cookies are not read.
	//
	// CSRF: browsers attach cookies to cross-site requests, so a request
	// authenticated by the cookie whose method is not GET, HEAD or OPTIONS
	// must pass CrossOrigin (Sec-Fetch-Site / Origin checks) or is refused
	// with 403 ErrCrossOrigin. SameSite=Lax already keeps the cookie off
	// cross-site POSTs in current browsers; the check covers the rest
	// (same-site subdomains, older browsers). Tokens are never read from the
	// query string (RFC 6750 §2.3: URLs are logged).
	Cookie string
	// CrossOrigin checks cookie-authenticated requests. Default
	// http.NewCrossOriginProtection() (trust no other origin).
	CrossOrigin *http.CrossOriginProtection
	// CookieSafeMethodsOnly makes the cookie a credential for GET, HEAD and
	// OPTIONS requests only, the strictest CSRF stance: on any other method
	// the cookie is not read at all, so a request carrying only the cookie
	// has no credentials (401) and CrossOrigin is never consulted. Browser
	// code that writes must then send the token in the Authorization
	// header. Default false: the cookie is read for every method, guarded by
	// CrossOrigin.
	CookieSafeMethodsOnly bool

	// Realm, when set, is sent as realm="..." in every challenge.
	Realm string

	// ErrorHandler writes the 400, 401, 403 and 503 answers. Its error is a
	// *problem.Problem of one of this package's problem types, with the
	// WWW-Authenticate challenge in its Header. Default: problem.Write's
	// format, logging nothing (a flood of bad tokens must not flood the
	// logs).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// MeterProvider provides the decision counter. Default the
	// OpenTelemetry global provider (a no-op until an SDK is installed).
	MeterProvider metric.MeterProvider
}

// Middleware authenticates HTTP requests with a [Verifier]. Create it with
// [New]; the zero value is not usable (its methods panic). It is safe for
// concurrent use.
type Middleware struct {
	v      *Verifier
	opts   Options
	realm  string // `realm="..."` or ""
	bare   string // the challenge without an error
	prefix string // the start of challenges with an error: `Bearer realm="x", ` or `Bearer `

	counter     metric.Int64Counter
	results     [numResults][]metric.AddOption
	spanResults [numResults][]attribute.KeyValue // backstop.authn.result, for the span
}

type result int

const (
	authenticated result = iota
	anonymous
	missing
	invalid
	forbidden
	unavailable
	numResults
)

var resultNames = [numResults]string{"authenticated", "anonymous", "missing", "invalid", "forbidden", "unavailable"}

// quietProblems writes the answers without logging them.
var quietProblems = problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})

// New returns a Middleware that verifies tokens with v. It panics when v is
// nil, and fails when Options.Realm or Options.Cookie cannot be sent in a
// header.
func New(v *Verifier, opts Options) (*Middleware, error) {
	if v == nil {
		panic("authn: New needs a Verifier")
	}
	if strings.ContainsAny(opts.Realm, "\"\\\r\n") {
		return nil, errors.New("authn: Options.Realm must not contain quotes, backslashes or line breaks")
	}
	if opts.Cookie != "" && !validCookieName(opts.Cookie) {
		return nil, errors.New("authn: Options.Cookie is not a valid cookie name")
	}
	if opts.CrossOrigin == nil {
		opts.CrossOrigin = http.NewCrossOriginProtection()
	}
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = quietProblems.Write
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	m := &Middleware{v: v, opts: opts, bare: "Bearer", prefix: "Bearer "}
	if opts.Realm != "" {
		m.realm = `realm="` + opts.Realm + `"`
		m.bare = "Bearer " + m.realm
		m.prefix = "Bearer " + m.realm + ", "
	}
	c, err := opts.MeterProvider.Meter("github.com/backstop-go/backstop/authn").Int64Counter("backstop.authn.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Authentication decisions by result (authenticated, anonymous, missing, invalid, forbidden, unavailable)."))
	if err != nil {
		return nil, err
	}
	m.counter = c
	for i, name := range resultNames {
		kv := attribute.String("backstop.authn.result", name)
		m.results[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv))}
		m.spanResults[i] = []attribute.KeyValue{kv}
	}
	return m, nil
}

func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return name != ""
}

// Handler returns next wrapped in authentication.
//
// A request with a valid token reaches next with its [Principal] in the
// context ([FromContext]). Otherwise next is not called and
// Options.ErrorHandler answers:
//   - no credentials: 401 ErrUnauthenticated, WWW-Authenticate: Bearer
//     (with realm when set), or next without a Principal under
//     Options.Anonymous;
//   - an invalid token: 401 ErrInvalidToken, WWW-Authenticate: Bearer
//     error="invalid_token", error_description="<fixed sentence>";
//   - malformed credentials: 400 ErrInvalidRequest, error="invalid_request";
//   - a cookie-authenticated cross-origin unsafe request: 403 ErrCrossOrigin;
//   - keys unavailable (JWKS unreachable, none cached): 503 ErrUnavailable,
//     Retry-After: 5.
//
// The ResponseWriter is passed to next unwrapped, so every optional
// interface (http.Flusher, http.Hijacker, Unwrap for
// http.ResponseController) survives.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	m.mustBeConstructed()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := m.Authenticate(r)
		if err != nil {
			m.opts.ErrorHandler(w, r, err)
			return
		}
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// Authenticate is Handler's decision, for router adapters: the request's
// Principal; or nil and nil for a request without credentials under
// Options.Anonymous; or nil and a *problem.Problem to answer with (see
// Handler). It records the decision in the metric and on the span.
func (m *Middleware) Authenticate(r *http.Request) (*Principal, error) {
	p, err := m.authenticate(r)
	if err == errMissingCredential && m.opts.Anonymous {
		m.record(r.Context(), anonymous, nil)
		return nil, nil
	}
	if err != nil {
		return nil, m.fail(r.Context(), err)
	}
	m.record(r.Context(), authenticated, nil)
	return p, nil
}

// failureKey marks a request that Identify could not authenticate.
type failureKey struct{}

// Identify returns next wrapped in authentication that never refuses: a
// request with a valid token gets its Principal in the context, any other
// continues without one, its failure remembered for a later [Middleware.Require]
// (or RequireScopes). Use it when something must run between reading the
// token and refusing the request, such as a rate limiter keyed by the
// principal when there is one and by client IP otherwise:
//
//	handler := authn.Identify(limiter.Handler(authn.Require(app)))
//
// Identify itself writes nothing. It records an authenticated request in
// the metric and on the span; a failure is recorded where it is refused.
func (m *Middleware) Identify(next http.Handler) http.Handler {
	m.mustBeConstructed()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := m.authenticate(r)
		ctx := r.Context()
		if err != nil {
			// Recorded where it is refused (Require): a request that
			// never gets there was not refused.
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, failureKey{}, err)))
			return
		}
		// Require takes the Principal from the context without recording
		// it again, so the decision is counted here.
		m.record(ctx, authenticated, nil)
		next.ServeHTTP(w, r.WithContext(NewContext(ctx, p)))
	})
}

// Require returns next wrapped in a check that the request is
// authenticated: by the Principal an earlier Identify (or Handler, or
// NewContext) stored, else by the failure Identify remembered, else by
// authenticating the request itself. It answers as Handler does, except
// that Options.Anonymous does not apply: a request without credentials is
// always a 401.
func (m *Middleware) Require(next http.Handler) http.Handler {
	m.mustBeConstructed()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := m.Required(r)
		if err != nil {
			m.opts.ErrorHandler(w, r, err)
			return
		}
		if _, ok := FromContext(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// Required is Require's decision, for router adapters: the Principal, or
// a *problem.Problem to answer with.
func (m *Middleware) Required(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if p, ok := FromContext(ctx); ok {
		return p, nil
	}
	if err, ok := ctx.Value(failureKey{}).(error); ok {
		return nil, m.fail(ctx, err)
	}
	p, err := m.authenticate(r)
	if err != nil {
		return nil, m.fail(ctx, err)
	}
	m.record(ctx, authenticated, nil)
	return p, nil
}

// RequireScopes returns middleware that lets a request through only when
// its Principal has every scope listed; it authenticates first as Require
// does. A Principal that lacks one gets 403 ErrInsufficientScope with
// WWW-Authenticate: Bearer error="insufficient_scope", scope="<scopes>".
func (m *Middleware) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	m.mustBeConstructed()
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			panic("authn: RequireScopes: scope " + strconv.Quote(s) + " is empty or holds a space, quote or backslash")
		}
	}
	scopes = append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := m.Required(r)
			if err == nil {
				err = m.CheckScopes(r, p, scopes...)
			}
			if err != nil {
				m.opts.ErrorHandler(w, r, err)
				return
			}
			if _, ok := FromContext(r.Context()); ok {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
		})
	}
}

// CheckScopes is RequireScopes' decision, for router adapters: nil when p
// has every scope, else a 403 *problem.Problem.
func (m *Middleware) CheckScopes(r *http.Request, p *Principal, scopes ...string) error {
	for _, s := range scopes {
		if !p.HasScope(s) {
			m.record(r.Context(), forbidden, nil)
			return ErrInsufficientScope.New("The access token does not grant the scope this request needs.").
				With("error", "insufficient_scope").
				WithHeader("WWW-Authenticate", m.prefix+`error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
		}
	}
	return nil
}

// WriteError answers r with err, an error of [Middleware.Authenticate],
// [Middleware.Required] or [Middleware.CheckScopes], through
// Options.ErrorHandler, as Handler, Require and RequireScopes answer: for
// router adapters, whose refusals must read as the net/http middleware's.
// It panics if m was not made by [New].
func (m *Middleware) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	m.mustBeConstructed()
	m.opts.ErrorHandler(w, r, err)
}

func (m *Middleware) mustBeConstructed() {
	if m == nil || m.v == nil {
		panic("authn: Middleware used without New")
	}
}

// authenticate reads and verifies the request's credentials. Its errors
// are errMissingCredential, the Verifier's sentinels, or problems for
// malformed requests.
func (m *Middleware) authenticate(r *http.Request) (*Principal, error) {
	token, fromCookie, err := m.credentials(r)
	if err != nil {
		return nil, err
	}
	if fromCookie {
		if err := m.opts.CrossOrigin.Check(r); err != nil {
			return nil, errCrossOrigin
		}
	}
	return m.v.Verify(r.Context(), token)
}

var (
	errMalformedHeader = errors.New("authn: malformed Authorization header")
	errTwoTokens       = errors.New("authn: header and cookie carry different tokens")
	errCrossOrigin     = errors.New("authn: cross-origin request authenticated by cookie")
)

// credentials returns the bearer token of r, and whether it came from the
// cookie.
func (m *Middleware) credentials(r *http.Request) (string, bool, error) {
	var header string
	switch values := r.Header["Authorization"]; len(values) {
	case 0:
	case 1:
		scheme, token, _ := strings.Cut(values[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			break // another scheme: no bearer credentials
		}
		if token == "" || strings.IndexByte(token, ' ') >= 0 {
			return "", false, errMalformedHeader
		}
		header = token
	default:
		return "", false, errMalformedHeader
	}
	if m.opts.Cookie == "" || (m.opts.CookieSafeMethodsOnly && !safeMethod(r.Method)) {
		if header == "" {
			return "", false, errMissingCredential
		}
		return header, false, nil
	}
	var cookie string
	for _, c := range r.CookiesNamed(m.opts.Cookie) {
		if cookie != "" && c.Value != cookie {
			return "", false, errTwoTokens
		}
		cookie = c.Value
	}
	switch {
	case header != "" && cookie != "" && header != cookie:
		return "", false, errTwoTokens
	case header != "":
		return header, false, nil
	case cookie != "":
		return cookie, true, nil
	}
	return "", false, errMissingCredential
}

// fail turns an authentication error into the problem to answer with, and
// records it.
func (m *Middleware) fail(ctx context.Context, err error) error {
	switch err {
	case errMissingCredential:
		m.record(ctx, missing, nil)
		return ErrUnauthenticated.New("This request needs a bearer token.").
			WithHeader("WWW-Authenticate", m.bare)
	case errMalformedHeader, errTwoTokens:
		m.record(ctx, invalid, err)
		return ErrInvalidRequest.New("The request's credentials are malformed.").
			With("error", "invalid_request").
			WithHeader("WWW-Authenticate", m.prefix+`error="invalid_request"`)
	case errCrossOrigin:
		m.record(ctx, forbidden, err)
		return ErrCrossOrigin.New("A cross-origin request cannot be authenticated by cookie.")
	case ErrKeysUnavailable:
		m.record(ctx, unavailable, err)
		return ErrUnavailable.New("The keys to verify the access token cannot be fetched; retry shortly.").
			WithHeader("Retry-After", "5").WithCause(err)
	}
	m.record(ctx, invalid, err)
	desc := descriptions[err]
	if desc == "" {
		desc = "The access token is invalid."
	}
	return ErrInvalidToken.New(desc).
		With("error", "invalid_token").
		WithHeader("WWW-Authenticate", m.prefix+`error="invalid_token", error_description="`+desc+`"`).
		WithCause(err)
}

// record counts a decision and marks the span. reason is one of this
// package's sentinels: bounded cardinality, nothing from the request.
func (m *Middleware) record(ctx context.Context, res result, reason error) {
	m.counter.Add(ctx, 1, m.results[res]...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		if reason == nil {
			span.SetAttributes(m.spanResults[res]...)
			return
		}
		span.SetAttributes(m.spanResults[res][0], attribute.String("backstop.authn.reason", reason.Error()))
	}
}

// safeMethod reports whether method is one a browser may send cross-site
// without the page's consent having any effect (RFC 9110 §9.2.1).
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
