package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/authn/password"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	idemredis "github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/otelx"
	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem/validation"
	"github.com/backstop-go/backstop/ratelimit"
	rlredis "github.com/backstop-go/backstop/ratelimit/redisstore"
)

// SessionCookie is the name of the cookie that carries the session token.
const SessionCookie = "session"

// App holds everything a variant wires into its router: the middleware in
// the order the contract needs, the domain handlers, the health registry,
// and what must be closed at shutdown. Build it with [New].
type App struct {
	Config Config
	Logger *slog.Logger

	// Telemetry is the OpenTelemetry setup; Shutdown flushes it.
	Telemetry *otelx.Telemetry
	// Health serves /livez and /readyz and drains on SIGTERM.
	Health *health.Registry
	// Auth reads bearer tokens (and the session cookie, for GET and HEAD).
	// Its Identify runs before the rate limiter, Require after it.
	Auth *authn.Middleware
	// Limiter limits every /v1 request, keyed by principal or client IP.
	Limiter *ratelimit.Middleware
	// Idempotency guards POST /v1/orders, scoped by principal. With
	// PostgreSQL it is pgstore's transactional middleware: the order and
	// its recorded response commit together, or neither does.
	Idempotency interface {
		Handler(http.Handler) http.Handler
	}
	// Handlers serve the domain routes.
	Handlers *Handlers
	// JWKS publishes the service's public signing key.
	JWKS http.Handler
	// Redis is the client of the Redis stores, nil with in-memory stores.
	// It is closed by Close.
	Redis redis.UniversalClient

	closers []func()
}

// New builds the App for cfg: stores (Redis and PostgreSQL when configured,
// memory otherwise), telemetry from the OTEL_* variables, the token key,
// and every middleware. It pings nothing: readiness reports the backing
// services, so the service starts even while they are down.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Logger: logger}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}

	tel, err := otelx.Setup(ctx, otelx.WithServiceName("backstop-example"), otelx.WithLocalTraceIDs())
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	a.Telemetry = tel
	a.closers = append(a.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Warn("telemetry flush failed", "error", err)
			return
		}
		logger.Info("telemetry flushed")
	})

	drain := cfg.ShutdownDrain
	if drain == 0 {
		drain = -1 // health: negative means no delay, zero its default
	}
	a.Health = health.New(health.Options{Logger: logger, DrainDelay: drain})
	a.closers = append(a.closers, a.Health.Close)
	// Readiness checks run in the background every 2 s, so an outage shows
	// within one interval plus the timeout, and probes never wait on Redis.
	bg := health.CheckOptions{Interval: 2 * time.Second, Timeout: time.Second}

	// Users and orders.
	users, orders := Users(NewMemoryUsers()), Orders(NewMemoryOrders())
	var pool *pgxpool.Pool
	if cfg.DatabaseURL != "" {
		if pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		a.closers = append(a.closers, func() {
			pool.Close()
			logger.Info("closed postgres")
		})
		if err := Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("creating the schema: %w", err)
		}
		if err := pgstore.Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("creating the idempotency schema: %w", err)
		}
		users, orders = PostgresUsers{Pool: pool}, PostgresOrders{Pool: pool}
		a.Health.Register("postgres", pool.Ping, bg)
	}

	// Rate limiting and idempotency: Redis when configured.
	policies := make([]ratelimit.Policy, len(cfg.RateLimits))
	for i, p := range cfg.RateLimits {
		policies[i] = ratelimit.Policy{Name: p.Name, Limit: p.Limit, Window: p.Window}
	}
	var limiter ratelimit.Limiter
	var idemStore idempotency.Store
	if rdb := redisClient(cfg, logger); rdb != nil {
		a.Redis = rdb
		a.closers = append(a.closers, func() {
			if err := rdb.Close(); err != nil {
				logger.Warn("closing redis failed", "error", err)
				return
			}
			logger.Info("closed redis")
		})
		rl, err := rlredis.New(rdb, policies, rlredis.Options{Prefix: "backstop-example:rl"})
		if err != nil {
			return nil, fmt.Errorf("RATE_LIMIT: %w", err)
		}
		is := idemredis.New(rdb, idemredis.Options{Prefix: "backstop-example:idem"})
		limiter, idemStore = rl, is
		a.Health.Register("redis", is.Ping, bg)
	} else {
		rl, err := ratelimit.NewSlidingWindow(policies, ratelimit.MemoryOptions{})
		if err != nil {
			return nil, fmt.Errorf("RATE_LIMIT: %w", err)
		}
		limiter, idemStore = rl, idempotency.NewMemoryStore(idempotency.MemoryOptions{})
	}

	// Tokens: the service's own, and optionally an external issuer's.
	key, err := signingKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("AUTH_SIGNING_KEY_FILE: %w", err)
	}
	signer, err := authn.NewSigner(cfg.Issuer, key, authn.SignerOptions{})
	if err != nil {
		return nil, err
	}
	if a.JWKS, err = authn.NewJWKSHandler(signer.PublicKey()); err != nil {
		return nil, err
	}
	types := []string{"JWT", "at+jwt"}
	verifier, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer: cfg.Issuer, Audience: []string{cfg.Audience}, Algorithms: []string{"EdDSA"},
		Keys: []authn.Key{signer.PublicKey()}, Types: types, Leeway: 30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	if cfg.JWKSURL != "" {
		jwks, err := authn.NewJWKS(cfg.JWKSURL, authn.JWKSOptions{})
		if err != nil {
			return nil, fmt.Errorf("AUTH_JWKS_URL: %w", err)
		}
		external, err := authn.NewVerifier(authn.VerifierConfig{
			Issuer: cfg.JWKSIssuer, Audience: []string{cfg.Audience}, Algorithms: []string{"RS256", "ES256", "EdDSA"},
			JWKS: jwks, Types: types, Leeway: 30 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("AUTH_JWKS_ISSUER: %w", err)
		}
		if verifier, err = authn.NewVerifierSet(verifier, external); err != nil {
			return nil, err
		}
	}
	a.Auth, err = authn.New(verifier, authn.Options{Cookie: SessionCookie, CookieSafeMethodsOnly: true})
	if err != nil {
		return nil, err
	}

	// The limiter runs after Identify: a caller with a valid token is
	// limited as itself, anyone else by address, so that token guessing and
	// login attempts are limited too.
	byAddress := ratelimit.ClientIP(ratelimit.ClientIPOptions{TrustedProxies: cfg.TrustedProxies})
	a.Limiter = ratelimit.New(limiter, func(r *http.Request) string {
		if p, ok := authn.FromContext(r.Context()); ok {
			return principalKey("principal:", p)
		}
		return "address:" + byAddress(r)
	}, ratelimit.Options{})

	scope := func(r *http.Request) (string, error) {
		p, ok := authn.FromContext(r.Context())
		if !ok {
			return "", nil // unscoped: refused (the route requires authentication first)
		}
		return principalKey("", p), nil
	}
	if pool != nil {
		// The order and its recorded response are one transaction: a
		// crash between them leaves neither, and the retry runs cleanly.
		store := pgstore.New(pool, pgstore.Options{})
		a.Idempotency = pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, scope, idempotency.Options{})
		a.Health.Register("idempotency", store.Ping, bg)
		a.cleanup(store, 5*time.Minute)
	} else {
		a.Idempotency = idempotency.New(idemStore, scope, idempotency.Options{})
	}

	hasher, err := password.New(password.Options{})
	if err != nil {
		return nil, err
	}
	secret := cfg.CursorSecret
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	codec, err := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: secret}}, pagination.CodecOptions{TTL: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	pager, err := pagination.New(codec, orderSort, pagination.Options{DefaultLimit: 20, MaxLimit: 100, RejectOverMax: true})
	if err != nil {
		return nil, err
	}
	a.Handlers = &Handlers{
		Users: users, Orders: orders, Passwords: hasher, Signer: signer,
		Audience: cfg.Audience, TokenTTL: 15 * time.Minute, Cookie: SessionCookie, Secure: cfg.CookieSecure,
		Pager: pager, Validator: &validation.Validator{},
	}
	ok = true
	return a, nil
}

// cleanup deletes expired idempotency records every interval until the
// App closes. Every instance may run it: batches skip rows another holds.
func (a *App) cleanup(store *pgstore.Store, every time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	a.closers = append(a.closers, stop) // closers run in reverse: before the pool closes
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := store.Cleanup(ctx, 0); err != nil && ctx.Err() == nil {
					a.Logger.Warn("idempotency cleanup failed", "error", err)
				}
			}
		}
	}()
}

// principalKey is prefix followed by the identity of a principal: issuer
// and subject, so that a subject of one issuer is never taken for the
// same subject of another. It runs on every request, so it allocates only
// the string it returns.
func principalKey(prefix string, p *authn.Principal) string {
	var in, out [128]byte
	sum := sha256.Sum256(append(append(append(in[:0], p.Issuer...), 0), p.Subject...))
	return string(base64.RawURLEncoding.AppendEncode(append(out[:0], prefix...), sum[:18]))
}

// redisLogger sends go-redis's own messages (dial failures) to slog, so
// that every line the service writes is one JSON object.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// redisClient returns the client REDIS_URL or REDIS_CLUSTER_ADDRS names,
// or nil. Parsing was checked by ConfigFromEnv.
func redisClient(cfg Config, logger *slog.Logger) redis.UniversalClient {
	if cfg.RedisURL == "" && len(cfg.RedisClusterAddrs) == 0 {
		return nil
	}
	redis.SetLogger(redisLogger{logger})
	switch {
	case cfg.RedisURL != "":
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil
		}
		return redis.NewClient(opts)
	case len(cfg.RedisClusterAddrs) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.RedisClusterAddrs})
	}
	return nil
}

// signingKey reads the Ed25519 key of file, or generates one.
func signingKey(file string) (authn.Key, error) {
	var priv ed25519.PrivateKey
	if file == "" {
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
	} else {
		b, err := os.ReadFile(file)
		if err != nil {
			return authn.Key{}, err
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return authn.Key{}, errors.New("no PEM block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return authn.Key{}, err
		}
		var isEd bool
		if priv, isEd = k.(ed25519.PrivateKey); !isEd {
			return authn.Key{}, fmt.Errorf("want an Ed25519 key, got %T", k)
		}
	}
	// The kid is the key's thumbprint-like digest, stable across restarts.
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return authn.Key{ID: base64.RawURLEncoding.EncodeToString(sum[:12]), Algorithm: "EdDSA", Key: priv}, nil
}

// Serve listens on the configured address, serves handler until SIGTERM or
// SIGINT (or ctx ends), then drains: readiness fails at once, the listener
// stays open for the drain delay, in-flight requests finish, and the stores
// and telemetry are closed. It logs the address it listens on.
func (a *App) Serve(ctx context.Context, handler http.Handler) error {
	defer a.Close()
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return err
	}
	srv := a.server(handler)
	a.awaitReady(ctx, 5*time.Second)
	a.Logger.Info("listening", "addr", ln.Addr().String())
	err = a.Health.Serve(ctx, srv, func() error { return srv.Serve(ln) })
	a.Logger.Info("shut down")
	return err
}

// server is the *http.Server that Serve runs: bounded reads and writes,
// so that a slow or idle client cannot hold a connection forever.
func (a *App) server(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
}

// awaitReady gives the background readiness checks up to limit to report
// their first results, so that /readyz is accurate from the first request:
// a check fails until its first run. A backing service that is down at
// start does not stop the service, which then starts not ready.
func (a *App) awaitReady(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for a.Health.Check(ctx, health.Ready).Status != health.StatusPass && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the background checks and closes the stores and telemetry
// New opened, last opened first. Serve calls it when it returns; a program
// that serves the App otherwise (a test, a benchmark) calls it itself.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
