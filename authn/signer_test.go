package authn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/clocktest"
)

func TestSignerTokensVerifyThroughPublishedJWKS(t *testing.T) {
	k := testKeys()
	clock := clocktest.New()
	for _, key := range []Key{
		{ID: "ed-1", Key: k.ed},
		{ID: "es-1", Key: k.ec},
		{ID: "rs-1", Key: k.rsa},
		{ID: "ps-1", Algorithm: "PS256", Key: k.rsa2},
	} {
		s, err := NewSigner(testIssuer, key, SignerOptions{Now: clock.Now, Type: "at+jwt"})
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewJWKSHandler(s.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		j, _ := NewJWKS(srv.URL, JWKSOptions{})
		v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience},
			Algorithms: []string{s.PublicKey().Algorithm}, JWKS: j, Types: []string{"at+jwt"}, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sign(Claims{Subject: "alice", Audience: []string{testAudience}, Scope: "a b",
			Extra: map[string]any{"email": "alice@example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), tok)
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v", key.ID, err)
		}
		var extra struct{ Email string }
		p.Claims(&extra)
		if p.Subject != "alice" || p.Scope != "a b" || p.ID == "" || extra.Email != "alice@example.test" ||
			!p.ExpiresAt.Equal(clocktest.Start.Add(DefaultTTL)) || !p.IssuedAt.Equal(clocktest.Start) {
			t.Fatalf("%s: %+v %+v", key.ID, p, extra)
		}
	}
}

func TestSignerDefaultsToEdDSAAndUniqueJTI(t *testing.T) {
	s, err := NewSigner(testIssuer, Key{ID: "k", Key: testKeys().ed}, SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey().Algorithm != "EdDSA" {
		t.Fatalf("algorithm %s", s.PublicKey().Algorithm)
	}
	v := testVerifier(t, clocktest.New(), func(c *VerifierConfig) {
		c.Keys = []Key{s.PublicKey()}
		c.Now = time.Now
	})
	a, _ := s.Sign(Claims{Subject: "s", Audience: []string{testAudience}})
	b, _ := s.Sign(Claims{Subject: "s", Audience: []string{testAudience}})
	pa, err := v.Verify(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := v.Verify(context.Background(), b)
	if pa.ID == pb.ID {
		t.Fatal("two tokens share a jti")
	}
}

func TestSignerRefusesBadInput(t *testing.T) {
	k := testKeys()
	for name, key := range map[string]Key{
		"public key":     {Key: k.ed.Public()},
		"short HMAC":     {Key: k.hmac[:16]},
		"alg mismatch":   {Algorithm: "ES256", Key: k.ed},
		"unknown type":   {Key: "secret"},
		"unknown alg":    {Algorithm: "none", Key: k.ed},
		"RSA under HMAC": {Algorithm: "HS256", Key: k.rsa},
	} {
		if _, err := NewSigner(testIssuer, key, SignerOptions{}); err == nil {
			t.Errorf("%s: NewSigner succeeded", name)
		}
	}
	s, _ := NewSigner(testIssuer, Key{Key: k.ed}, SignerOptions{})
	if _, err := s.Sign(Claims{Subject: "s", Audience: []string{"a"}, Extra: map[string]any{"exp": 1}}); err == nil {
		t.Error("Extra overrode exp")
	}
	if _, err := s.Sign(Claims{Audience: []string{"a"}}); err == nil {
		t.Error("signed without a subject")
	}
}

func TestJWKSHandlerPublishesPublicKeysOnly(t *testing.T) {
	k := testKeys()
	if _, err := NewJWKSHandler(Key{ID: "h", Algorithm: "HS256", Key: k.hmac}); err == nil {
		t.Fatal("an HMAC secret was published")
	}
	h, err := NewJWKSHandler(Key{ID: "rs", Algorithm: "RS256", Key: k.rsa}, Key{ID: "ed", Algorithm: "EdDSA", Key: k.ed})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	body := rec.Body.String()
	if rec.Header().Get("Content-Type") != "application/jwk-set+json" || strings.Contains(body, `"d"`) || strings.Contains(body, `"p"`) {
		t.Fatalf("%v %s", rec.Header(), body)
	}
	var set jwkSet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 2 || set.Keys[0].Use != "sig" {
		t.Fatalf("%+v %v", set, err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}

func TestNewCookieDefaults(t *testing.T) {
	c := NewCookie("session", "tok", time.Now().Add(time.Hour))
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge < 3590 {
		t.Fatalf("%+v", c)
	}
	if err := c.Valid(); err != nil {
		t.Fatal(err)
	}
}

// Extra cannot set a claim the Signer sets under a name that only folds
// to it: the Verifier reads such a member as the private claim it is.
func TestSignerExtraCannotOverrideSubjectByFolding(t *testing.T) {
	clock := clocktest.New()
	s, err := NewSigner(testIssuer, Key{ID: "ed", Key: testKeys().ed}, SignerOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(Claims{Subject: "alice", Audience: []string{testAudience}, Scope: "orders:read",
		Extra: map[string]any{"ſub": "root", "ſcope": "admin"}}) // user-chosen attribute names, say
	if err != nil {
		t.Fatal(err)
	}
	p, err := testVerifier(t, clock, nil).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || p.Scope != "orders:read" {
		t.Fatalf("Extra overrode the Signer's claims: sub %q, scope %q", p.Subject, p.Scope)
	}
}

// Keys published together must have distinct kids: a verifier finds a key
// by kid, so the second key under one kid (a rotated key whose ID was kept,
// or two keys without ID) would never verify, and rotation would break the
// tokens of the previous key.
func TestJWKSHandlerRefusesTwoKeysWithOneID(t *testing.T) {
	k := testKeys()
	clock := clocktest.New()
	for _, id := range []string{"main", ""} {
		previous, _ := NewSigner(testIssuer, Key{ID: id, Key: k.ed}, SignerOptions{Now: clock.Now})
		current, _ := NewSigner(testIssuer, Key{ID: id, Key: k.edAlt}, SignerOptions{Now: clock.Now})
		h, err := NewJWKSHandler(current.PublicKey(), previous.PublicKey())
		if err == nil {
			srv := httptest.NewServer(h)
			j, _ := NewJWKS(srv.URL, JWKSOptions{})
			v, _ := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: []string{testAudience},
				Algorithms: []string{"EdDSA"}, JWKS: j, Now: clock.Now})
			tok, _ := previous.Sign(Claims{Subject: "alice", Audience: []string{testAudience}})
			_, verr := v.Verify(context.Background(), tok)
			srv.Close()
			t.Errorf("kid %q: NewJWKSHandler published two keys under one kid; a token of the previous key then verifies with %v", id, verr)
		}
	}
}
