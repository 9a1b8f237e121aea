package idempotency

import (
	"strconv"
	"strings"
)

// HeaderKey is the request header that carries the idempotency key.
const HeaderKey = "Idempotency-Key"

// Details of ParseKey's errors, all of which are problems of type
// [ErrKeyMissing] or [ErrKeyInvalid].
var (
	errMissing  = ErrKeyMissing.New("Send an Idempotency-Key header with a unique key for this operation.")
	errMultiple = ErrKeyInvalid.New("Send exactly one Idempotency-Key value.")
	errSyntax   = ErrKeyInvalid.New("Send the key as a quoted string of printable ASCII, or as a bare key of visible ASCII without quotes, backslashes or commas.")
)

func errLength(minLen, maxLen int) error {
	return ErrKeyInvalid.New("The key must be "+strconv.Itoa(minLen)+" to "+strconv.Itoa(maxLen)+" characters long.").
		With("minLength", minLen).With("maxLength", maxLen)
}

// ParseKey returns the idempotency key carried by the values of the
// Idempotency-Key header (as http.Header.Values returns them) and checks
// that its length lies in [minLen, maxLen].
//
// Two forms are accepted and give the same key:
//   - the draft's form (draft-ietf-httpapi-idempotency-key-header-07 §2.1):
//     a Structured Field String, RFC 9651 §3.3.3, such as "8e03-...", with
//     only \" and \\ as escapes and printable ASCII (0x20–0x7E) inside. As
//     the field is an Item, parameters after the string (;a=1) are parsed
//     and ignored.
//   - Stripe's bare form, such as KG5LxwFBepaKHyUD: visible ASCII
//     (0x21–0x7E) without DQUOTE, backslash or comma.
//
// Errors are problems of type [ErrKeyMissing] (no value) or [ErrKeyInvalid]
// (several header lines, a comma-separated list, bad syntax, or a length
// out of range; length counts the bytes of the decoded key). The returned
// problems are shared: do not modify them.
func ParseKey(values []string, minLen, maxLen int) (string, error) {
	switch len(values) {
	case 0:
		return "", errMissing
	case 1:
	default:
		return "", errMultiple
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return "", errMissing
	}
	var key string
	if v[0] == '"' {
		k, rest, err := parseSFString(v)
		if err != nil {
			return "", err
		}
		if err := skipParams(rest); err != nil {
			return "", err
		}
		key = k
	} else {
		for i := 0; i < len(v); i++ {
			c := v[i]
			switch {
			case c == ',':
				return "", errMultiple
			case c < 0x21 || c > 0x7e || c == '"' || c == '\\':
				return "", errSyntax
			}
		}
		key = v
	}
	if len(key) < minLen || len(key) > maxLen {
		return "", errLength(minLen, maxLen)
	}
	return key, nil
}

// parseSFString parses an sf-string at the start of s and returns the
// decoded string and the rest of s.
func parseSFString(s string) (string, string, error) {
	// Fast path: no escapes.
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return s[1:i], s[i+1:], nil
		case c == '\\':
			return parseSFStringEscaped(s)
		case c < 0x20 || c > 0x7e:
			return "", "", errSyntax
		}
	}
	return "", "", errSyntax // no closing quote
}

func parseSFStringEscaped(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", "", errSyntax
			}
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], nil
		case c < 0x20 || c > 0x7e:
			return "", "", errSyntax
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errSyntax
}

// skipParams checks that s is a valid parameter list of a Structured Field
// Item (RFC 9651 §3.1.2) and nothing else. A comma means a list, which an
// Item is not.
func skipParams(s string) error {
	for {
		s = strings.TrimRight(s, " \t")
		if s == "" {
			return nil
		}
		switch s[0] {
		case ';':
		case ',':
			return errMultiple
		default:
			return errSyntax
		}
		s = strings.TrimLeft(s[1:], " ")
		// param-key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
		if s == "" || !(isLCAlpha(s[0]) || s[0] == '*') {
			return errSyntax
		}
		i := 1
		for i < len(s) && (isLCAlpha(s[i]) || isDigit(s[i]) || strings.IndexByte("_-.*", s[i]) >= 0) {
			i++
		}
		s = s[i:]
		if s == "" || s[0] != '=' {
			continue // boolean true
		}
		rest, err := skipBareItem(s[1:])
		if err != nil {
			return err
		}
		s = rest
	}
}

// skipBareItem skips one bare item (RFC 9651 §3.3) at the start of s.
func skipBareItem(s string) (string, error) {
	if s == "" {
		return "", errSyntax
	}
	c := s[0]
	switch {
	case c == '"':
		_, rest, err := parseSFString(s)
		return rest, err
	case c == '-' || isDigit(c): // integer or decimal
		i := 0
		if c == '-' {
			i++
		}
		start := i
		for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
			i++
		}
		if i == start || i-start > 16 || s[i-1] == '.' || strings.Count(s[start:i], ".") > 1 {
			return "", errSyntax
		}
		return s[i:], nil
	case c == '?': // boolean
		if len(s) < 2 || (s[1] != '0' && s[1] != '1') {
			return "", errSyntax
		}
		return s[2:], nil
	case c == ':': // byte sequence
		end := strings.IndexByte(s[1:], ':')
		if end < 0 {
			return "", errSyntax
		}
		for i := 1; i <= end; i++ {
			b := s[i]
			if !(isAlpha(b) || isDigit(b) || b == '+' || b == '/' || b == '=') {
				return "", errSyntax
			}
		}
		return s[end+2:], nil
	case isAlpha(c) || c == '*': // token
		i := 1
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[i:], nil
	}
	return "", errSyntax
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// isTokenChar reports tchar / ":" / "/" (RFC 9651 §3.3.4).
func isTokenChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}
