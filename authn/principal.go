package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

// Principal is the caller a verified token identifies. The pair (Issuer,
// Subject) is its identity: subjects are unique only within an issuer, so
// key anything per caller (rate limits, idempotency scopes, ownership) by
// both.
//
// The middleware creates a new Principal for every request; it is not
// shared, and handlers may keep it. The zero value is an empty principal
// that no middleware creates; tests can build one and pass it through
// [NewContext].
type Principal struct {
	// Issuer is the token's iss claim.
	Issuer string
	// Subject is the token's sub claim (may be empty if the issuer omits it).
	Subject string
	// Audience is the token's aud claim.
	Audience []string
	// Scope is the token's scope claim: space-separated scopes, as in
	// RFC 6749 §3.3 and RFC 9068. A "scp" claim (a string or an array) is
	// read into it when "scope" is absent.
	Scope string
	// ID is the token's jti claim.
	ID string
	// ExpiresAt is the token's exp claim.
	ExpiresAt time.Time
	// IssuedAt is the token's iat claim, zero when absent.
	IssuedAt time.Time

	payload string // the token's claims segment (base64url JSON); no signature
}

// HasScope reports whether Scope lists scope.
func (p *Principal) HasScope(scope string) bool {
	if p == nil || scope == "" {
		return false
	}
	s := p.Scope
	for s != "" {
		var item string
		item, s, _ = strings.Cut(s, " ")
		if item == scope {
			return true
		}
	}
	return false
}

// Scopes returns the scopes listed in Scope, in a new slice.
func (p *Principal) Scopes() []string {
	if p == nil {
		return nil
	}
	return strings.Fields(p.Scope)
}

// Claims decodes the token's claims (the whole JSON payload) into dst, as
// json.Unmarshal does, to read claims beyond the registered ones:
//
//	var c struct {
//		Email string `json:"email"`
//		Roles []string `json:"roles"`
//	}
//	err := p.Claims(&c)
//
// It decodes anew at each call. A Principal built by hand has no claims:
// dst is left alone and Claims returns nil.
func (p *Principal) Claims(dst any) error {
	if p == nil || p.payload == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.payload)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// String returns "<subject>@<issuer>" for logs: no token, scope or claims.
func (p *Principal) String() string {
	if p == nil {
		return "<nil>"
	}
	return p.Subject + "@" + p.Issuer
}

// LogValue logs the identity pair only.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("iss", p.Issuer), slog.String("sub", p.Subject))
}

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal that the middleware (or NewContext)
// stored in ctx, and whether there is one. Behind a middleware with
// Options.Anonymous, or behind [Middleware.Identify], a request without
// credentials has none.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
