package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/backstop-go/backstop/authn"
)

func Example() {
	// A service that is its own issuer; with an external identity provider,
	// use authn.NewJWKS(url, ...) as VerifierConfig.JWKS instead of Keys.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := authn.NewSigner("https://id.example.com/", authn.Key{ID: "2026-01", Key: priv}, authn.SignerOptions{})
	if err != nil {
		panic(err)
	}
	verifier, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer:     "https://id.example.com/",
		Audience:   []string{"orders-api"},
		Algorithms: []string{"EdDSA"},
		Keys:       []authn.Key{signer.PublicKey()},
	})
	if err != nil {
		panic(err)
	}
	auth, err := authn.New(verifier, authn.Options{})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /orders", auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s", p.Subject)
	})))
	mux.Handle("POST /orders", auth.Handler(auth.RequireScopes("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))))

	token, _ := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"orders-api"}, Scope: "orders:read"})
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/orders", nil),
		withBearer(httptest.NewRequest("GET", "/orders", nil), "not-a-token"),
		withBearer(httptest.NewRequest("GET", "/orders", nil), token),
		withBearer(httptest.NewRequest("POST", "/orders", nil), token),
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("WWW-Authenticate"))))
	}
	// Output:
	// 401 Bearer
	// 401 Bearer error="invalid_token", error_description="The access token is malformed."
	// 200
	// 403 Bearer error="insufficient_scope", scope="orders:write"
}

func withBearer(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func ExampleVerifier_Verify() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := authn.NewSigner("https://id.example.com/", authn.Key{ID: "k1", Key: priv}, authn.SignerOptions{})
	verifier, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer:     "https://id.example.com/",
		Audience:   []string{"orders-api"},
		Algorithms: []string{"EdDSA"},
		Keys:       []authn.Key{signer.PublicKey()},
		Types:      []string{"JWT"},
	})
	if err != nil {
		panic(err)
	}
	token, _ := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"orders-api"}, Scope: "orders:read"})
	p, err := verifier.Verify(context.Background(), token)
	fmt.Println(p.Issuer, p.Subject, p.HasScope("orders:read"), err)

	other, _ := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"billing-api"}})
	_, err = verifier.Verify(context.Background(), other)
	fmt.Println(err)
	// Output:
	// https://id.example.com/ alice true <nil>
	// authn: token audience not accepted
}

func ExampleMiddleware_Identify() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := authn.NewSigner("https://id.example.com/", authn.Key{Key: priv}, authn.SignerOptions{})
	verifier, _ := authn.NewVerifier(authn.VerifierConfig{Issuer: "https://id.example.com/",
		Audience: []string{"api"}, Algorithms: []string{"EdDSA"}, Keys: []authn.Key{signer.PublicKey()}})
	auth, _ := authn.New(verifier, authn.Options{})

	// A rate limiter that needs the principal when there is one, and must
	// run before unauthenticated requests are refused.
	limiter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := "ip " + r.RemoteAddr
			if p, ok := authn.FromContext(r.Context()); ok {
				key = "principal " + p.Issuer + " " + p.Subject
			}
			fmt.Println("limit by", key)
			next.ServeHTTP(w, r)
		})
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	handler := auth.Identify(limiter(auth.Require(app)))

	token, _ := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"api"}})
	for _, r := range []*http.Request{
		withBearer(httptest.NewRequest("GET", "/", nil), token),
		httptest.NewRequest("GET", "/", nil),
	} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		fmt.Println(rec.Code)
	}
	// Output:
	// limit by principal https://id.example.com/ alice
	// 200
	// limit by ip 192.0.2.1:1234
	// 401
}
