package pagination

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Key is one sort key of a [Sort]: a column and its direction.
type Key struct {
	// Column is the column the rows are ordered by: a plain or qualified
	// SQL identifier ("created_at", "t.id", "public.items.id"), each part
	// bare (letters, digits, "_" and "$", not starting with a digit) or
	// quoted as the database quotes names that need it ("Created At",
	// `order`, [order]). It is written verbatim into the SQL that
	// [Sort.Keyset] renders, so [NewSort] refuses anything else, such as
	// an expression ("lower(name)"): sort by a generated column or a view's
	// column instead. It is part of the sort's fingerprint, so renaming it
	// invalidates cursors in flight.
	Column string
	// Desc orders by the column in descending order.
	Desc bool
	// Unique declares that no two rows share a value of this column (a
	// primary key). The last key of every sort must be unique, and only the
	// last: it is the tie-breaker that makes the order total, without which
	// rows that share a sort value are skipped or repeated at page
	// boundaries.
	Unique bool
}

// Sort is a total order over the rows of a list: sort keys ending in a
// unique tie-breaker. It renders the keyset SQL ([Sort.Keyset]) and its
// fingerprint binds cursors to it, so a cursor issued under one Sort is
// rejected under another with [ErrCursorSortMismatch].
//
// Sort keys must be NOT NULL: SQL comparisons with NULL are never true, so
// rows with NULL keys would silently drop out of the walk. Sort by
// COALESCE(col, sentinel) instead when a column is nullable.
//
// Create sorts with [NewSort]; the zero value is not usable. A Sort is
// immutable and safe for concurrent use.
type Sort struct {
	keys        []Key
	fingerprint [4]byte
	orderBy     [2]string // by Direction: canonical, reversed
}

// NewSort returns the sort by keys, in order. Sorts are declared by the
// program, typically as package variables:
//
//	var byNewest = pagination.NewSort(
//		pagination.Key{Column: "created_at", Desc: true},
//		pagination.Key{Column: "id", Desc: true, Unique: true},
//	)
//
// A sort that cannot be right is a programming error, and NewSort panics
// with a message that says why: no keys or more than 16, a column that is
// not a plain or qualified SQL identifier (see [Key].Column), a column that
// repeats, or a last key that is not marked Unique, or another key that is.
func NewSort(keys ...Key) *Sort {
	if err := checkKeys(keys); err != nil {
		panic("pagination: NewSort: " + err.Error())
	}
	s := &Sort{keys: append([]Key(nil), keys...)}
	// The fingerprint hashes a canonical spelling with length-prefixed
	// columns, so no two different sorts share a spelling.
	var spec []byte
	spec = append(spec, "backstop/pagination sort v1\x00"...)
	for _, k := range keys {
		spec = strconv.AppendInt(spec, int64(len(k.Column)), 10)
		spec = append(spec, ':')
		spec = append(spec, k.Column...)
		if k.Desc {
			spec = append(spec, 'D')
		} else {
			spec = append(spec, 'A')
		}
	}
	sum := sha256.Sum256(spec)
	copy(s.fingerprint[:], sum[:])
	s.orderBy[Forward] = s.renderOrderBy(false)
	s.orderBy[Backward] = s.renderOrderBy(true)
	return s
}

func checkKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("a sort needs at least one key")
	}
	if len(keys) > maxValues {
		return fmt.Errorf("a sort has at most %d keys", maxValues)
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if !isIdentifier(k.Column) {
			return fmt.Errorf("sort key %d: column %q is not a plain or qualified SQL identifier", i, k.Column)
		}
		if seen[k.Column] {
			return fmt.Errorf("sort column %q repeats", k.Column)
		}
		seen[k.Column] = true
		last := i == len(keys)-1
		if last && !k.Unique {
			return fmt.Errorf("the last sort key (%q) must be a unique tie-breaker: mark it Unique", k.Column)
		}
		if !last && k.Unique {
			return fmt.Errorf("sort key %q is Unique, so the keys after it are never compared: drop them", k.Column)
		}
	}
	return nil
}

// isIdentifier reports whether s is a plain or qualified SQL identifier:
// parts separated by dots, each bare or quoted with double quotes,
// backquotes or brackets.
func isIdentifier(s string) bool {
	for {
		var n int
		switch {
		case s == "":
			return false
		case s[0] == '"' || s[0] == '`':
			n = quotedLen(s, s[0])
		case s[0] == '[':
			n = quotedLen(s, ']')
		default:
			n = bareLen(s)
		}
		if n == 0 {
			return false
		}
		if s = s[n:]; s == "" {
			return true
		}
		if s[0] != '.' {
			return false
		}
		s = s[1:]
	}
}

// bareLen returns the length of the unquoted identifier at the start of s:
// a letter or "_", then letters, digits, "_" and "$".
func bareLen(s string) int {
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '$' || unicode.IsDigit(r)):
		default:
			return i
		}
	}
	return len(s)
}

// quotedLen returns the length of the quoted identifier at the start of s,
// closing quote included, where a doubled closing quote stands for itself;
// or 0 when it is not closed, is empty or holds a control character.
func quotedLen(s string, end byte) int {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return 0
		case c != end:
		case i+1 < len(s) && s[i+1] == end:
			i++ // a doubled quote
		case i == 1:
			return 0 // empty
		default:
			return i + 1
		}
	}
	return 0
}

// Keys returns a copy of the sort keys.
func (s *Sort) Keys() []Key { return append([]Key(nil), s.keys...) }

// Len returns the number of sort keys, which is also the number of values
// in every cursor of the sort.
func (s *Sort) Len() int { return len(s.keys) }

// String returns the ORDER BY list of the sort in canonical order, such as
// "created_at DESC, id DESC".
func (s *Sort) String() string { return s.orderBy[Forward] }

// OrderBy returns the ORDER BY list (without the keywords) for a query that
// travels in direction d: the canonical order for Forward, every direction
// flipped for Backward.
func (s *Sort) OrderBy(d Direction) string {
	if d == Backward {
		return s.orderBy[Backward]
	}
	return s.orderBy[Forward]
}

func (s *Sort) renderOrderBy(reverse bool) string {
	var b strings.Builder
	for i, k := range s.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.Column)
		if k.Desc != reverse {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
	}
	return b.String()
}
