package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/alexedwards/argon2id"
	jwtmw2 "github.com/auth0/go-jwt-middleware/v2"
	validator2 "github.com/auth0/go-jwt-middleware/v2/validator"
	jwtmw3 "github.com/auth0/go-jwt-middleware/v3"
	validator3 "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/crypto/argon2"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/authn/password"
)

const (
	benchIssuer   = "https://id.example.test/"
	benchAudience = "orders-api"
)

// benchKey is one algorithm's signing key and verification key, made at
// run time: no secret lives in the code.
type benchKey struct {
	alg         string
	sign        any
	verify      any
	auth0v2     validator2.SignatureAlgorithm
	auth0v3     validator3.SignatureAlgorithm
	jwx         jwa.SignatureAlgorithm
	token       string
	backstopKey authn.Key
}

var benchKeys = sync.OnceValue(func() []benchKey {
	secret := make([]byte, 32)
	rand.Read(secret)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := []benchKey{
		{alg: "HS256", sign: secret, verify: secret, auth0v2: validator2.HS256, auth0v3: validator3.HS256, jwx: jwa.HS256()},
		{alg: "RS256", sign: rsaKey, verify: &rsaKey.PublicKey, auth0v2: validator2.RS256, auth0v3: validator3.RS256, jwx: jwa.RS256()},
		{alg: "ES256", sign: ecKey, verify: &ecKey.PublicKey, auth0v2: validator2.ES256, auth0v3: validator3.ES256, jwx: jwa.ES256()},
		{alg: "EdDSA", sign: edKey, verify: edKey.Public(), auth0v2: validator2.EdDSA, auth0v3: validator3.EdDSA, jwx: jwa.EdDSA()},
	}
	now := time.Now()
	for i := range keys {
		k := &keys[i]
		// The token of the research anchors: 8 claims, about 240 bytes of JSON.
		t := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), jwt.MapClaims{
			"iss": benchIssuer, "sub": "user-1234567890", "aud": benchAudience,
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
			"jti": "3f2b8c1e-7d4a-4b6e-9c2d-1a5f8e7b6c4d", "scope": "orders:read orders:write profile",
		})
		t.Header["kid"] = "k1"
		s, err := t.SignedString(k.sign)
		if err != nil {
			panic(err)
		}
		k.token = s
		k.backstopKey = authn.Key{ID: "k1", Algorithm: k.alg, Key: k.verify}
	}
	return keys
})

var ok200 = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

type claimsKey struct{}

// bareGolangJWT is the least a middleware built on golang-jwt does: read
// the header, parse with the same checks, store the claims, 401 on failure.
func bareGolangJWT(alg string, key any, next http.Handler) http.Handler {
	p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(benchIssuer),
		jwt.WithAudience(benchAudience), jwt.WithExpirationRequired())
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c := &jwt.RegisteredClaims{}
		if _, err := p.ParseWithClaims(tok, c, keyFunc); !found || err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

func jwxMiddleware(alg jwa.SignatureAlgorithm, key any, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		t, err := jwxjwt.ParseString(tok, jwxjwt.WithKey(alg, key), jwxjwt.WithIssuer(benchIssuer),
			jwxjwt.WithAudience(benchAudience), jwxjwt.WithRequiredClaim("exp"))
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, t)))
	})
}

func backstopMiddleware(b testing.TB, keys []authn.Key, alg string, jwks *authn.JWKS) http.Handler {
	v, err := authn.NewVerifier(authn.VerifierConfig{Issuer: benchIssuer, Audience: []string{benchAudience},
		Algorithms: []string{alg}, Keys: keys, JWKS: jwks})
	if err != nil {
		b.Fatal(err)
	}
	m, err := authn.New(v, authn.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return m.Handler(ok200)
}

func auth0v2(b testing.TB, k benchKey) http.Handler {
	v, err := validator2.New(func(context.Context) (any, error) { return k.verify, nil },
		k.auth0v2, benchIssuer, []string{benchAudience})
	if err != nil {
		b.Fatal(err)
	}
	return jwtmw2.New(v.ValidateToken).CheckJWT(ok200)
}

func auth0v3(b testing.TB, k benchKey) http.Handler {
	v, err := validator3.New(validator3.WithKeyFunc(func(context.Context) (any, error) { return k.verify, nil }),
		validator3.WithAlgorithm(k.auth0v3), validator3.WithIssuer(benchIssuer), validator3.WithAudience(benchAudience))
	if err != nil {
		b.Fatal(err)
	}
	m, err := jwtmw3.New(jwtmw3.WithValidator(v))
	if err != nil {
		b.Fatal(err)
	}
	return m.CheckJWT(ok200)
}

// TestJWTPeersAcceptTheBenchToken makes sure every benchmarked middleware
// answers 200, so no row measures a failure path.
func TestJWTPeersAcceptTheBenchToken(t *testing.T) {
	for _, k := range benchKeys() {
		for name, h := range jwtMiddlewares(t, k) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/orders", nil)
			r.Header.Set("Authorization", "Bearer "+k.token)
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				t.Errorf("%s/%s: %d %s", k.alg, name, rec.Code, rec.Body)
			}
		}
	}
}

func jwtMiddlewares(b testing.TB, k benchKey) map[string]http.Handler {
	return map[string]http.Handler{
		"bare-golang-jwt": bareGolangJWT(k.alg, k.verify, ok200),
		"backstop":        backstopMiddleware(b, []authn.Key{k.backstopKey}, k.alg, nil),
		"auth0-v2":        auth0v2(b, k),
		"auth0-v3":        auth0v3(b, k),
		"jwx-v3":          jwxMiddleware(k.jwx, k.verify, ok200),
	}
}

func runMiddleware(b *testing.B, h http.Handler, token string) {
	b.ReportAllocs()
	cpu := processCPU()
	defer reportCPU(b, cpu)
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	})
}

// BenchmarkJWTMiddleware verifies the same token through each middleware,
// every one configured for the same checks (one algorithm, issuer,
// audience, expiry) with a static key. auth0 v2 and v3 check exp only when
// present; the others require it. cpu-ns/op is the process's CPU time per
// request (see reportCPU), the steadier figure on a shared machine.
func BenchmarkJWTMiddleware(b *testing.B) {
	for _, k := range benchKeys() {
		hs := jwtMiddlewares(b, k)
		for _, name := range []string{"bare-golang-jwt", "backstop", "auth0-v2", "auth0-v3", "jwx-v3"} {
			b.Run(k.alg+"/"+name, func(b *testing.B) { runMiddleware(b, hs[name], k.token) })
		}
	}
}

// BenchmarkJWTKeySet compares the key lookup from a JWK set: golang-jwt
// with MicahParks/keyfunc v3 (a set given as JSON, no HTTP) against
// backstop's JWKS (fetched once from a loopback server, then cached).
func BenchmarkJWTKeySet(b *testing.B) {
	k := benchKeys()[3] // EdDSA: the cheapest signature, so lookup costs show
	h, err := authn.NewJWKSHandler(k.backstopKey)
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	kf, err := keyfunc.NewJWKSetJSON(rec.Body.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{k.alg}), jwt.WithIssuer(benchIssuer),
		jwt.WithAudience(benchAudience), jwt.WithExpirationRequired())
	withKeyfunc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c := &jwt.RegisteredClaims{}
		if _, err := p.ParseWithClaims(tok, c, kf.Keyfunc); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok200.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	jwks, err := authn.NewJWKS(srv.URL, authn.JWKSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := jwks.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Run("golang-jwt+keyfunc", func(b *testing.B) { runMiddleware(b, withKeyfunc, k.token) })
	b.Run("backstop-jwks", func(b *testing.B) { runMiddleware(b, backstopMiddleware(b, nil, k.alg, jwks), k.token) })
	b.Run("backstop-static", func(b *testing.B) {
		runMiddleware(b, backstopMiddleware(b, []authn.Key{k.backstopKey}, k.alg, nil), k.token)
	})
}

// BenchmarkArgon2 compares hashing and verifying at OWASP's parameters
// (m=19456 KiB, t=2, p=1) with the bare KDF and alexedwards/argon2id,
// reporting cpu-ns/op besides ns/op (see reportCPU).
func BenchmarkArgon2(b *testing.B) {
	pw := []byte("correct horse battery staple")
	salt := make([]byte, 16)
	rand.Read(salt)
	h, err := password.New(password.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ours, _ := h.Hash(ctx, pw)
	params := &argon2id.Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	theirs, _ := argon2id.CreateHash(string(pw), params)

	b.Run("x-crypto-IDKey", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			argon2.IDKey(pw, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("backstop-Hash", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			if _, err := h.Hash(ctx, pw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backstop-Verify", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			if ok, _, err := h.Verify(ctx, pw, ours); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("alexedwards-CreateHash", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			if _, err := argon2id.CreateHash(string(pw), params); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alexedwards-Compare", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			if ok, err := argon2id.ComparePasswordAndHash(string(pw), theirs); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
