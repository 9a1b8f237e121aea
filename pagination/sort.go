package pagination

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Key is one sort key of a [Sort]: a column and its direction.
type Key struct {
	// Column is the SQL expression the rows are ordered by, written verbatim
	// into the SQL that [Sort.Keyset] renders: "created_at", "t.id",
	// "lower(name)". It is part of the sort's fingerprint, so renaming it
	// invalidates cursors in flight. Never build it from client input.
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
// Create sorts with [NewSort] or [MustSort]; the zero value is not usable.
// A Sort is immutable and safe for concurrent use.
type Sort struct {
	keys        []Key
	fingerprint [4]byte
	orderBy     [2]string // by Direction: canonical, reversed
}

// NewSort returns the sort by keys, in order. It fails when keys is empty or
// longer than 16, when a column is empty, when a column repeats, or when the
// last key, and only it, is not marked Unique.
func NewSort(keys ...Key) (*Sort, error) {
	if len(keys) == 0 {
		return nil, errors.New("pagination: a sort needs at least one key")
	}
	if len(keys) > maxValues {
		return nil, fmt.Errorf("pagination: a sort has at most %d keys", maxValues)
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if strings.TrimSpace(k.Column) == "" {
			return nil, fmt.Errorf("pagination: sort key %d has no column", i)
		}
		if seen[k.Column] {
			return nil, fmt.Errorf("pagination: sort column %q repeats", k.Column)
		}
		seen[k.Column] = true
		last := i == len(keys)-1
		if last && !k.Unique {
			return nil, fmt.Errorf("pagination: the last sort key (%q) must be a unique tie-breaker: mark it Unique", k.Column)
		}
		if !last && k.Unique {
			return nil, fmt.Errorf("pagination: sort key %q is Unique, so the keys after it are never compared: drop them", k.Column)
		}
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
	return s, nil
}

// MustSort is like [NewSort] but panics on error. It is meant for package
// level variables initialised from constants.
func MustSort(keys ...Key) *Sort {
	s, err := NewSort(keys...)
	if err != nil {
		panic(err)
	}
	return s
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
