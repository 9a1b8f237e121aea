package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTTL is the lifetime of tokens a Signer issues unless told
// otherwise.
const DefaultTTL = 15 * time.Minute

// SignerOptions configure a [Signer]. The zero value of every field is its
// documented default.
type SignerOptions struct {
	// TTL is the lifetime of a token when Claims.ExpiresAt is zero.
	// Default 15 min.
	TTL time.Duration
	// Type is the typ header. Default "JWT"; "at+jwt" for RFC 9068 access
	// tokens.
	Type string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Claims are the claims of a token to issue. The Signer adds iss, iat, exp
// and a random jti.
type Claims struct {
	// Subject is the sub claim: who the token is about. Required.
	Subject string
	// Audience is the aud claim: who the token is for. Required.
	Audience []string
	// Scope is the scope claim: space-separated scopes.
	Scope string
	// ExpiresAt is the exp claim. Default: now + SignerOptions.TTL.
	ExpiresAt time.Time
	// Extra holds other claims. Names the Signer sets (iss, sub, aud, exp,
	// nbf, iat, jti, scope) are refused.
	Extra map[string]any
}

// Signer issues tokens for services that are their own issuer. Create it
// with [NewSigner]; the zero value is not usable. It is safe for
// concurrent use.
type Signer struct {
	issuer string
	key    Key // Key holds the private key
	method jwt.SigningMethod
	public Key
	opts   SignerOptions
}

// NewSigner returns a Signer that issues tokens from issuer, signed with
// key.Key: an ed25519.PrivateKey (EdDSA, the default choice: small,
// fast, no parameters to get wrong), an *ecdsa.PrivateKey (ES256/384/512
// by curve), an *rsa.PrivateKey (RS256 unless key.Algorithm says PS256 or
// another), or []byte for HS256/384/512 (at least 32/48/64 bytes; then
// only this service can verify). key.ID becomes the kid header.
func NewSigner(issuer string, key Key, opts SignerOptions) (*Signer, error) {
	if issuer == "" {
		return nil, errors.New("authn: NewSigner needs an issuer")
	}
	if key.Algorithm == "" {
		switch k := key.Key.(type) {
		case ed25519.PrivateKey:
			key.Algorithm = "EdDSA"
		case *ecdsa.PrivateKey:
			switch k.Curve {
			case elliptic.P256():
				key.Algorithm = "ES256"
			case elliptic.P384():
				key.Algorithm = "ES384"
			case elliptic.P521():
				key.Algorithm = "ES512"
			}
		case *rsa.PrivateKey:
			key.Algorithm = "RS256"
		case []byte:
			key.Algorithm = "HS256"
		}
	}
	switch key.Key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, []byte:
	default:
		return nil, fmt.Errorf("authn: NewSigner needs a private key, not %T", key.Key)
	}
	if opts.TTL < 0 {
		return nil, errors.New("authn: SignerOptions.TTL must not be negative")
	}
	// newKeyMap checks the key against its algorithm as a Verifier would.
	m, err := newKeyMap([]Key{key}, algBit(key.Algorithm))
	if err != nil {
		return nil, err
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Type == "" {
		opts.Type = "JWT"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if b, ok := key.Key.([]byte); ok {
		key.Key = append([]byte(nil), b...)
	}
	return &Signer{
		issuer: issuer,
		key:    key,
		method: jwt.GetSigningMethod(key.Algorithm),
		public: Key{ID: key.ID, Algorithm: key.Algorithm, Key: m[key.ID].key},
		opts:   opts,
	}, nil
}

// PublicKey returns the key that verifies the Signer's tokens, for
// VerifierConfig.Keys or [NewJWKSHandler]. For an HMAC signer it is the
// secret itself, which must not be published.
func (s *Signer) PublicKey() Key { return s.public }

var reservedClaims = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope"}

// Sign returns a signed token (JWS compact serialization) for c.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Subject == "" || len(c.Audience) == 0 {
		return "", errors.New("authn: Claims.Subject and Claims.Audience are required")
	}
	now := s.opts.Now()
	exp := c.ExpiresAt
	if exp.IsZero() {
		exp = now.Add(s.opts.TTL)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	mc := make(jwt.MapClaims, len(c.Extra)+8)
	for k, v := range c.Extra {
		for _, r := range reservedClaims {
			if k == r {
				return "", errors.New("authn: Claims.Extra must not set " + k)
			}
		}
		mc[k] = v
	}
	mc["iss"] = s.issuer
	mc["sub"] = c.Subject
	if len(c.Audience) == 1 {
		mc["aud"] = c.Audience[0]
	} else {
		mc["aud"] = append([]string(nil), c.Audience...)
	}
	mc["iat"] = now.Unix()
	mc["exp"] = exp.Unix()
	mc["jti"] = base64.RawURLEncoding.EncodeToString(jti[:])
	if c.Scope != "" {
		mc["scope"] = c.Scope
	}
	t := jwt.NewWithClaims(s.method, mc)
	t.Header["typ"] = s.opts.Type
	if s.key.ID != "" {
		t.Header["kid"] = s.key.ID
	}
	return t.SignedString(s.key.Key)
}
