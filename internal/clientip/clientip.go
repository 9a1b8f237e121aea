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
func (r *Resolver) Resolve(req *http.Request) netip.Addr {
	peer, ok := ParseAddr(req.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	var hops []string
	if r.header == Forwarded {
		hops = ForwardedFor(req.Header.Values("Forwarded"))
	} else {
		hops = SplitXFF(req.Header.Values("X-Forwarded-For"))
	}
	return r.pick(peer, hops)
}

// pick walks hops from the right. An address a trusted proxy could not have
// written (unparseable, "unknown", obfuscated) ends the walk at that proxy:
// grouping such requests under the proxy is safer than believing anything
// further left.
func (r *Resolver) pick(peer netip.Addr, hops []string) netip.Addr {
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := ParseAddr(hops[i])
		if !ok {
			return last
		}
		if !r.isTrusted(a) {
			return a
		}
		last = a
	}
	return last
}

// SplitXFF splits X-Forwarded-For field lines into hops, left to right.
func SplitXFF(values []string) []string {
	var hops []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	return hops
}

// ForwardedFor returns the for= value of each element of the Forwarded field
// lines, left to right, unquoted; "" for an element without one. Quoted
// strings may contain commas and semicolons.
func ForwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		elem := ""
		inElem := false
		for len(v) > 0 {
			v = strings.TrimLeft(v, " \t")
			if v == "" {
				break
			}
			if v[0] == ',' {
				hops = append(hops, elem)
				elem, inElem = "", false
				v = v[1:]
				continue
			}
			if v[0] == ';' {
				v = v[1:]
				continue
			}
			inElem = true
			// name
			eq := strings.IndexAny(v, "=,;")
			if eq < 0 || v[eq] != '=' {
				// A parameter without a value: malformed, skip it.
				if eq < 0 {
					v = ""
				} else {
					v = v[eq:]
				}
				elem = "\x00" // poison: a broken element is not an address
				continue
			}
			name := strings.TrimSpace(v[:eq])
			v = v[eq+1:]
			var val string
			if strings.HasPrefix(v, `"`) {
				var b strings.Builder
				i := 1
				closed := false
				for ; i < len(v); i++ {
					c := v[i]
					if c == '\\' && i+1 < len(v) {
						i++
						b.WriteByte(v[i])
						continue
					}
					if c == '"' {
						closed = true
						i++
						break
					}
					b.WriteByte(c)
				}
				val = b.String()
				if !closed {
					val = "\x00"
				}
				v = v[i:]
			} else {
				end := strings.IndexAny(v, ",;")
				if end < 0 {
					end = len(v)
				}
				val = strings.TrimSpace(v[:end])
				v = v[end:]
			}
			if strings.EqualFold(name, "for") {
				elem = stripObfuscatedPort(val)
			}
		}
		if inElem || elem != "" {
			hops = append(hops, elem)
		}
	}
	return hops
}

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
