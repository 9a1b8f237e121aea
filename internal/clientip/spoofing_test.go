package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// RFC 7239 §6.3 lets a proxy obfuscate the port of a real address
// ("192.0.2.43:_p1"): the address in front of it is the client, else every
// client behind that proxy would be keyed as the proxy.
func TestForwardedObfuscatedPortIsStripped(t *testing.T) {
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
func TestXFFSpoofingBehindTrustedProxy(t *testing.T) {
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

// A malformed Forwarded value must never shift element boundaries: an
// unbalanced quote, a bad escape or a malformed element anywhere in any
// field line makes the whole value untrusted, and the socket peer is the
// client. Here the client sends the left part and the trusted proxy
// appends its element for the real client, 203.0.113.7, as RFC 7239 allows.
func TestForwardedMalformedValueIsUntrusted(t *testing.T) {
	r := mustResolver(t, Forwarded, "10.0.0.0/8")
	tests := []struct {
		name   string
		values []string
	}{
		{"unclosed quote swallows the proxy's element", []string{`for=198.18.0.1;x=", for=203.0.113.7`}},
		{"unclosed quote on its own line", []string{`for=198.18.0.1;x="`, `for=203.0.113.7`}},
		{"escaped closing quote", []string{`for=198.18.0.1;x="a\", for=203.0.113.7`}},
		{"backslash at the end of a line", []string{`for=198.18.0.1;x="\`, `for=203.0.113.7`}},
		{"escaped control character", []string{"for=198.18.0.1;x=\"\\\x01\", for=203.0.113.7"}},
		{"quote inside a token", []string{`for=198.18.0.1;x=a"b, for=203.0.113.7`}},
		{"parameter without a value", []string{`for=198.18.0.1;x, for=203.0.113.7`}},
		{"empty value", []string{`for=198.18.0.1;x=, for=203.0.113.7`}},
		{"empty parameter", []string{`for=198.18.0.1;;x=1, for=203.0.113.7`}},
		{"space around the equals sign", []string{`for = 198.18.0.1, for=203.0.113.7`}},
		{"duplicate for", []string{`for=198.18.0.1;for=198.18.0.2, for=203.0.113.7`}},
		{"duplicate for in another case", []string{`for=198.18.0.1;FOR=198.18.0.2, for=203.0.113.7`}},
		{"text after a quoted string", []string{`for="198.18.0.1"x, for=203.0.113.7`}},
		{"control character", []string{"for=198.18.0.1\x00, for=203.0.113.7"}},
		{"unquoted IPv6 address", []string{`for=2001:db8::1, for=203.0.113.7`}},
		{"empty field line", []string{``, `for=203.0.113.7`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:80"
			for _, v := range tc.values {
				req.Header.Add("Forwarded", v)
			}
			if got := r.Resolve(req).String(); got != "10.0.0.1" {
				t.Fatalf("Resolve(%q) = %s, want the socket peer 10.0.0.1", tc.values, got)
			}
		})
	}
	// Well-formed values around the same shapes still resolve.
	for _, v := range []string{
		`for=198.18.0.1;x="a,b", for=203.0.113.7`,
		`for=198.18.0.1;x="a\"b", for=203.0.113.7`,
		`for=198.18.0.1 ; proto=https ,, for=203.0.113.7`,
		`for="198.18.0.1";by=_proxy, for=203.0.113.7;proto=https`,
	} {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("Forwarded", v)
		if got := r.Resolve(req).String(); got != "203.0.113.7" {
			t.Errorf("Resolve(%q) = %s, want 203.0.113.7", v, got)
		}
	}
}

// hugeXFF is an 800 KB X-Forwarded-For a client can send through a trusted
// proxy, which appends the client's real address.
func hugeXFF() string {
	return strings.Repeat("198.18.0.1, ", 800_000/len("198.18.0.1, ")) + "203.0.113.7"
}

// Resolving walks X-Forwarded-For from the right and stops at the first
// untrusted hop, so a huge header costs what the hops examined cost:
// nothing is allocated, whatever its size.
func TestXFFHugeHeaderDoesNotAllocate(t *testing.T) {
	r := mustResolver(t, XForwardedFor, "10.0.0.0/8")
	for _, value := range []string{hugeXFF(), strings.Repeat("x", 800_000), "198.18.0.1, 203.0.113.7, 10.0.0.2"} {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("X-Forwarded-For", value)
		var got netip.Addr
		if a := testing.AllocsPerRun(10, func() { got = r.Resolve(req) }); a != 0 {
			t.Errorf("%d-byte header: %v allocations per Resolve, want 0", len(value), a)
		}
		if want := "203.0.113.7"; value[0] == 'x' && got.String() != "10.0.0.1" || value[0] != 'x' && got.String() != want {
			t.Errorf("%d-byte header: Resolve = %s", len(value), got)
		}
	}
}

// A huge Forwarded value is checked in one pass that allocates nothing.
func TestForwardedHugeHeaderDoesNotAllocate(t *testing.T) {
	r := mustResolver(t, Forwarded, "10.0.0.0/8")
	value := strings.Repeat(`for=198.18.0.1;proto=https, `, 800_000/28) + `for="203.0.113.7:_p"`
	req, _ := http.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:80"
	req.Header.Set("Forwarded", value)
	var got netip.Addr
	if a := testing.AllocsPerRun(10, func() { got = r.Resolve(req) }); a != 0 {
		t.Errorf("%v allocations per Resolve, want 0", a)
	}
	if got.String() != "203.0.113.7" {
		t.Errorf("Resolve = %s", got)
	}
}

func BenchmarkResolveXFF(b *testing.B) {
	r := mustResolver(b, XForwardedFor, "10.0.0.0/8")
	for _, tc := range []struct {
		name, value string
	}{
		{"3hops", "198.18.0.1, 203.0.113.7, 10.0.0.2"},
		{"800KB", hugeXFF() + ", 10.0.0.2"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:80"
			req.Header.Set("X-Forwarded-For", tc.value)
			b.ReportAllocs()
			for b.Loop() {
				if r.Resolve(req).String() != "203.0.113.7" {
					b.Fatal("wrong address")
				}
			}
		})
	}
}

func BenchmarkResolveForwarded(b *testing.B) {
	r := mustResolver(b, Forwarded, "10.0.0.0/8")
	for _, tc := range []struct {
		name, value string
	}{
		{"3hops", `for=198.18.0.1, for=203.0.113.7;proto=https, for="10.0.0.2"`},
		{"800KB", strings.Repeat(`for=198.18.0.1;proto=https, `, 800_000/28) + `for=203.0.113.7, for="10.0.0.2"`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:80"
			req.Header.Set("Forwarded", tc.value)
			b.ReportAllocs()
			for b.Loop() {
				if r.Resolve(req) != netip.MustParseAddr("203.0.113.7") {
					b.Fatal("wrong address")
				}
			}
		})
	}
}
