package validation

import (
	"reflect"
	"strconv"
	"strings"
)

// Pointer returns the JSON Pointer (RFC 6901) to the member reached by
// tokens, in the URI fragment form that RFC 9457 uses in its examples:
// "#" for the whole document, "#/items/0/quantity" for a nested member.
// Each token is escaped ("~" as "~0", "/" as "~1"), and characters not
// allowed in a URI fragment are percent-encoded as UTF-8.
//
//	validation.Pointer("items", "0", "quantity") // "#/items/0/quantity"
//	validation.Pointer("a/b", "c~d", "e f")      // "#/a~1b/c~0d/e%20f"
func Pointer(tokens ...string) string {
	n := 1
	for _, t := range tokens {
		n += 1 + len(t)
	}
	b := make([]byte, 0, n)
	b = append(b, '#')
	for _, t := range tokens {
		b = append(b, '/')
		b = appendToken(b, t)
	}
	return string(b)
}

const upperHex = "0123456789ABCDEF"

// appendToken appends one escaped, fragment-safe reference token.
func appendToken(b []byte, t string) []byte {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '~':
			b = append(b, '~', '0')
		case c == '/':
			b = append(b, '~', '1')
		case fragmentSafe(c):
			b = append(b, c)
		default:
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xF])
		}
	}
	return b
}

// fragmentSafe reports whether c may appear unencoded in a URI fragment
// (RFC 3986 §3.5: pchar / "/" / "?"), leaving out "/" and "~", which the
// caller escapes first.
func fragmentSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '?':
		return true
	}
	return false
}

// typedPath turns a validator struct namespace (Go names, such as
// "CreateOrder.Items[0].Qty") into JSON reference tokens by walking root, the
// type that was validated. It is exact whatever the validator's tag name
// function, for names holding '.', '[' or ']' as well. It also returns the
// struct type that holds the last field, to resolve field names in params.
// ok is false when the namespace does not fit the type, as happens with
// names invented by struct-level validations.
func typedPath(root reflect.Type, structNs string) (tokens []string, parent reflect.Type, ok bool) {
	t := deref(root)
	rest := structNs
	if t == nil {
		return nil, nil, false
	}
	if t.Kind() == reflect.Struct && t.Name() != "" {
		name := t.Name()
		if !strings.HasPrefix(rest, name) {
			return nil, nil, false
		}
		rest = rest[len(name):]
		if rest != "" {
			if rest[0] != '.' {
				return nil, nil, false
			}
			rest = rest[1:]
		}
	}
	return walk(t, rest, nil, nil)
}

// walk consumes the namespace rest against type t, appending tokens.
func walk(t reflect.Type, rest string, tokens []string, parent reflect.Type) ([]string, reflect.Type, bool) {
	t = deref(t)
	if rest == "" {
		return tokens, parent, true
	}
	if rest[0] == '[' {
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			end := strings.IndexByte(rest, ']')
			if end < 2 {
				return nil, nil, false
			}
			idx := rest[1:end]
			if _, err := strconv.ParseUint(idx, 10, 64); err != nil {
				return nil, nil, false
			}
			next, ok := afterBracket(rest[end+1:])
			if !ok {
				return nil, nil, false
			}
			return walk(t.Elem(), next, append(tokens, idx), parent)
		case reflect.Map:
			// A key is printed with %v and may hold ']' itself: try each
			// closing bracket until the rest fits the element type.
			for end := 1; end < len(rest); end++ {
				if rest[end] != ']' {
					continue
				}
				next, ok := afterBracket(rest[end+1:])
				if !ok {
					continue
				}
				key := rest[1:end]
				if out, p, ok := walk(t.Elem(), next, append(tokens[:len(tokens):len(tokens)], key), parent); ok {
					return out, p, true
				}
			}
		}
		return nil, nil, false
	}
	if t.Kind() != reflect.Struct {
		return nil, nil, false
	}
	end := strings.IndexAny(rest, ".[")
	if end < 0 {
		end = len(rest)
	}
	sf, found := t.FieldByName(rest[:end])
	if !found || len(sf.Index) != 1 {
		return nil, nil, false
	}
	next := rest[end:]
	if next != "" && next[0] == '.' {
		next = next[1:]
		if next == "" {
			return nil, nil, false
		}
	}
	name, promoted, ok := jsonName(sf)
	switch {
	case !ok:
		// Not a member of the document (json:"-"): the closest thing the
		// client can see is the enclosing object.
		return tokens, t, true
	case !promoted:
		tokens = append(tokens, name)
	}
	return walk(sf.Type, next, tokens, t)
}

// afterBracket checks what may follow "[...]" in a namespace: nothing,
// another bracket, or ".field".
func afterBracket(s string) (string, bool) {
	switch {
	case s == "", s[0] == '[':
		return s, true
	case s[0] == '.' && len(s) > 1:
		return s[1:], true
	}
	return "", false
}

// namespacePath turns a validator namespace into reference tokens without
// knowing the validated type. It relies on the validator's tag name
// function for JSON names, and cannot tell a '.' or '[' inside a name from
// a separator. The root type name, when present, is dropped: it is taken
// to be present when ns and structNs start with the same segment and one of
// them goes on (with an anonymous root, the first segment is a field, whose
// JSON and Go names differ unless it has no json tag).
func namespacePath(ns, structNs string) []string {
	first, rest := rootSegment(ns)
	sfirst, srest := rootSegment(structNs)
	if first != "" && first == sfirst && (rest != "" || srest != "") && first[0] != '[' {
		ns = rest
	}
	var tokens []string
	for ns != "" {
		if ns[0] == '[' {
			end := -1
			for i := 1; i < len(ns); i++ {
				if ns[i] == ']' && (i+1 == len(ns) || ns[i+1] == '.' || ns[i+1] == '[') {
					end = i
					break
				}
			}
			if end < 0 {
				tokens = append(tokens, ns[1:])
				break
			}
			tokens = append(tokens, ns[1:end])
			ns = ns[end+1:]
			if ns != "" && ns[0] == '.' {
				ns = ns[1:]
			}
			continue
		}
		end := strings.IndexAny(ns, ".[")
		if end < 0 {
			tokens = append(tokens, ns)
			break
		}
		tokens = append(tokens, ns[:end])
		ns = ns[end:]
		if ns[0] == '.' {
			ns = ns[1:]
		}
	}
	return tokens
}

// rootSegment splits the first dotted segment off a namespace, keeping
// brackets balanced so that a generic type name such as
// "Page[example.com/x.Item]" stays whole. rest is what follows the '.'.
func rootSegment(ns string) (first, rest string) {
	depth := 0
	for i := 0; i < len(ns); i++ {
		switch ns[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				return ns[:i], ns[i+1:]
			}
		}
	}
	return ns, ""
}
