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
