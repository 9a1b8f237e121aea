package pagination

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect is the SQL flavour [Sort.Keyset] renders: its placeholder style
// and whether it compares row values.
type Dialect uint8

const (
	// Postgres numbers placeholders $1, $2 … and compares row values. Use
	// it with pgx, lib/pq, CockroachDB and sqlc for PostgreSQL.
	Postgres Dialect = iota
	// MySQL uses ? placeholders and compares row values.
	MySQL
	// SQLite uses ? placeholders and compares row values (SQLite 3.15+).
	SQLite
	// SQLServer numbers placeholders @p1, @p2 … and, lacking row values,
	// always gets the expanded form.
	SQLServer
)

func (d Dialect) numbered() bool  { return d == Postgres || d == SQLServer }
func (d Dialect) rowValues() bool { return d != SQLServer }

func (d Dialect) placeholder(b *strings.Builder, n int) {
	switch d {
	case Postgres:
		b.WriteByte('$')
	case SQLServer:
		b.WriteString("@p")
	default:
		b.WriteByte('?')
		return
	}
	b.WriteString(strconv.Itoa(n))
}

// Keyset is the SQL that selects one page after (or before) a cursor.
type Keyset struct {
	// Predicate selects the rows strictly beyond the cursor in the travel
	// direction, in parentheses, such as "((created_at, id) < ($1, $2))".
	// It is empty on the first page.
	Predicate string
	// Args are the arguments of the predicate's placeholders, in order.
	Args []any
	// OrderBy is the ORDER BY list, without the keywords, of the travel
	// direction: reversed for backward pages.
	OrderBy string
}

// Where returns " WHERE " and the predicate, or "" on the first page: for
// queries with no other condition.
func (k Keyset) Where() string {
	if k.Predicate == "" {
		return ""
	}
	return " WHERE " + k.Predicate
}

// And returns " AND " and the predicate, or "" on the first page: to append
// to a WHERE clause of your own.
func (k Keyset) And() string {
	if k.Predicate == "" {
		return ""
	}
	return " AND " + k.Predicate
}

// Keyset renders the keyset predicate for cursor c (nil for the first
// page) in dialect d, numbering placeholders from argOffset+1 so the query
// can use $1 … $argOffset for its own arguments. Columns are written as the
// sort's keys spell them.
//
// The comparison follows each key's direction and the cursor's: forward
// over "created_at DESC, id DESC" is (created_at, id) < ($1, $2), backward
// is (created_at, id) > ($1, $2) with the ORDER BY flipped. When every key
// has the same direction and the dialect has row values, the predicate is
// that single row comparison, which PostgreSQL and MySQL answer with an
// index range scan. Mixed directions get the expanded form
//
//	(a >= $1 AND (a > $1 OR (a = $1 AND b < $2)))
//
// whose leading a >= $1 still bounds an index scan on a. With ? placeholders
// the arguments repeat as the predicate repeats them.
//
// Keyset fails only when c does not hold one value per sort key.
func (s *Sort) Keyset(d Dialect, c *Cursor, argOffset int) (Keyset, error) {
	if c == nil {
		return Keyset{OrderBy: s.orderBy[Forward]}, nil
	}
	if len(c.Values) != len(s.keys) {
		return Keyset{}, fmt.Errorf("pagination: cursor has %d values for a sort of %d keys", len(c.Values), len(s.keys))
	}
	argOffset = max(argOffset, 0)
	backward := c.Direction == Backward
	op := func(i int) string {
		if s.keys[i].Desc != backward {
			return "<"
		}
		return ">"
	}
	same := true
	for i := range s.keys {
		if s.keys[i].Desc != s.keys[0].Desc {
			same = false
		}
	}
	var b strings.Builder
	var args []any
	ph := func(i int) {
		d.placeholder(&b, argOffset+i+1)
		if !d.numbered() {
			args = append(args, c.Values[i])
		}
	}
	b.WriteByte('(')
	switch {
	case len(s.keys) == 1:
		b.WriteString(s.keys[0].Column)
		b.WriteString(" " + op(0) + " ")
		ph(0)
	case same && d.rowValues():
		b.WriteByte('(')
		for i, k := range s.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k.Column)
		}
		b.WriteString(") " + op(0) + " (")
		for i := range s.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			ph(i)
		}
		b.WriteByte(')')
	default:
		// a >= $1 AND (a > $1 OR (a = $1 AND (b < $2 OR (b = $2 AND c > $3))))
		b.WriteString(s.keys[0].Column + " " + op(0) + "= ")
		ph(0)
		b.WriteString(" AND ")
		for i, k := range s.keys {
			if i > 0 {
				b.WriteString(" OR (")
				b.WriteString(s.keys[i-1].Column + " = ")
				ph(i - 1)
				b.WriteString(" AND ")
			}
			if i < len(s.keys)-1 {
				b.WriteByte('(')
			}
			b.WriteString(k.Column + " " + op(i) + " ")
			ph(i)
		}
		for i := 0; i < 2*(len(s.keys)-1); i++ {
			b.WriteByte(')')
		}
	}
	b.WriteByte(')')
	if d.numbered() {
		args = append([]any(nil), c.Values...)
	}
	dir := Forward
	if backward {
		dir = Backward
	}
	return Keyset{Predicate: b.String(), Args: args, OrderBy: s.orderBy[dir]}, nil
}
