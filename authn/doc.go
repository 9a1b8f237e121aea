// Package authn authenticates HTTP requests with JWT bearer tokens, safely
// by default; its subpackage password hashes passwords with Argon2id.
//
//	jwks, err := authn.NewJWKS("https://id.example.com/.well-known/jwks.json", authn.JWKSOptions{})
//	v, err := authn.NewVerifier(authn.VerifierConfig{
//		Issuer:     "https://id.example.com/",
//		Audience:   []string{"orders-api"},
//		Algorithms: []string{"RS256"},
//		JWKS:       jwks,
//	})
//	auth, err := authn.New(v, authn.Options{})
//	mux.Handle("GET /orders", auth.Handler(http.HandlerFunc(listOrders)))
//	mux.Handle("POST /orders", auth.Handler(auth.RequireScopes("orders:write")(http.HandlerFunc(createOrder))))
//
//	func listOrders(w http.ResponseWriter, r *http.Request) {
//		p, _ := authn.FromContext(r.Context()) // p.Issuer, p.Subject, p.Scope, p.Claims(&mine)
//		...
//	}
//
// # What a token must pass
//
// A [Verifier] is built on github.com/golang-jwt/jwt/v5 with every check
// that library leaves optional made mandatory (RFC 8725):
//   - an algorithm allow-list, and each key pinned to one algorithm (JWKS
//     keys: their alg, or their type's algorithms): "none" and HMAC/RSA key
//     confusion cannot verify;
//   - iss equal to the Issuer, aud naming one of the Audience, exp present
//     and in the future, nbf and iat not in the future, all within a leeway
//     of at most 60 s;
//   - optionally a typ in an allow-list (RFC 8725 §3.11: "at+jwt" for
//     RFC 9068 access tokens);
//   - a size cap (8 KiB by default) before any parsing; a crit header is
//     refused, as this package understands no extension;
//   - keys only from the configuration: static [Key]s by kid and/or a
//     [JWKS] URL, never a URL or key taken from the token (jku, x5u, jwk,
//     x5c).
//
// # JWKS
//
// [JWKS] fetches and caches a key set: no network I/O at construction,
// lock-free lookups, a background refresh after RefreshInterval, a refresh
// on an unknown kid at most once per MinRefreshInterval (single-flight;
// the request waits at most UnknownKeyWait, 1 s), HTTP timeouts, a body
// cap, no redirects, and the last good keys kept when a fetch fails. It is
// this package's own code rather than MicahParks/keyfunc + jwkset: see
// the README for the measured and reasoned comparison.
//
// # The middleware
//
// [Middleware.Handler] reads the token from "Authorization: Bearer" (and,
// with Options.Cookie, from an HttpOnly cookie, with a cross-origin check
// against CSRF; never from the query string), and answers failures with an
// RFC 9457 problem plus the RFC 6750 challenge: 401 with a bare "Bearer"
// challenge when credentials are missing, 401 error="invalid_token" when
// the token is invalid, 400 error="invalid_request" for malformed
// credentials, 403 error="insufficient_scope" from RequireScopes. With
// Options.Anonymous, requests without credentials pass with no principal.
//
// To run something between reading the token and refusing the request
// (a rate limiter keyed by the principal, or by client IP for anonymous
// callers), use [Middleware.Identify], which never refuses, and
// [Middleware.Require] later:
//
//	auth.Identify(limiter.Handler(auth.Require(app)))
//
// Router adapters call [Middleware.Authenticate], [Middleware.Required]
// and [Middleware.CheckScopes], which return the principal or the problem
// to answer with, and answer with [Middleware.WriteError].
//
// A service that accepts tokens from more than one issuer (its own, and an
// identity provider's) combines one Verifier per issuer with
// [NewVerifierSet], which hands each token to the Verifier of its iss claim.
//
// A [Principal]'s identity is the pair (Issuer, Subject): key per-caller
// state by both. Store and read it with [NewContext] and [FromContext].
//
// # Issuing tokens
//
// [Signer] issues tokens for services that are their own issuer (Ed25519
// by default; kid, iat, exp, jti), [NewJWKSHandler] publishes its public
// keys, and [NewCookie] makes the HttpOnly, Secure, SameSite=Lax cookie
// for browser sessions.
//
// # Errors
//
// Answers are problem types (ErrUnauthenticated, ErrInvalidToken,
// ErrInvalidRequest, ErrInsufficientScope, ErrCrossOrigin, ErrUnavailable)
// whose type URI is their pkg.go.dev link; [Verifier.Verify] returns
// errors.New sentinels (ErrTokenExpired, ErrSignature, ErrUnknownKey, ...)
// for errors.Is. No answer, error or log quotes a token.
//
// Importing authn/password does not compile this package's JWT code, and
// neither package compiles go-redis.
package authn
