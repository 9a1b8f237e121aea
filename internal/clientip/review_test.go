package clientip

import (
	"net/http"
	"testing"
)

// RFC 7239 §6.3 lets a proxy obfuscate the port of a real address
// ("192.0.2.43:_p1"); before the fix such nodes counted as garbage and every
// client behind that proxy was keyed as the proxy.
func TestReviewForwardedObfuscatedPort(t *testing.T) {
	r := mustResolver(t, Forwarded, "10.0.0.0/8")
	tests := []struct{ value, want string }{
		{`for="192.0.2.43:_p1"`, "192.0.2.43"},
		{`for="[2001:db8::17]:_hidden-1.x"`, "2001:db8::17"},
		{`for="198.51.100.7", for="10.0.0.2:_x"`, "198.51.100.7"},
		// Still garbage: obfuscated node names, empty obfuscated port,
		// unbracketed IPv6 with something port-like.
		{`for=_hidden`, "10.0.0.1"},
		{`for="192.0.2.43:_"`, "10.0.0.1"},
		{`for="2001:db8::17:_p"`, "10.0.0.1"},
		{`for="192.0.2.43:_p!"`, "10.0.0.1"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("Forwarded", tc.value)
		if got := r.Resolve(req).String(); got != tc.want {
			t.Errorf("%s: Resolve = %s, want %s", tc.value, got, tc.want)
		}
	}
}

// More spoofing attempts against X-Forwarded-For behind a trusted proxy.
func TestReviewXFFSpoofing(t *testing.T) {
	r := mustResolver(t, XForwardedFor, "10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name, remote string
		values       []string
		want         string
	}{
		{"mapped trusted hop is skipped", "10.0.0.1:80", []string{"198.51.100.7, ::ffff:10.0.0.9"}, "198.51.100.7"},
		{"zone dropped from the client address", "10.0.0.1:80", []string{"198.51.100.7, fe80::1%eth0"}, "fe80::1"},
		{"trusted IPv6 peer", "[2001:db8:ffff::5]:443", []string{"203.0.113.5"}, "203.0.113.5"},
		{"untrusted IPv6 peer with XFF", "[2001:db8:1::5]:443", []string{"203.0.113.5"}, "2001:db8:1::5"},
		{"tabs and spaces", "10.0.0.1:80", []string{"\t1.1.1.1 ,\t198.51.100.7\t"}, "198.51.100.7"},
		{"leading zeros are garbage", "10.0.0.1:80", []string{"1.2.3.4, 010.0.0.1"}, "10.0.0.1"},
		{"port out of range", "10.0.0.1:80", []string{"198.51.100.7:99999"}, "10.0.0.1"},
		{"bracketed IPv4 is tolerated", "10.0.0.1:80", []string{"[198.51.100.7]"}, "198.51.100.7"},
		{"hostname", "10.0.0.1:80", []string{"evil.example"}, "10.0.0.1"},
		{"unknown", "10.0.0.1:80", []string{"unknown"}, "10.0.0.1"},
		{"IPv4-mapped socket peer, untrusted", "[::ffff:203.0.113.9]:1", []string{"1.2.3.4"}, "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.values {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.Resolve(req).String(); got != tc.want {
				t.Fatalf("Resolve = %s, want %s", got, tc.want)
			}
		})
	}
}
