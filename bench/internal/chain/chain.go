// Package chain builds the reference orders service of examples/app, with
// its whole middleware chain, for the benchmarks (BenchmarkChain,
// BenchmarkChainRedis) and the load server (bench/cmd/loadserver) to
// measure.
//
// The service is examples/app.New and app.Routes themselves, so what is
// measured is what the examples run:
//
//	Observe (otelx spans, access log, problem.Recover)
//	  └ Identify (authn)
//	      └ Limiter (ratelimit, keyed by principal)
//	          └ RequireScopes (authn)
//	              └ Idempotency (POST /v1/orders)
//	                  └ handler (validation, domain)
//
// Two things differ from a service started by app.Main, both so that the
// measurement can be made: the token verifier is swapped for one of the
// chosen algorithm (the service itself only verifies EdDSA tokens it
// issues), and the rate limit is so high that no request is denied.
package chain

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/examples/app"
	"github.com/backstop-go/backstop/otelx"
	"github.com/backstop-go/backstop/problem"
)

// Algorithms returns the token algorithms a Chain can verify, in a new
// slice: HS256, RS256, ES256 and EdDSA.
func Algorithms() []string { return []string{"HS256", "RS256", "ES256", "EdDSA"} }

// RateLimit is the service's RATE_LIMIT in a Chain: high enough that a
// benchmark or a load test is never denied, while every request still
// runs the limiter's full decision.
const RateLimit = "1000000000000/1h"

// SeedOrders is how many orders the caller owns when a Chain starts, so
// that GET /v1/orders encodes a page of them.
const SeedOrders = 5

// Options configure a Chain. The zero value of every field is its
// documented default.
type Options struct {
	// Algorithm is the algorithm of the tokens the Chain verifies and
	// mints: HS256 (the default), RS256, ES256 or EdDSA.
	Algorithm string
	// Key is the private key (a []byte secret for HS256) the tokens are
	// signed with. Default: a new key from [NewKey].
	Key any
	// RedisURL selects Redis stores for rate limiting and idempotency, as
	// the service's REDIS_URL does. Empty: in-memory stores.
	RedisURL string
	// Logger is the service's logger. Default: the service's JSON log
	// handler (through otelx, as app.Main builds it) writing to io.Discard,
	// so that the access log's cost is measured but nothing is printed.
	Logger *slog.Logger
}

// Chain is the reference service built for measurement. Create it with
// [New] and release it with Close. Its handlers are safe for concurrent
// use.
type Chain struct {
	// App is the service, built by app.New.
	App *app.App
	// Full is app.Routes(App): every route behind the whole chain.
	Full http.Handler
	// Bare serves the same /v1/orders routes with the same handlers and no
	// middleware at all; it only puts the caller's principal in the
	// context, which the handlers need and the chain would have put there.
	Bare http.Handler
	// Verifier verifies the tokens the Chain mints, as the chain does.
	Verifier *authn.Verifier
	// Signer mints the tokens (see Token).
	Signer *authn.Signer
	// Principal is the caller of every token and of Bare's requests. Its
	// subject is random per Chain, so that chains sharing a Redis server
	// share no rate-limit or idempotency keys.
	Principal authn.Principal
}

// NewKey returns a new private key for alg: 32 random bytes for HS256,
// RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA.
func NewKey(alg string) (any, error) {
	switch alg {
	case "HS256":
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	case "RS256":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("chain: unknown algorithm %q", alg)
}

// New builds the service with app.New, swaps its verifier for one of
// opts.Algorithm, seeds SeedOrders orders for the Principal, and mounts
// app.Routes.
func New(ctx context.Context, opts Options) (*Chain, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = "HS256"
	}
	if opts.Key == nil {
		k, err := NewKey(opts.Algorithm)
		if err != nil {
			return nil, err
		}
		opts.Key = k
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(otelx.NewLogHandler(slog.NewJSONHandler(io.Discard, nil)))
	}
	env := map[string]string{
		"RATE_LIMIT":    RateLimit,
		"REDIS_URL":     opts.RedisURL,
		"CURSOR_SECRET": hex.EncodeToString(make([]byte, 32)),
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, opts.Logger)
	if err != nil {
		return nil, err
	}
	c := &Chain{App: a}
	if err := c.swapVerifier(opts.Algorithm, opts.Key); err != nil {
		a.Close()
		return nil, err
	}
	var sub [8]byte
	_, _ = rand.Read(sub[:])
	c.Principal = authn.Principal{
		Issuer: cfg.Issuer, Subject: "bench-" + hex.EncodeToString(sub[:]),
		Audience: []string{cfg.Audience}, Scope: app.ScopeRead + " " + app.ScopeWrite,
	}
	owner := app.Owner{Issuer: c.Principal.Issuer, Subject: c.Principal.Subject}
	for i := range SeedOrders {
		o := app.Order{Owner: owner, Item: fmt.Sprintf("item %d", i), Quantity: i + 1, CreatedAt: app.Now()}
		if _, err := a.Handlers.Orders.Create(ctx, o); err != nil {
			a.Close()
			return nil, err
		}
	}
	c.Full = app.Routes(a)
	c.Bare = c.bare()
	return c, nil
}

// swapVerifier replaces the App's authn middleware with one whose verifier
// accepts tokens of alg signed with key, configured as app.New configures
// the service's own verifier and middleware.
func (c *Chain) swapVerifier(alg string, key any) error {
	cfg := c.App.Config
	signer, err := authn.NewSigner(cfg.Issuer, authn.Key{ID: "bench-" + alg, Algorithm: alg, Key: key},
		authn.SignerOptions{TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	verifier, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer: cfg.Issuer, Audience: []string{cfg.Audience}, Algorithms: []string{alg},
		Keys: []authn.Key{signer.PublicKey()}, Types: []string{"JWT", "at+jwt"}, Leeway: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	auth, err := authn.New(verifier, authn.Options{Cookie: app.SessionCookie, CookieSafeMethodsOnly: true})
	if err != nil {
		return err
	}
	c.App.Auth, c.Signer, c.Verifier = auth, signer, verifier
	return nil
}

// bare mounts the /v1/orders routes of app.Routes on a ServeMux with no
// middleware.
func (c *Chain) bare() http.Handler {
	h := c.App.Handlers
	mux := http.NewServeMux()
	mux.Handle("POST /v1/orders", problem.HandlerFunc(h.CreateOrder))
	mux.Handle("GET /v1/orders", problem.HandlerFunc(h.ListOrders))
	mux.Handle("GET /v1/orders/{id}", problem.HandlerFunc(h.GetOrder))
	p := c.Principal
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := p // the handlers may keep it: a copy per request, as authn makes
		mux.ServeHTTP(w, r.WithContext(authn.NewContext(r.Context(), &q)))
	})
}

// Token mints a token for the Principal with the read and write scopes,
// valid for 24 hours.
func (c *Chain) Token() (string, error) { return c.TokenFor(c.Principal.Subject) }

// TokenFor mints a token like Token's for another subject of the same
// issuer: a caller of its own, with its own rate limit and its own budget
// of idempotency records (the middleware's MaxRecordsPerScope, 10,000 by
// default), which a long run of POST requests needs.
func (c *Chain) TokenFor(subject string) (string, error) {
	return c.Signer.Sign(authn.Claims{
		Subject: subject, Audience: c.Principal.Audience, Scope: c.Principal.Scope,
	})
}

// Close releases what the App opened.
func (c *Chain) Close() { c.App.Close() }
