package clientip

import (
	"net/netip"
	"strings"
)

// The RFC 7239 Forwarded header: its grammar, checked whole, and its
// elements, read from the right.

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
