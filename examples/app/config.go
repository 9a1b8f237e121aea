package app

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the service's configuration, read from the environment by
// [ConfigFromEnv]. Every field has a default that runs the service on one
// machine with in-memory stores.
type Config struct {
	// Addr is the listen address (ADDR, default ":8080").
	Addr string
	// RedisURL (REDIS_URL, redis://…) or RedisClusterAddrs
	// (REDIS_CLUSTER_ADDRS, comma-separated host:port seeds) select Redis
	// stores for rate limiting and idempotency; neither: in-memory stores.
	RedisURL          string
	RedisClusterAddrs []string
	// DatabaseURL (DATABASE_URL, postgres://…) keeps users and orders in
	// PostgreSQL; empty: in memory.
	DatabaseURL string
	// SigningKeyFile (AUTH_SIGNING_KEY_FILE) is a PEM file holding the
	// Ed25519 private key (PKCS#8) of the tokens the service issues; empty:
	// a key generated at start, which dies with the process.
	SigningKeyFile string
	// Issuer (AUTH_ISSUER, default "backstop-example") and Audience
	// (AUTH_AUDIENCE, default "orders") are the iss and aud of the
	// service's tokens. External tokens must carry the same audience.
	Issuer   string
	Audience string
	// JWKSURL (AUTH_JWKS_URL, https only) and JWKSIssuer (AUTH_JWKS_ISSUER)
	// add an external issuer whose tokens (RS256, ES256 or EdDSA) are
	// accepted too.
	JWKSURL    string
	JWKSIssuer string
	// CursorSecret (CURSOR_SECRET) signs pagination cursors. Hex of at
	// least 32 bytes (openssl rand -hex 32) is used as is; any other text is
	// hashed to a key. Empty: random per process, so cursors do not survive
	// a restart or cross instances.
	CursorSecret []byte
	// RateLimits (RATE_LIMIT, default "100/1m") are the policies every /v1
	// request is checked against, e.g. "10/1s,1000/1h".
	RateLimits []RateLimit
	// ShutdownDrain (SHUTDOWN_DRAIN, default 5s) is how long the service
	// keeps serving with readiness failing after SIGTERM, so load balancers
	// stop sending before the listener closes.
	ShutdownDrain time.Duration
	// TrustedProxies (TRUSTED_PROXIES, comma-separated CIDRs) are the peers
	// whose X-Forwarded-For / Forwarded headers name the client.
	TrustedProxies []netip.Prefix
	// CookieSecure (COOKIE_SECURE, default true) sets the Secure attribute
	// of the session cookie; set COOKIE_SECURE=false for plain-HTTP local
	// runs.
	CookieSecure bool

	// Warnings are messages about defaults that are unsafe in production,
	// for the caller to log.
	Warnings []string
}

// RateLimit is one policy of RATE_LIMIT: Limit requests per Window.
type RateLimit struct {
	Limit  int64
	Window time.Duration
	// Name is how the policy appears in RateLimit headers: its window, such
	// as "1m" or "1h".
	Name string
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in
// main). It fails on values that are present but malformed, naming the
// variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:           or(getenv("ADDR"), ":8080"),
		RedisURL:       getenv("REDIS_URL"),
		DatabaseURL:    getenv("DATABASE_URL"),
		SigningKeyFile: getenv("AUTH_SIGNING_KEY_FILE"),
		Issuer:         or(getenv("AUTH_ISSUER"), "backstop-example"),
		Audience:       or(getenv("AUTH_AUDIENCE"), "orders"),
		JWKSURL:        getenv("AUTH_JWKS_URL"),
		JWKSIssuer:     getenv("AUTH_JWKS_ISSUER"),
		ShutdownDrain:  5 * time.Second,
		CookieSecure:   true,
	}
	var errs []error
	bad := func(name string, err error) { errs = append(errs, fmt.Errorf("%s: %w", name, err)) }

	for _, a := range strings.Split(getenv("REDIS_CLUSTER_ADDRS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.RedisClusterAddrs = append(c.RedisClusterAddrs, a)
		}
	}
	if c.RedisURL != "" && len(c.RedisClusterAddrs) > 0 {
		bad("REDIS_URL", errors.New("set REDIS_URL or REDIS_CLUSTER_ADDRS, not both"))
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		switch {
		case err != nil:
			bad("AUTH_JWKS_URL", err)
		case u.Scheme != "https" || u.Host == "":
			bad("AUTH_JWKS_URL", errors.New("must be an https URL"))
		case c.JWKSIssuer == "":
			bad("AUTH_JWKS_ISSUER", errors.New("required with AUTH_JWKS_URL: the iss of the external tokens"))
		}
	}
	if s := getenv("CURSOR_SECRET"); s != "" {
		c.CursorSecret = cursorSecret(s)
	} else {
		c.Warnings = append(c.Warnings, "CURSOR_SECRET is not set: cursors are signed with a random key and do not survive a restart")
	}
	if c.SigningKeyFile == "" {
		c.Warnings = append(c.Warnings, "AUTH_SIGNING_KEY_FILE is not set: tokens are signed with a key generated at start and die with the process")
	}
	rl, err := ParseRateLimits(or(getenv("RATE_LIMIT"), "100/1m"))
	if err != nil {
		bad("RATE_LIMIT", err)
	}
	c.RateLimits = rl
	if s := getenv("SHUTDOWN_DRAIN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			bad("SHUTDOWN_DRAIN", fmt.Errorf("want a duration such as 5s, got %q", s))
		}
		c.ShutdownDrain = d
	}
	for _, p := range strings.Split(getenv("TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			// A bare address is a /32 or /128.
			addr, err2 := netip.ParseAddr(p)
			if err2 != nil {
				bad("TRUSTED_PROXIES", fmt.Errorf("%q is not a CIDR or address", p))
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if s := getenv("COOKIE_SECURE"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad("COOKIE_SECURE", fmt.Errorf("want true or false, got %q", s))
		}
		c.CookieSecure = b
	}
	return c, errors.Join(errs...)
}

// ParseRateLimits parses policies such as "100/1m" or "10/1s,1000/1h": a
// positive count, a slash, and a window in Go's duration syntax or with a
// "d" (day) unit. Windows must differ.
func ParseRateLimits(s string) ([]RateLimit, error) {
	var out []RateLimit
	seen := map[time.Duration]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, w, ok := strings.Cut(part, "/")
		if !ok {
			return nil, fmt.Errorf("%q: want <count>/<window>, such as 100/1m", part)
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil || limit < 1 {
			return nil, fmt.Errorf("%q: the count must be a positive integer", part)
		}
		w = strings.TrimSpace(w)
		var window time.Duration
		if days, found := strings.CutSuffix(w, "d"); found {
			d, err := strconv.Atoi(days)
			if err != nil || d < 1 {
				return nil, fmt.Errorf("%q: bad window", part)
			}
			window = time.Duration(d) * 24 * time.Hour
		} else if window, err = time.ParseDuration(w); err != nil {
			return nil, fmt.Errorf("%q: bad window: %v", part, err)
		}
		if window < time.Second || window%time.Second != 0 {
			return nil, fmt.Errorf("%q: the window must be whole seconds, at least 1s", part)
		}
		if seen[window] {
			return nil, fmt.Errorf("%q: two policies with the same window", part)
		}
		seen[window] = true
		out = append(out, RateLimit{Limit: limit, Window: window, Name: w})
	}
	return out, nil
}

// cursorSecret turns CURSOR_SECRET into a key of at least 32 bytes.
func cursorSecret(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b
	}
	if len(s) >= 64 {
		return []byte(s)
	}
	sum := sha256.Sum256([]byte("backstop-example cursor secret\x00" + s))
	return sum[:]
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
