package clientip

import (
	"net/http"
	"net/netip"
	"regexp"
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

// refHop is one hop of the reference: an address or garbage.
type refHop struct {
	addr netip.Addr
	ok   bool
}

// Regular expressions of the Forwarded grammar (RFC 7239 §4, RFC 9110
// §5.6), over a line whose bytes from 0x80 are replaced by '[' (Go's
// regexp reads UTF-8; obs-text and '[' are both allowed only in quoted
// strings, so the replacement keeps a line valid or invalid).
var (
	refToken  = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
	refQuoted = `"(?:[\t !#-\[\]-~]|\\[\t -~])*"`
	refPair   = `(` + refToken + `)=(` + refToken + `|` + refQuoted + `)`
	refElem   = refPair + `(?:[ \t]*;[ \t]*` + refPair + `)*`
	refLine   = regexp.MustCompile(`^[ \t]*(?:` + refElem + `)?[ \t]*(?:,[ \t]*(?:` + refElem + `)?[ \t]*)*$`)
	refElemRE = regexp.MustCompile(refElem)
	refPairRE = regexp.MustCompile(refPair)
)

// refForwarded returns the hops of one Forwarded field line, left to
// right, or false when the line is malformed.
func refForwarded(line string) ([]refHop, bool) {
	mapped := []byte(line)
	for i, c := range mapped {
		if c >= 0x80 {
			mapped[i] = '['
		}
	}
	m := string(mapped)
	if !refLine.MatchString(m) {
		return nil, false
	}
	var hops []refHop
	for _, e := range refElemRE.FindAllStringIndex(m, -1) {
		seen := map[string]bool{}
		hop := refHop{}
		for _, p := range refPairRE.FindAllStringSubmatchIndex(m[e[0]:e[1]], -1) {
			name := strings.ToLower(line[e[0]+p[2] : e[0]+p[3]])
			val := line[e[0]+p[4] : e[0]+p[5]]
			switch name {
			case "for", "by", "host", "proto":
				if seen[name] {
					return nil, false
				}
				seen[name] = true
			}
			if name != "for" {
				continue
			}
			if strings.HasPrefix(val, `"`) {
				val = val[1 : len(val)-1]
				if strings.Contains(val, `\`) {
					continue // escaped: not an address a proxy wrote
				}
			}
			hop.addr, hop.ok = ParseAddr(stripObfuscatedPort(val))
		}
		hops = append(hops, hop)
	}
	return hops, len(hops) > 0
}

// referenceResolve is the specification Resolve is fuzzed against, written
// for clarity rather than speed: it takes the header value whole (every
// Forwarded field line must be valid, checked by a regular expression, or
// the peer is the client), splits it into hops from the left, and walks
// them from the right: trusted addresses are skipped, the first untrusted
// address is the client, garbage stops the walk at the last trusted hop.
func referenceResolve(r *Resolver, h Header, peer netip.Addr, lines []string) netip.Addr {
	if !r.isTrusted(peer) {
		return peer
	}
	var hops []refHop
	for _, v := range lines {
		if h == Forwarded {
			line, ok := refForwarded(v)
			if !ok {
				return peer
			}
			hops = append(hops, line...)
			continue
		}
		for _, part := range strings.Split(v, ",") {
			if len(part) > maxHop {
				hops = append(hops, refHop{})
				continue
			}
			a, ok := ParseAddr(strings.TrimSpace(part))
			hops = append(hops, refHop{a, ok})
		}
	}
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].ok {
			return last
		}
		if !r.isTrusted(hops[i].addr) {
			return hops[i].addr
		}
		last = hops[i].addr
	}
	return last
}

// checkAgainstReference resolves value (field lines separated by "\n")
// from an untrusted and a trusted peer and compares with the reference.
func checkAgainstReference(t *testing.T, h Header, name, value string) {
	r := mustResolver(t, h, "10.0.0.0/8", "fd00::/8")
	lines := strings.Split(value, "\n")
	for _, remote := range []string{"203.0.113.9:1", "10.1.2.3:80"} {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header[name] = lines
		got := r.Resolve(req)
		peer, _ := ParseAddr(remote)
		if want := referenceResolve(r, h, peer, lines); got != want {
			t.Fatalf("Resolve(%q) from %s = %v, reference %v", lines, remote, got, want)
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("result %v not canonical", got)
		}
	}
}

func FuzzXFF(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.1.1.1, 10.0.0.2", " , ,", "fe80::1%eth0, 10.0.0.9", "[2001:db8::1]:80",
		"::ffff:1.2.3.4", strings.Repeat("1.2.3.4,", 20), "1.1.1.1\n10.0.0.2, 10.0.0.3", strings.Repeat("x", 300) + ", 10.0.0.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) { checkAgainstReference(t, XForwardedFor, "X-Forwarded-For", v) })
}

func FuzzForwarded(f *testing.F) {
	for _, s := range []string{`for=1.2.3.4`, `for="[2001:db8::1]:80";proto=https, for=10.0.0.2`, `for="a\"b,c";by=x`,
		`for=unknown`, `;;,=,for`, `for="unterminated`, `for=198.18.0.1;x=", for=203.0.113.7`,
		"for=198.18.0.1;x=\"\nfor=203.0.113.7", `for="198.51.100.7:_p", , for=10.0.0.2 ; proto=http`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) { checkAgainstReference(t, Forwarded, "Forwarded", v) })
}
