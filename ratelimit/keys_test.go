package ratelimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/ratelimit"
)

func TestClientIPKey(t *testing.T) {
	key := ratelimit.ClientIP(ratelimit.ClientIPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	tests := []struct{ remote, xff, want string }{
		{"203.0.113.1:5", "1.2.3.4", "ip:203.0.113.1"},
		{"10.0.0.1:5", "1.2.3.4, 198.51.100.2", "ip:198.51.100.2"},
		{"10.0.0.1:5", "2001:db8:a:b:c::1", "ip:2001:db8:a:b::/64"},
		{"pipe", "1.2.3.4", "ip:pipe"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.remote
		req.Header.Set("X-Forwarded-For", tc.xff)
		if got := key(req); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// Options that cannot be right are programming errors: ClientIP panics at
// construction, naming the field.
func TestClientIPPanicsOnImpossibleOptions(t *testing.T) {
	for want, o := range map[string]ratelimit.ClientIPOptions{
		"Header":         {Header: "X-Real-IP"},
		"IPv6PrefixLen":  {IPv6PrefixLen: 129},
		"TrustedProxies": {TrustedProxies: []netip.Prefix{{}}},
	} {
		mustPanic(t, want, func() { ratelimit.ClientIP(o) })
	}
}

// Behind a proxy that appends its element to the client's Forwarded field
// line, as RFC 7239 allows, a client rotating a spoofed address with an
// unclosed quote must not escape its limit: the malformed value is
// untrusted, and every request is keyed alike. End to end through
// httputil.ReverseProxy.
func TestForwardedSpoofingThroughReverseProxyIsLimited(t *testing.T) {
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 5)}, ratelimit.MemoryOptions{})
	m := ratelimit.New(l, ratelimit.ClientIP(ratelimit.ClientIPOptions{
		Header:         "Forwarded",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}), ratelimit.Options{ErrorHandler: quietProblems})
	backend := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		// The client's real address, as this proxy sees it on the
		// internet, appended to its existing field line.
		const client = "for=203.0.113.7"
		if v := pr.In.Header.Get("Forwarded"); v != "" {
			pr.Out.Header.Set("Forwarded", v+", "+client)
		} else {
			pr.Out.Header.Set("Forwarded", client)
		}
	}})
	defer proxy.Close()
	admitted := 0
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest("GET", proxy.URL, nil)
		req.Header.Set("Forwarded", fmt.Sprintf(`for=198.18.%d.%d;x="`, i/256, i%256))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("%d of 50 requests with rotated spoofed addresses admitted, want the limit, 5", admitted)
	}
}

// Keying by a header's raw value would give a client a fresh budget for
// every value it makes up. Header keys only values identify recognises;
// made-up values, like a missing header, fall back to the client address.
func TestHeaderKeyIgnoresMadeUpValues(t *testing.T) {
	accounts := map[string]string{"key-issued-1": "acct-1", "key-issued-2": "acct-1"}
	key := ratelimit.Header("X-Api-Key", func(v string) (string, bool) {
		a, ok := accounts[v]
		return a, ok
	}, ratelimit.ClientIP(ratelimit.ClientIPOptions{}))
	l, _ := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("m", 5)}, ratelimit.MemoryOptions{})
	h := ratelimit.New(l, key, ratelimit.Options{ErrorHandler: quietProblems}).
		Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(remote, apiKey string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		if apiKey != "" {
			req.Header.Set("X-Api-Key", apiKey)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	admitted := 0
	for i := 0; i < 100; i++ {
		if do("198.51.100.9:1234", fmt.Sprint("made-up-", i)) == 200 {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("%d of 100 requests with made-up API keys admitted, want the address's limit, 5", admitted)
	}
	if do("198.51.100.9:1234", "") != 429 {
		t.Fatal("a request without the header escaped the address's limit")
	}
	// Issued keys are limited by account, whichever address they come from.
	for i := 0; i < 5; i++ {
		if c := do(fmt.Sprintf("192.0.2.%d:1", i), "key-issued-1"); c != 200 {
			t.Fatalf("issued key request %d: %d", i, c)
		}
	}
	if c := do("192.0.2.99:1", "key-issued-2"); c != 429 {
		t.Fatalf("a second key of the same account: %d, want 429 (one budget per account)", c)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Api-Key", "key-issued-1")
	if got := key(req); got != "h:acct-1" {
		t.Fatalf("key %q, want h:acct-1", got)
	}
}

// Subjects are bounded: a long subject must not become a long key in the
// limiter's table or in Redis.
func TestHeaderKeyBounded(t *testing.T) {
	key := ratelimit.Header("X-Api-Key", func(v string) (string, bool) { return v, true },
		func(*http.Request) string { return "fallback" })
	req := httptest.NewRequest("GET", "/", nil)
	long := strings.Repeat("x", 1<<20)
	req.Header.Set("X-Api-Key", long)
	k1 := key(req)
	req.Header.Set("X-Api-Key", long+"y")
	k2 := key(req)
	if len(k1) > 80 || len(k2) > 80 || k1 == k2 || !strings.HasPrefix(k1, "h#") {
		t.Fatalf("long values: keys %.40q (%d bytes) and %.40q", k1, len(k1), k2)
	}
	req.Header.Set("X-Api-Key", strings.Repeat("y", 64))
	if got := key(req); got != "h:"+strings.Repeat("y", 64) {
		t.Fatalf("64-byte value: %q", got)
	}
}

func TestHeaderPanicsOnNilFunctions(t *testing.T) {
	identify := func(string) (string, bool) { return "", false }
	fallback := func(*http.Request) string { return "" }
	mustPanic(t, "identify", func() { ratelimit.Header("X-Api-Key", nil, fallback) })
	mustPanic(t, "fallback", func() { ratelimit.Header("X-Api-Key", identify, nil) })
}
