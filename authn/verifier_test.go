package authn

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/backstop-go/backstop/internal/clocktest"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	v := testVerifier(t, clocktest.New(), nil)
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		p, err := v.Verify(context.Background(), sign(t, alg, nil, goodClaims()))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if p.Issuer != testIssuer || p.Subject != "alice" || p.Scope != "orders:read orders:write" || p.ID != "id-1" ||
			len(p.Audience) != 1 || !p.ExpiresAt.Equal(clocktest.Start.Add(5*time.Minute)) || !p.IssuedAt.Equal(clocktest.Start) {
			t.Fatalf("%s: principal %+v", alg, p)
		}
		if !p.HasScope("orders:write") || p.HasScope("orders") || p.HasScope("") {
			t.Fatalf("%s: HasScope is wrong for %q", alg, p.Scope)
		}
	}
}

// TestAttacks covers every attack in the research table, each with the
// error it must produce.
func TestAttacks(t *testing.T) {
	k := testKeys()
	clock := clocktest.New()
	now := clocktest.Start
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims()
		edit(c)
		return c
	}
	rsaPublicPEMish := k.rsa.PublicKey.N.Bytes() // the bytes an attacker would HMAC with
	noneToken := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims())
		tok.Header["kid"] = "rs"
		s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}
	confusion := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
		tok.Header["kid"] = "rs" // an RSA key, used as an HMAC secret
		s, _ := tok.SignedString(rsaPublicPEMish)
		return s
	}
	otherKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, goodClaims())
		tok.Header["kid"] = "ed"
		s, _ := tok.SignedString(k.edAlt)
		return s
	}
	tamper := func() string {
		s := sign(t, "ES256", nil, goodClaims())
		parts := strings.Split(s, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), "alice", "admin", 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	}
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", noneToken(), ErrAlgorithm},
		{"alg none, lowercase variants", sign(t, "EdDSA", map[string]any{"alg": "None"}, goodClaims()), ErrAlgorithm},
		{"HMAC signed with the RSA public key", confusion(), ErrAlgorithm},
		{"algorithm outside the allow-list", sign(t, "HS384", map[string]any{"kid": "hs"}, goodClaims()), ErrAlgorithm},
		{"key of another algorithm (RS256 key, PS256 token)", sign(t, "PS256", map[string]any{"kid": "rs"}, goodClaims()), ErrAlgorithm},
		{"signed by another key", otherKey(), ErrSignature},
		{"payload tampered", tamper(), ErrSignature},
		{"expired", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() })), ErrTokenExpired},
		{"no exp", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { delete(c, "exp") })), ErrClaims},
		{"exp of 0", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["exp"] = 0 })), ErrClaims},
		{"not yet valid (nbf)", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), ErrTokenNotYetValid},
		{"issued in the future (iat)", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), ErrTokenNotYetValid},
		{"wrong issuer", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" })), ErrIssuer},
		{"issuer missing", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { delete(c, "iss") })), ErrIssuer},
		{"wrong audience", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["aud"] = "billing-api" })), ErrAudience},
		{"audience missing", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { delete(c, "aud") })), ErrAudience},
		{"unknown kid", sign(t, "EdDSA", map[string]any{"kid": "nope"}, goodClaims()), ErrUnknownKey},
		{"no kid and no default key", sign(t, "EdDSA", map[string]any{"kid": nil}, goodClaims()), ErrUnknownKey},
		{"kid not a string", sign(t, "EdDSA", map[string]any{"kid": 7}, goodClaims()), ErrTokenMalformed},
		{"crit header", sign(t, "EdDSA", map[string]any{"crit": []string{"exp"}, "exp": 1}, goodClaims()), ErrTokenMalformed},
		{"oversized token", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 9000) })), ErrTokenTooLarge},
		{"many dots (CVE-2025-30204)", strings.Repeat(".", 8000), ErrTokenMalformed},
		{"two segments", "eyJhbGciOiJFZERTQSJ9.e30", ErrTokenMalformed},
		{"not base64", "!!.!!.!!", ErrTokenMalformed},
		{"padded base64", sign(t, "EdDSA", nil, goodClaims()) + "=", ErrTokenMalformed},
		{"scope of the wrong type", sign(t, "EdDSA", nil, claims(func(c jwt.MapClaims) { c["scope"] = 3 })), ErrTokenMalformed},
		{"empty", "", ErrTokenMalformed},
	}
	v := testVerifier(t, clock, func(c *VerifierConfig) {
		c.Algorithms = append(c.Algorithms, "PS256")
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), c.token)
			if p != nil || !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, %v; want %v", p, err, c.want)
			}
			if len(c.token) > 20 && strings.Contains(err.Error(), c.token[len(c.token)-20:]) {
				t.Fatalf("error %q quotes the token", err)
			}
		})
	}
}

func TestJKUAndX5UAreNeverFetched(t *testing.T) {
	fetched := make(chan string, 2)
	srv := jwksServer(t, func() []byte { fetched <- "fetched"; return nil })
	v := testVerifier(t, clocktest.New(), nil)
	tok := sign(t, "EdDSA", map[string]any{"kid": "attacker", "jku": srv.URL, "x5u": srv.URL,
		"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(testKeys().ed.Public().(ed25519.PublicKey))}}, goodClaims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify = %v, want ErrUnknownKey", err)
	}
	select {
	case <-fetched:
		t.Fatal("the verifier fetched a URL named by the token")
	default:
	}
}

func TestLeewayAppliesUpTo60Seconds(t *testing.T) {
	clock := clocktest.New()
	v := testVerifier(t, clock, func(c *VerifierConfig) { c.Leeway = 30 * time.Second })
	tok := sign(t, "EdDSA", nil, goodClaims()) // exp = start + 5 min
	clock.Advance(5*time.Minute + 29*time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("29s past exp with a 30s leeway: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("31s past exp with a 30s leeway: %v, want ErrTokenExpired", err)
	}
	for _, d := range []time.Duration{61 * time.Second, -time.Second} {
		_, err := NewVerifier(VerifierConfig{Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"EdDSA"},
			Keys: staticKeys()[3:], Leeway: d})
		if err == nil {
			t.Errorf("Leeway %v accepted", d)
		}
	}
}

func TestTypeCheck(t *testing.T) {
	v := testVerifier(t, clocktest.New(), func(c *VerifierConfig) { c.Types = []string{"at+jwt", "JWT"} })
	for typ, want := range map[any]error{
		"at+jwt": nil, "AT+JWT": nil, "application/at+jwt": nil, "JWT": nil, "jwt": nil,
		"id+jwt": ErrTokenType, nil: ErrTokenType, 5: ErrTokenType,
	} {
		_, err := v.Verify(context.Background(), sign(t, "EdDSA", map[string]any{"typ": typ}, goodClaims()))
		if !errors.Is(err, want) {
			t.Errorf("typ %v: %v, want %v", typ, err, want)
		}
	}
	// Without Types, typ is not checked.
	v = testVerifier(t, clocktest.New(), nil)
	if _, err := v.Verify(context.Background(), sign(t, "EdDSA", map[string]any{"typ": "id+jwt"}, goodClaims())); err != nil {
		t.Fatal(err)
	}
}

func TestAudienceListAndScp(t *testing.T) {
	v := testVerifier(t, clocktest.New(), func(c *VerifierConfig) { c.Audience = []string{"a", testAudience} })
	c := goodClaims()
	c["aud"] = []string{"x", testAudience}
	delete(c, "scope")
	c["scp"] = []string{"orders:read", "admin"}
	p, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, c))
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope != "orders:read admin" || !p.HasScope("admin") {
		t.Fatalf("scp array read as %q", p.Scope)
	}
}

func TestPrincipalClaims(t *testing.T) {
	v := testVerifier(t, clocktest.New(), nil)
	c := goodClaims()
	c["email"] = "alice@example.test"
	c["roles"] = []string{"admin"}
	p, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, c))
	if err != nil {
		t.Fatal(err)
	}
	var mine struct {
		Email string   `json:"email"`
		Roles []string `json:"roles"`
	}
	if err := p.Claims(&mine); err != nil || mine.Email != "alice@example.test" || len(mine.Roles) != 1 {
		t.Fatalf("Claims = %+v, %v", mine, err)
	}
	if s := p.String(); s != "alice@"+testIssuer {
		t.Fatalf("String = %q", s)
	}
	if strings.Contains(p.payload, ".") {
		t.Fatal("the principal keeps more than the claims segment")
	}
}

func TestNewVerifierRefusesUnsafeConfigs(t *testing.T) {
	k := testKeys()
	base := VerifierConfig{Issuer: "i", Audience: []string{"a"}, Algorithms: []string{"HS256", "RS256", "EdDSA", "ES256"}, Keys: staticKeys()}
	for name, edit := range map[string]func(*VerifierConfig){
		"no issuer":      func(c *VerifierConfig) { c.Issuer = "" },
		"no audience":    func(c *VerifierConfig) { c.Audience = nil },
		"empty audience": func(c *VerifierConfig) { c.Audience = []string{""} },
		"no algorithms":  func(c *VerifierConfig) { c.Algorithms = nil },
		"none":           func(c *VerifierConfig) { c.Algorithms = []string{"none"} },
		"unknown alg":    func(c *VerifierConfig) { c.Algorithms = []string{"HS1"} },
		"no keys":        func(c *VerifierConfig) { c.Keys = nil },
		"short HMAC key": func(c *VerifierConfig) { c.Keys = []Key{{Algorithm: "HS256", Key: k.hmac[:31]}} },
		"HS512 with 48 bytes": func(c *VerifierConfig) {
			c.Algorithms = []string{"HS512"}
			c.Keys = []Key{{Algorithm: "HS512", Key: k.hmac[:48]}}
		},
		"key alg not allowed":  func(c *VerifierConfig) { c.Algorithms = []string{"RS256"} },
		"RSA key for HS256":    func(c *VerifierConfig) { c.Keys = []Key{{Algorithm: "HS256", Key: &k.rsa.PublicKey}} },
		"HMAC key for RS256":   func(c *VerifierConfig) { c.Keys = []Key{{Algorithm: "RS256", Key: k.hmac}} },
		"EC key for EdDSA":     func(c *VerifierConfig) { c.Keys = []Key{{Algorithm: "EdDSA", Key: &k.ec.PublicKey}} },
		"duplicate kid":        func(c *VerifierConfig) { c.Keys = append(c.Keys, c.Keys[0]) },
		"key without alg":      func(c *VerifierConfig) { c.Keys = []Key{{Key: k.ed.Public()}} },
		"negative size cap":    func(c *VerifierConfig) { c.MaxTokenBytes = -1 },
		"unsupported key type": func(c *VerifierConfig) { c.Keys = []Key{{Algorithm: "EdDSA", Key: "secret"}} },
	} {
		c := base
		c.Keys = append([]Key(nil), base.Keys...)
		edit(&c)
		if _, err := NewVerifier(c); err == nil {
			t.Errorf("%s: NewVerifier succeeded", name)
		}
	}
}

func TestStaticKeyWithoutIDVerifiesTokensWithoutKid(t *testing.T) {
	v := testVerifier(t, clocktest.New(), func(c *VerifierConfig) {
		c.Keys = []Key{{Algorithm: "EdDSA", Key: testKeys().ed}} // a private key: its public half is used
	})
	if _, err := v.Verify(context.Background(), sign(t, "EdDSA", map[string]any{"kid": nil}, goodClaims())); err != nil {
		t.Fatal(err)
	}
}

// RFC 7515 Appendix A.1: the HS256 example verifies (its claims have no
// aud, so the verdict is ErrAudience: the signature and exp passed first);
// one flipped signature bit fails.
func TestRFC7515HS256Vector(t *testing.T) {
	const token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	key, _ := base64.RawURLEncoding.DecodeString("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
	v, err := NewVerifier(VerifierConfig{Issuer: "joe", Audience: []string{"x"}, Algorithms: []string{"HS256"},
		Keys: []Key{{Algorithm: "HS256", Key: key}}, Now: func() time.Time { return time.Unix(1300819379, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrAudience) {
		t.Fatalf("RFC 7515 A.1: %v, want ErrAudience (signature valid, no aud)", err)
	}
	bad := token[:len(token)-1] + "g" // one signature bit flipped
	if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered RFC 7515 A.1: %v, want ErrSignature", err)
	}
}

// RFC 7515 Appendix A.3 (ES256) through a JWK set, and RFC 8037 A.4
// (Ed25519) through the JWK parser.
func TestRFC7515ES256AndRFC8037Ed25519Vectors(t *testing.T) {
	keys, err := parseJWKSet([]byte(`{"keys":[{"kty":"EC","crv":"P-256",
		"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const es = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	v := &Verifier{allowed: es256, static: keys, maxBytes: DefaultMaxTokenBytes}
	v.parser = jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("joe"), jwt.WithAudience("x"),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return time.Unix(1300819379, 0) }))
	v.keyfunc = v.lookup
	if _, err := v.Verify(context.Background(), es); !errors.Is(err, ErrAudience) {
		t.Fatalf("RFC 7515 A.3: %v, want ErrAudience (signature valid, no aud)", err)
	}

	okp, err := parseJWKSet([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.RawURLEncoding.DecodeString("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
	if err := jwt.SigningMethodEdDSA.Verify("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", sig, okp[""].key); err != nil {
		t.Fatalf("RFC 8037 A.4: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	v := testVerifier(f, clocktest.New(), nil)
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		f.Add(sign(f, alg, nil, goodClaims()))
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if (p == nil) == (err == nil) {
			t.Fatalf("Verify = %v, %v", p, err)
		}
		if err != nil {
			known := false
			for e := range maps.Keys(descriptions) {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("Verify returned an error outside the documented set: %v", err)
			}
		}
	})
}

func TestVerifierSetChoosesByIssuer(t *testing.T) {
	clock := clocktest.New()
	local := testVerifier(t, clock, func(c *VerifierConfig) {
		c.Keys = []Key{{ID: "ed", Algorithm: "EdDSA", Key: testKeys().ed.Public()}}
		c.Algorithms = []string{"EdDSA"}
	})
	// The other issuer's keys come from its JWKS: a token must never make the
	// set consult it unless the token names that issuer.
	fetches := 0
	set := jwksOf(t, Key{ID: "rs-remote", Algorithm: "RS256", Key: &testKeys().rsa.PublicKey})
	srv := jwksServer(t, func() []byte { fetches++; return set })
	j, err := NewJWKS(srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	remote := testVerifier(t, clock, func(c *VerifierConfig) {
		c.Issuer = "https://idp.example"
		c.Keys = []Key{{ID: "rs", Algorithm: "RS256", Key: &testKeys().rsa.PublicKey}}
		c.Algorithms = []string{"RS256", "EdDSA"}
		c.JWKS = j
	})
	both, err := NewVerifierSet(local, remote)
	if err != nil {
		t.Fatal(err)
	}
	withIss := func(iss string) jwt.MapClaims {
		c := goodClaims()
		c["iss"] = iss
		return c
	}
	if p, err := both.Verify(t.Context(), sign(t, "EdDSA", nil, goodClaims())); err != nil || p.Issuer != testIssuer {
		t.Fatalf("local token: %+v %v", p, err)
	}
	if p, err := both.Verify(t.Context(), sign(t, "RS256", nil, withIss("https://idp.example"))); err != nil || p.Issuer != "https://idp.example" {
		t.Fatalf("remote token: %+v %v", p, err)
	}
	for name, c := range map[string]struct {
		token string
		want  error
	}{
		// Each issuer's own keys only: a local key cannot sign for the IdP.
		"local key, remote issuer":   {sign(t, "EdDSA", nil, withIss("https://idp.example")), ErrUnknownKey},
		"remote key, local issuer":   {sign(t, "RS256", nil, goodClaims()), ErrAlgorithm},
		"unknown issuer":             {sign(t, "EdDSA", nil, withIss("https://evil.example")), ErrIssuer},
		"no issuer":                  {sign(t, "EdDSA", nil, withIss("")), ErrIssuer},
		"payload not base64":         {"a.!!!.c", ErrTokenMalformed},
		"payload not JSON":           {"a." + base64.RawURLEncoding.EncodeToString([]byte("[1")) + ".c", ErrTokenMalformed},
		"one segment":                {"abc", ErrTokenMalformed},
		"oversized for every issuer": {strings.Repeat("a", DefaultMaxTokenBytes+1), ErrTokenTooLarge},
	} {
		if _, err := both.Verify(t.Context(), c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if fetches > 1 {
		t.Errorf("the JWKS was fetched %d times; only the remote-issuer token with a local kid may fetch it", fetches)
	}
	if _, err := NewVerifierSet(local, local); err == nil {
		t.Error("two Verifiers for one issuer accepted")
	}
	if _, err := NewVerifierSet(); err == nil {
		t.Error("an empty set accepted")
	}
	if _, err := NewVerifierSet(both); err == nil {
		t.Error("a nested set accepted")
	}
}

// Claim names are compared code unit by code unit (RFC 7519 §7.3, RFC 8259
// §8.3): a member whose name only folds to a registered claim's ("SUB",
// "Aud", or "ſub" with U+017F, which encoding/json folds to "s") is a
// private claim, and must neither replace the registered one nor stand in
// for it when it is missing.
func TestClaimNamesAreCaseSensitive(t *testing.T) {
	v := testVerifier(t, clocktest.New(), nil)
	c := goodClaims()
	c["ſub"] = "admin"           // sorts after "sub": json.Marshal writes it last
	c["ſcope"] = "orders:delete" // likewise after "scope"
	p, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, c))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || p.HasScope("orders:delete") {
		t.Errorf("a folded claim name was read as a registered claim: sub %q, scope %q", p.Subject, p.Scope)
	}
	for name, tc := range map[string]struct {
		registered, variant string
		want                error
	}{
		"AUD for aud": {"aud", "AUD", ErrAudience},
		"Iss for iss": {"iss", "Iss", ErrIssuer},
		"EXP for exp": {"exp", "EXP", ErrClaims},
	} {
		c := goodClaims()
		c[tc.variant] = c[tc.registered]
		delete(c, tc.registered)
		if _, err := v.Verify(context.Background(), sign(t, "EdDSA", nil, c)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// An issuer that escapes "/" and writes members in its own order: a
	// later "SUB" is still not sub, and an escaped name is the name.
	payload := fmt.Sprintf(`{"iss":%q,"\u0073ub":"alice","SUB":"admin","aud":%q,"exp":%d}`,
		strings.ReplaceAll(testIssuer, "/", `\/`), testAudience, clocktest.Start.Add(time.Minute).Unix())
	payload = strings.ReplaceAll(payload, `\\/`, `\/`) // %q doubled the backslashes
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"hs"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(head, testKeys().hmac)
	if err != nil {
		t.Fatal(err)
	}
	p, err = v.Verify(context.Background(), head+"."+base64.RawURLEncoding.EncodeToString(sig))
	if err != nil || p.Subject != "alice" || p.Issuer != testIssuer {
		t.Errorf("hand-written payload %s: %+v, %v", payload, p, err)
	}
}
