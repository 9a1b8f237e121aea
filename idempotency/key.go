package idempotency

import (
	"strconv"
	"strings"
)

// HeaderKey is the request header that carries the idempotency key.
const HeaderKey = "Idempotency-Key"

// ParseKey's errors are problems of type [ErrKeyMissing] or
// [ErrKeyInvalid], built afresh for every call: the caller (and
// Options.ErrorHandler) may decorate them.
type keyError uint8

const (
	keyOK keyError = iota
	keyMissing
	keyMultiple
	keySyntax
)

func (e keyError) problem() error {
	switch e {
	case keyMissing:
		return ErrKeyMissing.New("Send an Idempotency-Key header with a unique key for this operation.")
	case keyMultiple:
		return ErrKeyInvalid.New("Send exactly one Idempotency-Key value.")
	}
	return ErrKeyInvalid.New("Send the key as a quoted string of printable ASCII, or as a bare key of visible ASCII without quotes, backslashes or commas.")
}

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
// out of range; length counts the bytes of the decoded key). Each call
// returns a new problem, which the caller may modify.
func ParseKey(values []string, minLen, maxLen int) (string, error) {
	key, kerr := parseKey(values)
	if kerr != keyOK {
		return "", kerr.problem()
	}
	if len(key) < minLen || len(key) > maxLen {
		return "", errLength(minLen, maxLen)
	}
	return key, nil
}

func parseKey(values []string) (string, keyError) {
	switch len(values) {
	case 0:
		return "", keyMissing
	case 1:
	default:
		return "", keyMultiple
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return "", keyMissing
	}
	if v[0] == '"' {
		k, rest, err := parseSFString(v)
		if err != keyOK {
			return "", err
		}
		if err := skipParams(rest); err != keyOK {
			return "", err
		}
		return k, keyOK
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',':
			return "", keyMultiple
		case c < 0x21 || c > 0x7e || c == '"' || c == '\\':
			return "", keySyntax
		}
	}
	return v, keyOK
}

// parseSFString parses an sf-string at the start of s and returns the
// decoded string and the rest of s.
func parseSFString(s string) (string, string, keyError) {
	// Fast path: no escapes.
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return s[1:i], s[i+1:], keyOK
		case c == '\\':
			return parseSFStringEscaped(s)
		case c < 0x20 || c > 0x7e:
			return "", "", keySyntax
		}
	}
	return "", "", keySyntax // no closing quote
}

func parseSFStringEscaped(s string) (string, string, keyError) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", "", keySyntax
			}
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], keyOK
		case c < 0x20 || c > 0x7e:
			return "", "", keySyntax
		default:
			b.WriteByte(c)
		}
	}
	return "", "", keySyntax
}

// skipParams checks that s is a valid parameter list of a Structured Field
// Item (RFC 9651 §3.1.2) and nothing else. A comma means a list, which an
// Item is not.
func skipParams(s string) keyError {
	for {
		s = strings.TrimRight(s, " \t")
		if s == "" {
			return keyOK
		}
		switch s[0] {
		case ';':
		case ',':
			return keyMultiple
		default:
			return keySyntax
		}
		s = strings.TrimLeft(s[1:], " ")
		// param-key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
		if s == "" || !(isLCAlpha(s[0]) || s[0] == '*') {
			return keySyntax
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
		if err != keyOK {
			return err
		}
		s = rest
	}
}

// skipBareItem skips one bare item (RFC 9651 §3.3) at the start of s.
func skipBareItem(s string) (string, keyError) {
	if s == "" {
		return "", keySyntax
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
			return "", keySyntax
		}
		return s[i:], keyOK
	case c == '?': // boolean
		if len(s) < 2 || (s[1] != '0' && s[1] != '1') {
			return "", keySyntax
		}
		return s[2:], keyOK
	case c == ':': // byte sequence
		end := strings.IndexByte(s[1:], ':')
		if end < 0 {
			return "", keySyntax
		}
		for i := 1; i <= end; i++ {
			b := s[i]
			if !(isAlpha(b) || isDigit(b) || b == '+' || b == '/' || b == '=') {
				return "", keySyntax
			}
		}
		return s[end+2:], keyOK
	case isAlpha(c) || c == '*': // token
		i := 1
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[i:], keyOK
	}
	return "", keySyntax
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// isTokenChar reports tchar / ":" / "/" (RFC 9651 §3.3.4).
func isTokenChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}
