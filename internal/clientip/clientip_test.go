package clientip

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustResolver(t testing.TB, h Header, cidrs ...string) *Resolver {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	r, err := New(ps, h)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveSpoofing(t *testing.T) {
	const proxy = "10.0.0.0/8"
	tests := []struct {
		name    string
		header  Header
		trusted []string
		remote  string
		values  []string
		want    string
	}{
		{"no proxies: header ignored", XForwardedFor, nil, "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer sends XFF", XForwardedFor, []string{proxy}, "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy, one hop", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client prepends fake entries", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7"}, "198.51.100.7"},
		{"client sends own XFF line", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},
		{"two trusted hops", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"9.9.9.9, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"fake trusted address on the left", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted: leftmost", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage rightmost: stop at proxy", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"198.51.100.7, not-an-ip"}, "10.0.0.1"},
		{"garbage behind trusted hop", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"1.2.3.4, <script>, 10.0.0.2"}, "10.0.0.2"},
		{"empty header", XForwardedFor, []string{proxy}, "10.0.0.1:80", nil, "10.0.0.1"},
		{"empty entry", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"1.2.3.4,"}, "10.0.0.1"},
		{"entry with port", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"IPv6 entry with zone", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"fe80::1%eth0"}, "fe80::1"},
		{"zone cannot dodge trust", XForwardedFor, []string{"fd00::/8"}, "[fd00::1%lo]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped peer is IPv4", XForwardedFor, []string{proxy}, "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped entry", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"bracketed IPv6 with port", XForwardedFor, []string{proxy}, "10.0.0.1:80", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"header of other kind ignored", Forwarded, []string{proxy}, "10.0.0.1:80", nil, "10.0.0.1"},
		{"unparseable RemoteAddr", XForwardedFor, []string{proxy}, "@unix", []string{"1.2.3.4"}, "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustResolver(t, tc.header, tc.trusted...)
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

func TestResolveForwarded(t *testing.T) {
	r := mustResolver(t, Forwarded, "10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"simple", []string{"for=198.51.100.7"}, "198.51.100.7"},
		{"quoted IPv6 with port", []string{`for="[2001:db8::17]:4711"`}, "2001:db8::17"},
		{"case and params", []string{`proto=https;By=10.0.0.1;FOR=198.51.100.7`}, "198.51.100.7"},
		{"spoofed left element", []string{`for=1.1.1.1, for=198.51.100.7;proto=http`}, "198.51.100.7"},
		{"trusted IPv6 hop", []string{`for=198.51.100.7, for="[2001:db8:ffff::1]"`}, "198.51.100.7"},
		{"quoted comma inside value", []string{`for="1.1.1.1,for=2.2.2.2", for=198.51.100.7`}, "198.51.100.7"},
		{"obfuscated identifier", []string{`for=198.51.100.7, for=_hidden`}, "10.0.0.1"},
		{"unknown", []string{`for=unknown`}, "10.0.0.1"},
		{"element without for", []string{`for=1.2.3.4, proto=https`}, "10.0.0.1"},
		{"unterminated quote", []string{`for="198.51.100.7`}, "10.0.0.1"},
		{"two field lines", []string{`for=1.1.1.1`, `for=198.51.100.7`}, "198.51.100.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:80"
			for _, v := range tc.values {
				req.Header.Add("Forwarded", v)
			}
			if got := r.Resolve(req).String(); got != tc.want {
				t.Fatalf("Resolve = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	}
	for _, tc := range tests {
		if got := Key(netip.MustParseAddr(tc.addr), 64); got != tc.want {
			t.Errorf("Key(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	if got := Key(netip.MustParseAddr("2001:db8::1"), 128); got != "2001:db8::1" {
		t.Errorf("Key /128 = %s", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("::ffff:10.0.0.0/104")} {
		if _, err := New([]netip.Prefix{p}, XForwardedFor); err == nil {
			t.Errorf("New(%v) accepted", p)
		}
	}
	if _, err := New(nil, Header(9)); err == nil {
		t.Error("New accepted unknown header")
	}
}

// checkInvariants holds for any header value: an untrusted peer is always
// the answer, and any other answer is the peer or a hop the header named.
func checkInvariants(t *testing.T, h Header, name, value string) {
	r := mustResolver(t, h, "10.0.0.0/8", "fd00::/8")
	for _, remote := range []string{"203.0.113.9:1", "10.1.2.3:80"} {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set(name, value)
		got := r.Resolve(req)
		peer, _ := ParseAddr(remote)
		if !got.IsValid() {
			t.Fatalf("invalid result for %q", value)
		}
		if !r.isTrusted(peer) {
			if got != peer {
				t.Fatalf("untrusted peer: got %v from %q", got, value)
			}
			continue
		}
		var hops []string
		if h == Forwarded {
			hops = ForwardedFor([]string{value})
		} else {
			hops = SplitXFF([]string{value})
		}
		if got != peer && !slices.ContainsFunc(hops, func(s string) bool {
			a, ok := ParseAddr(s)
			return ok && a == got
		}) {
			t.Fatalf("result %v neither peer nor in %q", got, value)
		}
		// The security property, as a reference walk: skip trusted
		// addresses from the right; the first untrusted address is the
		// client; garbage (or the left end) stops the walk at the last
		// trusted address seen, else at the peer.
		j := len(hops) - 1
		for ; j >= 0; j-- {
			if a, ok := ParseAddr(hops[j]); !ok || !r.isTrusted(a) {
				break
			}
		}
		want := peer
		if j < len(hops)-1 {
			want, _ = ParseAddr(hops[j+1]) // trusted: garbage or the left end stops here
		}
		if j >= 0 {
			if a, ok := ParseAddr(hops[j]); ok {
				want = a // untrusted: the client
			}
		}
		if got != want {
			t.Fatalf("result %v, want %v: the rightmost untrusted hop of %q", got, want, value)
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("result %v not canonical", got)
		}
		_ = Key(got, 64)
	}
}

func FuzzXFF(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.1.1.1, 10.0.0.2", " , ,", "fe80::1%eth0, 10.0.0.9", "[2001:db8::1]:80", "::ffff:1.2.3.4", strings.Repeat("1.2.3.4,", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) { checkInvariants(t, XForwardedFor, "X-Forwarded-For", v) })
}

func FuzzForwarded(f *testing.F) {
	for _, s := range []string{`for=1.2.3.4`, `for="[2001:db8::1]:80";proto=https, for=10.0.0.2`, `for="a\"b,c";by=x`, `for=unknown`, `;;,=,for`, `for="unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) { checkInvariants(t, Forwarded, "Forwarded", v) })
}
