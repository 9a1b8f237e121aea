package authn

import (
	"errors"
	"net/http"

	"github.com/backstop-go/backstop/problem"
)

// Problem types of the middleware's answers. Each occurrence carries the
// RFC 6750 WWW-Authenticate challenge in its Header (except ErrCrossOrigin
// and ErrUnavailable), and its detail is a fixed sentence: nothing from the
// token or the keys is echoed.
var (
	// ErrUnauthenticated: the request carries no bearer credentials. 401 with
	// a bare challenge (WWW-Authenticate: Bearer, plus realm when set), as
	// RFC 6750 §3.1 asks for requests that lack authentication.
	ErrUnauthenticated = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrUnauthenticated",
		Title:  "Authentication required",
		Status: http.StatusUnauthorized,
	}
	// ErrInvalidToken: the token is malformed, expired, not yet valid,
	// badly signed, signed by an unknown key, or for another issuer,
	// audience or type. 401 with WWW-Authenticate: Bearer
	// error="invalid_token".
	ErrInvalidToken = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrInvalidToken",
		Title:  "Invalid access token",
		Status: http.StatusUnauthorized,
	}
	// ErrInvalidRequest: the credentials are malformed as a request
	// (several Authorization fields, a Bearer field without a token, or a
	// header and a cookie holding different tokens). 400 with
	// WWW-Authenticate: Bearer error="invalid_request".
	ErrInvalidRequest = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrInvalidRequest",
		Title:  "Malformed credentials",
		Status: http.StatusBadRequest,
	}
	// ErrInsufficientScope: the token is valid but lacks a scope the route
	// requires. 403 with WWW-Authenticate: Bearer
	// error="insufficient_scope", scope="<the required scopes>".
	ErrInsufficientScope = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrInsufficientScope",
		Title:  "Insufficient scope",
		Status: http.StatusForbidden,
	}
	// ErrCrossOrigin: a state-changing request authenticated by cookie came
	// from another origin (see Options.Cookie). 403.
	ErrCrossOrigin = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrCrossOrigin",
		Title:  "Cross-origin request refused",
		Status: http.StatusForbidden,
	}
	// ErrUnavailable: the token names a key that only the JWKS endpoint can
	// provide, and no key set could be fetched. 503 with Retry-After.
	ErrUnavailable = problem.Type{
		URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrUnavailable",
		Title:  "Authentication temporarily unavailable",
		Status: http.StatusServiceUnavailable,
	}
)

// Errors returned by [Verifier.Verify], for errors.Is. The middleware
// answers ErrKeysUnavailable with ErrUnavailable and all others with
// ErrInvalidToken.
var (
	ErrTokenTooLarge     = errors.New("authn: token larger than MaxTokenBytes")
	ErrTokenMalformed    = errors.New("authn: malformed token")
	ErrAlgorithm         = errors.New("authn: token algorithm not allowed")
	ErrUnknownKey        = errors.New("authn: token signed by an unknown key")
	ErrSignature         = errors.New("authn: bad token signature")
	ErrTokenExpired      = errors.New("authn: token expired")
	ErrTokenNotYetValid  = errors.New("authn: token not valid yet")
	ErrIssuer            = errors.New("authn: token issuer not accepted")
	ErrAudience          = errors.New("authn: token audience not accepted")
	ErrTokenType         = errors.New("authn: token type not accepted")
	ErrClaims            = errors.New("authn: token claims invalid")
	ErrKeysUnavailable   = errors.New("authn: verification keys unavailable")
	errMissingCredential = errors.New("authn: no credentials")
)

// descriptions are the fixed error_description of each failure.
var descriptions = map[error]string{
	ErrTokenTooLarge:    "The access token is too large.",
	ErrTokenMalformed:   "The access token is malformed.",
	ErrAlgorithm:        "The access token is signed with an algorithm that is not accepted.",
	ErrUnknownKey:       "The access token is signed by an unknown key.",
	ErrSignature:        "The access token signature is invalid.",
	ErrTokenExpired:     "The access token expired.",
	ErrTokenNotYetValid: "The access token is not valid yet.",
	ErrIssuer:           "The access token issuer is not accepted.",
	ErrAudience:         "The access token audience is not accepted.",
	ErrTokenType:        "The access token type is not accepted.",
	ErrClaims:           "The access token claims are invalid.",
}
