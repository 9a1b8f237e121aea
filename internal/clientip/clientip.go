// Package clientip finds the client address of an HTTP request behind
// trusted reverse proxies, following the rules in
// https://adam-p.ca/blog/2022/03/x-forwarded-for/: the socket peer is the
// client unless it is a configured trusted proxy; then the forwarding header
// is read from the right, skipping trusted hops, and the first untrusted
// address is the client. The leftmost entries are written by the client
// itself and are never believed.
package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// Header selects the forwarding header a Resolver reads.
type Header int

const (
	// XForwardedFor reads X-Forwarded-For (all field lines, in order).
	XForwardedFor Header = iota
	// Forwarded reads the RFC 7239 Forwarded header's for= parameters.
	Forwarded
)

// Resolver finds client addresses. It is immutable and safe for concurrent
// use. The zero value trusts no proxy and returns the socket peer.
type Resolver struct {
	trusted []netip.Prefix
	header  Header
}

// New returns a Resolver trusting the given proxy networks. Prefixes are
// masked; IPv4-mapped IPv6 prefixes are rejected to avoid ambiguity.
func New(trusted []netip.Prefix, header Header) (*Resolver, error) {
	if header != XForwardedFor && header != Forwarded {
		return nil, errors.New("clientip: unknown header")
	}
	r := &Resolver{header: header}
	for _, p := range trusted {
		if !p.IsValid() {
			return nil, errors.New("clientip: invalid trusted prefix")
		}
		if p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, errors.New("clientip: trusted prefix " + p.String() + " must be plain IPv4 or IPv6")
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of req, or the zero Addr when
// req.RemoteAddr itself is not an address (a custom listener); callers then
// key on the raw RemoteAddr instead of skipping.
//
// X-Forwarded-For is walked from the right, entry by entry, without
// splitting the value: the cost is that of the hops examined, whatever the
// header's size, and nothing is allocated. A Forwarded value is first
// checked whole against the RFC 7239 grammar in one pass that allocates
// nothing (a quote far to the left changes the meaning of everything after
// it), then walked from the right the same way; if any field line is
// malformed the whole value is untrusted and the socket peer is the client.
func (r *Resolver) Resolve(req *http.Request) netip.Addr {
	peer, ok := ParseAddr(req.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	// The names are canonical: index the map rather than canonicalise.
	if r.header == Forwarded {
		lines := req.Header["Forwarded"]
		for _, v := range lines {
			if !validForwarded(v) {
				return peer
			}
		}
		h := forwardedHops{fieldLines{lines: lines}}
		return r.walk(peer, h.next)
	}
	h := xffHops{fieldLines{lines: req.Header["X-Forwarded-For"]}}
	return r.walk(peer, h.next)
}

// walk reads hops from the right. An address a trusted proxy could not have
// written (unparseable, "unknown", obfuscated) ends the walk at that proxy:
// grouping such requests under the proxy is safer than believing anything
// further left.
func (r *Resolver) walk(peer netip.Addr, next func() (netip.Addr, bool, bool)) netip.Addr {
	last := peer
	for {
		a, isAddr, more := next()
		if !more {
			return last
		}
		if !isAddr {
			return last
		}
		if !r.isTrusted(a) {
			return a
		}
		last = a
	}
}

// maxHop is the longest X-Forwarded-For entry, spaces included, that can
// be an address ("[" IPv6 with a zone "]:" port); a longer one is garbage
// and is not searched for its end.
const maxHop = 256

// fieldLines hands out a header's field lines from the last.
type fieldLines struct {
	lines  []string
	cur    string // the part of the current line not yet read
	inLine bool
}

// line makes cur the line being read, taking the next one when the
// current one is done; false when none is left.
func (f *fieldLines) line() bool {
	if !f.inLine {
		if len(f.lines) == 0 {
			return false
		}
		f.cur = f.lines[len(f.lines)-1]
		f.lines = f.lines[:len(f.lines)-1]
		f.inLine = true
	}
	return true
}

// xffHops iterates the comma-separated entries of X-Forwarded-For field
// lines from the right: the last line first, each line's last entry first.
// Empty entries are entries (garbage).
type xffHops struct{ fieldLines }

// next returns the next entry's address; isAddr is false for garbage, more
// false when no entry is left.
func (h *xffHops) next() (a netip.Addr, isAddr, more bool) {
	if !h.line() {
		return netip.Addr{}, false, false
	}
	// Look for the entry's start only within maxHop+1 bytes of its end.
	from := max(0, len(h.cur)-maxHop-1)
	i := strings.LastIndexByte(h.cur[from:], ',')
	if i < 0 {
		if from > 0 {
			return netip.Addr{}, false, true // an entry longer than maxHop
		}
		hop := h.cur
		h.cur, h.inLine = "", false
		a, ok := ParseAddr(strings.TrimSpace(hop))
		return a, ok, true
	}
	i += from
	hop := h.cur[i+1:]
	h.cur = h.cur[:i]
	if len(hop) > maxHop {
		return netip.Addr{}, false, true
	}
	a, isAddr = ParseAddr(strings.TrimSpace(hop))
	return a, isAddr, true
}

// forwardedHops iterates the elements of valid Forwarded field lines from
// the right, skipping empty list elements.
type forwardedHops struct{ fieldLines }

// next returns the for= address of the next element; isAddr is false when
// the element has no for= parameter or its node is not an address.
func (h *forwardedHops) next() (a netip.Addr, isAddr, more bool) {
	for {
		if !h.line() {
			return netip.Addr{}, false, false
		}
		i := lastListComma(h.cur)
		elem := h.cur[i+1:]
		if i < 0 {
			h.cur, h.inLine = "", false
		} else {
			h.cur = h.cur[:i]
		}
		if elem = strings.Trim(elem, " \t"); elem == "" {
			continue // an empty list element is no element (RFC 9110 §5.6.1)
		}
		node, ok := forNode(elem)
		if !ok {
			return netip.Addr{}, false, true
		}
		a, ok := ParseAddr(stripObfuscatedPort(node))
		return a, ok, true
	}
}

// lastListComma returns the index of the last comma of v outside quoted
// strings, or -1. v must be valid: then, scanning from the right, a quote
// preceded by an odd run of backslashes is escaped (backslashes occur only
// inside quoted strings, in pairs with the character they escape), and
// every other quote opens or closes a string.
func lastListComma(v string) int {
	quoted := false
	for i := len(v) - 1; i >= 0; i-- {
		switch v[i] {
		case '"':
			n := 0
			for j := i - 1; j >= 0 && v[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				quoted = !quoted
			}
		case ',':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// forNode returns the value of the for parameter of a valid, non-empty
// Forwarded element, unquoted. A quoted value with an escape is reported
// as no node: a proxy writing an address never escapes it.
func forNode(elem string) (string, bool) {
	for elem != "" {
		eq := strings.IndexByte(elem, '=')
		name := strings.TrimLeft(elem[:eq], " \t;")
		rest := elem[eq+1:]
		var val string
		if rest[0] == '"' {
			end := 1
			for rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			val, rest = rest[:end+1], rest[end+1:]
		} else {
			end := strings.IndexAny(rest, " \t;")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if strings.EqualFold(name, "for") {
			if val[0] == '"' {
				val = val[1 : len(val)-1]
				if strings.IndexByte(val, '\\') >= 0 {
					return "", false
				}
			}
			return val, true
		}
		elem = rest
	}
	return "", false
}

// validForwarded reports whether v is a Forwarded field line of RFC 7239
// §4: a list of elements, each one or more name=value pairs separated by
// semicolons, names tokens, values tokens or quoted strings (RFC 9110
// §5.6), no parameter of RFC 7239 twice in an element. Spaces and tabs
// may surround commas and semicolons; empty list elements are allowed
// (RFC 9110 §5.6.1), but not an empty line or an empty pair.
func validForwarded(v string) bool {
	i, n := 0, len(v)
	skipOWS := func() {
		for i < n && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	pairs := 0
	var seen uint8 // RFC 7239 parameters seen in this element
	for {
		skipOWS()
		if i == n {
			return pairs > 0
		}
		if v[i] == ',' { // an empty list element, or the end of one
			i++
			seen = 0
			continue
		}
		// A pair: token "=" (token / quoted-string).
		start := i
		for i < n && isTchar(v[i]) {
			i++
		}
		if i == start || i == n || v[i] != '=' {
			return false
		}
		if bit := paramBit(v[start:i]); bit != 0 {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
		}
		i++
		if i == n {
			return false
		}
		if v[i] == '"' {
			i++
			for {
				if i == n {
					return false // unclosed
				}
				c := v[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i == n || class[v[i]]&quotedPair == 0 {
						return false
					}
				} else if class[c]&qdtext == 0 {
					return false
				}
				i++
			}
		} else {
			start = i
			for i < n && isTchar(v[i]) {
				i++
			}
			if i == start {
				return false
			}
		}
		pairs++
		// After a pair: the end, a comma, or a semicolon and another pair.
		skipOWS()
		if i == n {
			return true
		}
		switch v[i] {
		case ',':
			i++
			seen = 0
		case ';':
			i++
			skipOWS()
			if i == n || v[i] == ',' || v[i] == ';' {
				return false // an empty pair
			}
		default:
			return false
		}
	}
}

// paramBit returns a bit for each parameter RFC 7239 defines, 0 for others.
func paramBit(name string) uint8 {
	switch {
	case strings.EqualFold(name, "for"):
		return 1
	case strings.EqualFold(name, "by"):
		return 2
	case strings.EqualFold(name, "host"):
		return 4
	case strings.EqualFold(name, "proto"):
		return 8
	}
	return 0
}

// Byte classes of the Forwarded grammar, looked up in one table.
const (
	tchar      = 1 << iota // may appear in a token (RFC 9110 §5.6.2)
	qdtext                 // may appear unescaped in a quoted string
	quotedPair             // may follow a backslash in a quoted string
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0 {
			t[c] |= tchar
		}
		if b == '\t' || b == ' ' || b == 0x21 || b >= 0x23 && b <= 0x5b || b >= 0x5d && b <= 0x7e || b >= 0x80 {
			t[c] |= qdtext
		}
		if b == '\t' || b == ' ' || b >= 0x21 && b <= 0x7e || b >= 0x80 {
			t[c] |= quotedPair
		}
	}
	return t
}()

func isTchar(c byte) bool { return class[c]&tchar != 0 }

// stripObfuscatedPort removes an RFC 7239 obfuscated port ("_" then
// ALPHA / DIGIT / "." / "_" / "-") from a node, "192.0.2.43:_p1" or
// "[2001:db8::1]:_p1": the address in front of it is real, and treating the
// whole node as garbage would key every client of that proxy as the proxy.
func stripObfuscatedPort(v string) string {
	i := strings.LastIndex(v, ":_")
	if i <= 0 || (v[i-1] != ']' && strings.Contains(v[:i], ":")) {
		return v
	}
	for _, c := range []byte(v[i+2:]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return v
		}
	}
	if i+2 == len(v) {
		return v
	}
	return v[:i]
}

// ParseAddr parses a host address as found in RemoteAddr, X-Forwarded-For
// or a Forwarded for= value: "192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]:80", "[2001:db8::1]". IPv6 zones are dropped and
// IPv4-mapped IPv6 addresses are unmapped, so one host has one form.
func ParseAddr(s string) (netip.Addr, bool) {
	// Try host:port first when s looks like it has a port (RemoteAddr
	// always does): a failed parse allocates its error.
	if len(s) > 0 && (s[0] == '[' || strings.Count(s, ":") == 1) {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().WithZone("").Unmap(), true
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
				a, err = netip.ParseAddr(s[1 : len(s)-1])
			}
			if err != nil {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.WithZone("").Unmap(), true
}

// Key returns a's rate-limit key: the address itself for IPv4, and its
// network of v6Bits bits for IPv6 (a single host usually owns a whole /64).
func Key(a netip.Addr, v6Bits int) string {
	var buf [64]byte
	return string(AppendKey(buf[:0], a, v6Bits))
}

// AppendKey appends Key(a, v6Bits) to dst.
func AppendKey(dst []byte, a netip.Addr, v6Bits int) []byte {
	if a.Is4() || v6Bits >= 128 {
		return a.AppendTo(dst)
	}
	p, err := a.Prefix(v6Bits)
	if err != nil {
		return a.AppendTo(dst)
	}
	return p.AppendTo(dst)
}
