package otelx

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
	}{
		{"example.com", "example.com", -1},
		{"example.com:8080", "example.com", 8080},
		{"example.com:", "example.com", -1},
		{"example.com:http", "example.com", -1},
		{"example.com:70000", "example.com", -1},
		{"[::1]", "::1", -1},
		{"[::1]:443", "::1", 443},
		{"[::1", "", -1},
		{":9000", "", 9000},
		{"", "", -1},
		{"a:b:c", "", -1},
	} {
		host, port := splitHostPort(tc.in)
		if host != tc.host || port != tc.port {
			t.Errorf("splitHostPort(%q) = %q, %d; want %q, %d", tc.in, host, port, tc.host, tc.port)
		}
	}
}

// FuzzRequestAttributes feeds client-controlled request fields (Host,
// method, protocol, X-Forwarded-For, User-Agent) to the attribute and
// naming code: it must not panic, the span name's method and the metric
// method must stay within the conventions' closed sets, and
// splitHostPort must agree with net.SplitHostPort where that succeeds.
func FuzzRequestAttributes(f *testing.F) {
	f.Add("example.com:8080", "GET", "HTTP/1.1", "198.51.100.1, 10.0.0.1", "curl/8")
	f.Add("[::1]:443", "get", "HTTP/2.0", "", "")
	f.Add("[::1", "PURGE", "QUIC/1", ",", "x")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, host, method, proto, xff, ua string) {
		r := &http.Request{Method: method, Host: host, Proto: proto, RemoteAddr: host,
			Header: http.Header{"X-Forwarded-For": {xff}, "User-Agent": {ua}}}
		attrs := appendRequestAttrs(nil, r)
		if len(attrs) > 13 {
			t.Errorf("%d span attributes", len(attrs))
		}
		switch m := spanMethod(method); m {
		case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "HTTP":
		default:
			t.Errorf("span method %q", m)
		}
		if m := metricMethod(method); m != "_OTHER" && spanMethod(method) != m {
			t.Errorf("metric method %q for %q", m, method)
		}
		name := spanName(method, routeOfPattern(host), host)
		if !strings.HasPrefix(name, spanMethod(method)) {
			t.Errorf("span name %q", name)
		}
		h, p := splitHostPort(host)
		if nh, np, err := net.SplitHostPort(host); err == nil {
			if n, err := strconv.ParseUint(np, 10, 16); err == nil && (h != nh || p != int(n)) {
				t.Errorf("splitHostPort(%q) = %q, %d; net says %q, %s", host, h, p, nh, np)
			}
		}
		if p < -1 || p > 65535 {
			t.Errorf("port %d", p)
		}
		if utf8.ValidString(host) && !utf8.ValidString(h) {
			t.Errorf("host %q from %q", h, host)
		}
		_ = metricKey{method: metricMethod(method), proto: proto}.set()
	})
}
