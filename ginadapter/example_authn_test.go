package ginadapter_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/health"
)

// newAuthn returns an authn middleware and a token it accepts, for alice
// with the scope orders:read.
func newAuthn() (*authn.Middleware, string) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := authn.NewSigner("https://id.example.com/", authn.Key{ID: "k1", Key: priv}, authn.SignerOptions{})
	verifier, _ := authn.NewVerifier(authn.VerifierConfig{
		Issuer:     "https://id.example.com/",
		Audience:   []string{"orders-api"},
		Algorithms: []string{"EdDSA"},
		Keys:       []authn.Key{signer.PublicKey()},
	})
	auth, err := authn.New(verifier, authn.Options{})
	if err != nil {
		panic(err)
	}
	token, _ := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"orders-api"}, Scope: "orders:read"})
	return auth, token
}

// sendAs serves one request with a bearer token (none when empty) and
// prints the status, the challenge and the body.
func sendAs(h http.Handler, method, target, token string) {
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("WWW-Authenticate"), " ", rec.Body.String())))
}

// Identify reads the token without refusing anyone, so that the rate
// limiter between them can key by principal; Require and RequireScopes
// refuse with the problems the net/http middleware writes, and abort the
// chain.
func ExampleRequireScopes() {
	auth, token := newAuthn()

	r := gin.New()
	r.Use(ginadapter.Problems(nil), gin.Recovery())
	v1 := r.Group("/v1", ginadapter.Identify(auth)) // and ginadapter.RateLimit(limit)
	v1.GET("/orders", ginadapter.Require(auth), func(c *gin.Context) {
		p, _ := ginadapter.Value(c, authn.FromContext)
		c.String(http.StatusOK, "orders of "+p.Subject)
	})
	v1.POST("/orders", ginadapter.RequireScopes(auth, "orders:write"), func(c *gin.Context) {
		c.Status(http.StatusCreated)
	})

	sendAs(r, http.MethodGet, "/v1/orders", "")
	sendAs(r, http.MethodGet, "/v1/orders", token)
	sendAs(r, http.MethodPost, "/v1/orders", token)
	// Output:
	// 401 Bearer {"type":"https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrUnauthenticated","title":"Authentication required","status":401,"detail":"This request needs a bearer token."}
	// 200  orders of alice
	// 403 Bearer error="insufficient_scope", scope="orders:write" {"type":"https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrInsufficientScope","title":"Insufficient scope","status":403,"detail":"The access token does not grant the scope this request needs.","error":"insufficient_scope"}
}

// Authenticate is authn's Handler: it refuses requests without a valid
// token.
func ExampleAuthenticate() {
	auth, token := newAuthn()

	r := gin.New()
	r.GET("/me", ginadapter.Authenticate(auth), func(c *gin.Context) {
		p, _ := ginadapter.Value(c, authn.FromContext)
		c.String(http.StatusOK, p.Subject)
	})

	sendAs(r, http.MethodGet, "/me", "not-a-token")
	sendAs(r, http.MethodGet, "/me", token)
	// Output:
	// 401 Bearer error="invalid_token", error_description="The access token is malformed." {"type":"https://pkg.go.dev/github.com/backstop-go/backstop/authn#ErrInvalidToken","title":"Invalid access token","status":401,"detail":"The access token is malformed.","error":"invalid_token"}
	// 200  alice
}

// Handler mounts health's probes with gin's path parameter as the name of
// a single check.
func ExampleHandler() {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	reg.Register("db", func(context.Context) error { return nil }, health.CheckOptions{})

	r := gin.New()
	r.GET("/readyz/:name", ginadapter.Handler(reg.Handler(health.Ready)))

	for _, path := range []string{"/readyz/db", "/readyz/dns"} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /readyz/db 200
	// /readyz/dns 404
}
