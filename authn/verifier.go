package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of VerifierConfig.
const (
	// DefaultMaxTokenBytes bounds a token before it is parsed.
	DefaultMaxTokenBytes = 8 << 10
	// MaxLeeway is the largest clock skew a Verifier tolerates.
	MaxLeeway = time.Minute
)

// VerifierConfig configures a [Verifier]. Issuer, Audience, Algorithms and
// at least one of Keys and JWKS are required; the zero value of every other
// field is its documented default.
type VerifierConfig struct {
	// Issuer is the only accepted iss claim (RFC 8725 §3.8). Required.
	Issuer string
	// Audience lists the accepted aud values; a token must name at least
	// one of them (RFC 8725 §3.9). Required.
	Audience []string
	// Algorithms is the allow-list of JWS algorithms (RFC 8725 §3.1), from
	// HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA.
	// "none" does not exist here. Required.
	Algorithms []string
	// Keys are static verification keys, found by the token's kid.
	Keys []Key
	// JWKS is a remote key set, consulted for kids that Keys lacks.
	JWKS *JWKS

	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 0;
	// at most MaxLeeway (60s).
	Leeway time.Duration
	// Types, when set, lists the accepted typ header values (RFC 8725
	// §3.11), compared without case and with or without "application/",
	// e.g. []string{"at+jwt"} for RFC 9068 access tokens or
	// []string{"JWT", "at+jwt"}. A token without typ is then refused.
	// Default: typ is not checked.
	Types []string
	// MaxTokenBytes bounds the token before parsing. Default 8 KiB.
	MaxTokenBytes int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier verifies JWS compact tokens (JWTs) against a fixed policy:
// an algorithm allow-list, one issuer, an audience, a required exp, a small
// leeway, an optional typ, a size cap, and keys pinned to one algorithm
// each. Create it with [NewVerifier]; the zero value is not usable. It is
// safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	allowed  algSet
	static   map[string]verifyKey
	jwks     *JWKS
	types    []string
	maxBytes int
	keyfunc  jwt.Keyfunc // v.lookup, bound once: a method value per call would allocate
	issuer   string

	// byIssuer is set on a Verifier made by NewVerifierSet: it verifies
	// nothing itself and hands each token to the Verifier of its issuer.
	byIssuer map[string]*Verifier
}

// NewVerifier returns a Verifier for cfg. It fails when a required field
// is missing, an algorithm is unknown, a key is unusable (wrong type, too
// short, not allowed by Algorithms) or Leeway is out of range.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("authn: VerifierConfig.Issuer is required")
	case len(cfg.Audience) == 0 || slicesHasEmpty(cfg.Audience):
		return nil, errors.New("authn: VerifierConfig.Audience is required and must not hold empty values")
	case len(cfg.Algorithms) == 0:
		return nil, errors.New("authn: VerifierConfig.Algorithms is required")
	case len(cfg.Keys) == 0 && cfg.JWKS == nil:
		return nil, errors.New("authn: VerifierConfig needs Keys or JWKS")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, errors.New("authn: VerifierConfig.Leeway must be 0 to 60s")
	case cfg.MaxTokenBytes < 0:
		return nil, errors.New("authn: VerifierConfig.MaxTokenBytes must not be negative")
	}
	var allowed algSet
	for _, a := range cfg.Algorithms {
		bit := algBit(a)
		if bit == 0 {
			return nil, fmt.Errorf("authn: unknown algorithm %q in Algorithms", a)
		}
		allowed |= bit
	}
	static, err := newKeyMap(cfg.Keys, allowed)
	if err != nil {
		return nil, err
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		allowed:  allowed,
		static:   static,
		jwks:     cfg.JWKS,
		maxBytes: cfg.MaxTokenBytes,
		issuer:   cfg.Issuer,
	}
	for _, t := range cfg.Types {
		v.types = append(v.types, strings.ToLower(strings.TrimPrefix(strings.ToLower(t), "application/")))
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(append([]string(nil), cfg.Algorithms...)),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	v.keyfunc = v.lookup
	return v, nil
}

// NewVerifierSet returns a Verifier that accepts the tokens of every one of
// verifiers: a service that issues its own tokens and also accepts an
// identity provider's, say. Each token goes to the Verifier whose Issuer
// equals its iss claim, which then checks everything, signature and iss
// included, with its own keys and policy; a token of any other issuer is
// refused with ErrIssuer before any key is looked up, so it can never make
// a JWKS refresh. Issuers must differ. The set's size cap is the largest of
// its members'.
func NewVerifierSet(verifiers ...*Verifier) (*Verifier, error) {
	if len(verifiers) == 0 {
		return nil, errors.New("authn: NewVerifierSet needs at least one Verifier")
	}
	set := &Verifier{byIssuer: make(map[string]*Verifier, len(verifiers))}
	for _, one := range verifiers {
		switch {
		case one == nil || one.parser == nil:
			return nil, errors.New("authn: NewVerifierSet: a Verifier not made by NewVerifier")
		case one.byIssuer != nil:
			return nil, errors.New("authn: NewVerifierSet: sets do not nest")
		}
		if _, dup := set.byIssuer[one.issuer]; dup {
			return nil, fmt.Errorf("authn: NewVerifierSet: two Verifiers for issuer %q", one.issuer)
		}
		set.byIssuer[one.issuer] = one
		set.maxBytes = max(set.maxBytes, one.maxBytes)
	}
	return set, nil
}

// peekIssuer reads the iss claim of token without verifying anything, only
// to choose the Verifier that will.
func peekIssuer(token string) (string, error) {
	_, rest, ok := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", ErrTokenMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", ErrTokenMalformed
	}
	var c claims // by exact names, as the Verifier it chooses will read them
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", ErrTokenMalformed
	}
	return c.Issuer, nil
}

func slicesHasEmpty(s []string) bool {
	for _, v := range s {
		if v == "" {
			return true
		}
	}
	return false
}

// claims is what the Verifier decodes from the payload. Dates are values,
// not golang-jwt's pointers, so decoding them allocates nothing; a date of
// 0 counts as absent (and exp is required).
type claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt jwt.NumericDate  `json:"exp"`
	NotBefore jwt.NumericDate  `json:"nbf"`
	IssuedAt  jwt.NumericDate  `json:"iat"`
	ID        string           `json:"jti"`
	Scope     string           `json:"scope"`
	Scp       scopeList        `json:"scp"`
}

// UnmarshalJSON reads the claims by their exact names. encoding/json
// matches struct fields without case and with Unicode folding ("ſub" as
// sub), which would let a private claim replace a registered one or stand
// in for a missing one; JWT names compare code unit by code unit (RFC 7519
// §7.3). Of duplicate names the last wins, as RFC 7519 §4 allows.
func (c *claims) UnmarshalJSON(b []byte) error {
	if !mayFoldToClaim(b) {
		type plain claims // the struct decoding, without this method
		return json.Unmarshal(b, (*plain)(c))
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	for name, raw := range members {
		var dst any
		switch name {
		case "iss":
			dst = &c.Issuer
		case "sub":
			dst = &c.Subject
		case "aud":
			dst = &c.Audience
		case "exp":
			dst = &c.ExpiresAt
		case "nbf":
			dst = &c.NotBefore
		case "iat":
			dst = &c.IssuedAt
		case "jti":
			dst = &c.ID
		case "scope":
			dst = &c.Scope
		case "scp":
			dst = &c.Scp
		default:
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return err
		}
	}
	return nil
}

var claimNames = [...][]byte{[]byte("iss"), []byte("sub"), []byte("aud"), []byte("exp"), []byte("nbf"),
	[]byte("iat"), []byte("jti"), []byte("scope"), []byte("scp")}

// mayFoldToClaim reports whether a JSON string in b (a member name or not)
// has an escape, or folds to a claim name without being it: only then can
// the struct decoding read a member that is not the claim. Tokens from
// ordinary issuers have neither, and keep the fast path.
func mayFoldToClaim(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '"')
		if i < 0 {
			return false
		}
		b = b[i+1:]
		j := bytes.IndexByte(b, '"')
		if j < 0 {
			return false // not JSON: the decoder says so
		}
		s := b[:j]
		b = b[j+1:]
		if bytes.IndexByte(s, '\\') >= 0 {
			return true
		}
		for _, name := range claimNames {
			if bytes.EqualFold(s, name) && !bytes.Equal(s, name) {
				return true
			}
		}
	}
}

func date(d *jwt.NumericDate) (*jwt.NumericDate, error) {
	if d.IsZero() || d.Unix() == 0 {
		return nil, nil
	}
	return d, nil
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return date(&c.ExpiresAt) }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return date(&c.NotBefore) }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return date(&c.IssuedAt) }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// scopeList reads a scp claim written as a string or an array of strings.
type scopeList string

func (s *scopeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = scopeList(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = scopeList(strings.Join(many, " "))
	return nil
}

// verified holds a Principal and the claims it came from in one
// allocation.
type verified struct {
	p Principal
	c claims
}

// Verify checks token and returns the Principal it identifies. Errors are
// the sentinels of this package (ErrTokenExpired, ErrSignature, ...), for
// errors.Is; their text never quotes the token. ctx bounds the wait for a
// JWKS refresh when the token names a key the Verifier does not know yet.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > v.maxBytes {
		return nil, ErrTokenTooLarge
	}
	if v.byIssuer != nil {
		iss, err := peekIssuer(token)
		if err != nil {
			return nil, err
		}
		one, ok := v.byIssuer[iss]
		if !ok {
			return nil, ErrIssuer
		}
		return one.Verify(ctx, token)
	}
	x := new(verified)
	t, err := v.parser.ParseWithClaims(token, &x.c, v.keyfunc)
	if err != nil && errors.Is(err, errNeedRefresh) {
		if err := v.jwks.refreshForUnknownKey(ctx); err != nil {
			return nil, err
		}
		x = new(verified)
		t, err = v.parser.ParseWithClaims(token, &x.c, v.keyfunc)
	}
	if err != nil {
		if t != nil && t.Method != nil && v.allowed&algBit(t.Method.Alg()) == 0 {
			return nil, ErrAlgorithm // not in the allow-list, "none" included
		}
		if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			return nil, missingClaim(&x.c)
		}
		return nil, classify(err)
	}
	if len(v.types) > 0 && !v.typeAllowed(t.Header["typ"]) {
		return nil, ErrTokenType
	}
	if _, crit := t.Header["crit"]; crit {
		// RFC 7515 §4.1.11: extensions the recipient does not understand
		// must be refused; this package understands none.
		return nil, ErrTokenMalformed
	}
	c := &x.c
	x.p = Principal{
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		Audience: c.Audience,
		Scope:    c.Scope,
		ID:       c.ID,
	}
	if x.p.Scope == "" {
		x.p.Scope = string(c.Scp)
	}
	if d, _ := date(&c.ExpiresAt); d != nil {
		x.p.ExpiresAt = d.Time
	}
	if d, _ := date(&c.IssuedAt); d != nil {
		x.p.IssuedAt = d.Time
	}
	// The claims segment alone is not a credential: it has no signature.
	_, rest, _ := strings.Cut(token, ".")
	x.p.payload, _, _ = strings.Cut(rest, ".")
	return &x.p, nil
}

func (v *Verifier) typeAllowed(h any) bool {
	typ, ok := h.(string)
	if !ok {
		return false
	}
	if len(typ) > 12 && strings.EqualFold(typ[:12], "application/") {
		typ = typ[12:]
	}
	for _, t := range v.types {
		if strings.EqualFold(typ, t) {
			return true
		}
	}
	return false
}

var errNeedRefresh = errors.New("authn: key not in the cached JWKS")

// lookup is the golang-jwt key function: the key named by kid, if it may
// verify the token's algorithm.
func (v *Verifier) lookup(t *jwt.Token) (any, error) {
	var kid string
	if h, present := t.Header["kid"]; present {
		s, ok := h.(string)
		if !ok {
			return nil, ErrTokenMalformed
		}
		kid = s
	}
	bit := algBit(t.Method.Alg())
	k, ok := v.static[kid]
	if !ok && v.jwks != nil {
		var err error
		k, ok, err = v.jwks.lookup(kid)
		if err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, ErrUnknownKey
	}
	if k.algs&bit == 0 || v.allowed&bit == 0 {
		return nil, ErrAlgorithm
	}
	return k.key, nil
}

// missingClaim says which required claim golang-jwt found missing.
func missingClaim(c *claims) error {
	switch {
	case c.ExpiresAt.IsZero() || c.ExpiresAt.Unix() == 0:
		return ErrClaims
	case len(c.Audience) == 0:
		return ErrAudience
	case c.Issuer == "":
		return ErrIssuer
	}
	return ErrClaims
}

// classify maps golang-jwt's errors to this package's sentinels.
func classify(err error) error {
	for _, own := range [...]error{ErrUnknownKey, ErrAlgorithm, ErrKeysUnavailable, ErrTokenMalformed} {
		if errors.Is(err, own) {
			return own
		}
	}
	if errors.Is(err, errNeedRefresh) {
		return ErrUnknownKey // the fetch it waited for did not bring the key (yet)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrAlgorithm // an algorithm golang-jwt does not know
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrTokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	}
	return ErrClaims
}
