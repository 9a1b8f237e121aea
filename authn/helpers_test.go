package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/backstop-go/backstop/internal/clocktest"
)

const (
	testIssuer   = "https://id.example.test/"
	testAudience = "orders-api"
)

// Test keys are generated once per test binary: no secret lives in the code.
var testKeys = sync.OnceValue(func() (k struct {
	hmac  []byte
	rsa   *rsa.PrivateKey
	rsa2  *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	edAlt ed25519.PrivateKey
}) {
	k.hmac = make([]byte, 64)
	rand.Read(k.hmac)
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	_, k.edAlt, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

// staticKeys are one key per algorithm family, each pinned.
func staticKeys() []Key {
	k := testKeys()
	return []Key{
		{ID: "hs", Algorithm: "HS256", Key: k.hmac},
		{ID: "rs", Algorithm: "RS256", Key: &k.rsa.PublicKey},
		{ID: "es", Algorithm: "ES256", Key: &k.ec.PublicKey},
		{ID: "ed", Algorithm: "EdDSA", Key: k.ed.Public()},
	}
}

func signingKey(alg string) any {
	k := testKeys()
	switch alg {
	case "HS256", "HS384", "HS512":
		return k.hmac
	case "RS256", "PS256":
		return k.rsa
	case "ES256":
		return k.ec
	}
	return k.ed
}

func kidFor(alg string) string {
	switch alg[:2] {
	case "HS":
		return "hs"
	case "RS", "PS":
		return "rs"
	case "ES":
		return "es"
	}
	return "ed"
}

// goodClaims are valid at clocktest.Start.
func goodClaims() jwt.MapClaims {
	now := clocktest.Start
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "id-1", "scope": "orders:read orders:write",
	}
}

// sign makes a token with any header and claims, as an attacker could.
func sign(t testing.TB, alg string, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	if _, set := header["kid"]; !set {
		tok.Header["kid"] = kidFor(alg)
	}
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(signingKey(alg))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testVerifier(t testing.TB, clock *clocktest.Clock, edit func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{
		Issuer:     testIssuer,
		Audience:   []string{testAudience},
		Algorithms: []string{"HS256", "RS256", "ES256", "EdDSA"},
		Keys:       staticKeys(),
		Now:        clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
