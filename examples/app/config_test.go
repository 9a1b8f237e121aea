package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Issuer != "backstop-example" || c.Audience != "orders" ||
		c.ShutdownDrain != 5*time.Second || !c.CookieSecure || c.CursorSecret != nil {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.RateLimits) != 1 || c.RateLimits[0] != (RateLimit{Limit: 100, Window: time.Minute, Name: "1m"}) {
		t.Errorf("default rate limit %+v", c.RateLimits)
	}
	if len(c.Warnings) != 2 {
		t.Errorf("want warnings for the generated signing key and cursor secret: %q", c.Warnings)
	}
}

func TestConfigValues(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{
		"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000, 10.0.0.2:7000,",
		"AUTH_JWKS_URL":       "https://idp.example/.well-known/jwks.json",
		"AUTH_JWKS_ISSUER":    "https://idp.example/",
		"CURSOR_SECRET":       strings.Repeat("ab", 32),
		"RATE_LIMIT":          "10/1s, 1000/1h,5000/1d",
		"SHUTDOWN_DRAIN":      "250ms",
		"TRUSTED_PROXIES":     "10.0.0.0/8,192.168.1.7,2001:db8::/32",
		"COOKIE_SECURE":       "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RedisClusterAddrs) != 2 || c.CookieSecure || c.ShutdownDrain != 250*time.Millisecond {
		t.Errorf("%+v", c)
	}
	if len(c.CursorSecret) != 32 || c.CursorSecret[0] != 0xab {
		t.Errorf("hex CURSOR_SECRET not decoded: %x", c.CursorSecret)
	}
	if len(c.RateLimits) != 3 || c.RateLimits[2].Window != 24*time.Hour || c.RateLimits[0].Name != "1s" {
		t.Errorf("rate limits %+v", c.RateLimits)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if len(c.TrustedProxies) != 3 || c.TrustedProxies[0] != want[0] || c.TrustedProxies[1] != want[1] || c.TrustedProxies[2] != want[2] {
		t.Errorf("trusted proxies %v", c.TrustedProxies)
	}
}

func TestConfigShortCursorSecretIsStretched(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{"CURSOR_SECRET": "short"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CursorSecret) < 32 {
		t.Errorf("cursor secret of %d bytes", len(c.CursorSecret))
	}
}

func TestConfigRejects(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"both redis":          {"REDIS_URL": "redis://x", "REDIS_CLUSTER_ADDRS": "a:1"},
		"http jwks":           {"AUTH_JWKS_URL": "http://idp.example/jwks", "AUTH_JWKS_ISSUER": "x"},
		"jwks without issuer": {"AUTH_JWKS_URL": "https://idp.example/jwks"},
		"rate limit syntax":   {"RATE_LIMIT": "100"},
		"rate limit zero":     {"RATE_LIMIT": "0/1m"},
		"rate limit window":   {"RATE_LIMIT": "5/10ms"},
		"duplicate window":    {"RATE_LIMIT": "5/1m,10/60s"},
		"drain":               {"SHUTDOWN_DRAIN": "soon"},
		"proxy":               {"TRUSTED_PROXIES": "10.0.0.0/99"},
		"cookie":              {"COOKIE_SECURE": "maybe"},
	} {
		if _, err := ConfigFromEnv(env(e)); err == nil {
			t.Errorf("%s: accepted %v", name, e)
		}
	}
}
