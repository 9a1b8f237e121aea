package pagination_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/pagination"
)

func TestSortKeyset(t *testing.T) {
	t.Parallel()
	single := pagination.NewSort(pagination.Key{Column: "id", Unique: true})
	mixed := pagination.NewSort(
		pagination.Key{Column: "score", Desc: true},
		pagination.Key{Column: "name"},
		pagination.Key{Column: "id", Desc: true, Unique: true},
	)
	fwd := func(v ...any) *pagination.Cursor { return &pagination.Cursor{Values: v} }
	bwd := func(v ...any) *pagination.Cursor {
		return &pagination.Cursor{Direction: pagination.Backward, Values: v}
	}
	tests := []struct {
		name    string
		sort    *pagination.Sort
		d       pagination.Dialect
		c       *pagination.Cursor
		offset  int
		pred    string
		args    []any
		orderBy string
	}{
		{"first page", byNewest, pagination.Postgres, nil, 0,
			"", nil, "created_at DESC, id DESC"},
		{"single forward", single, pagination.Postgres, fwd(5), 0,
			"(id > $1)", []any{5}, "id ASC"},
		{"single backward", single, pagination.MySQL, bwd(5), 0,
			"(id < ?)", []any{5}, "id DESC"},
		{"desc forward", byNewest, pagination.Postgres, fwd("t", 9), 0,
			"((created_at, id) < ($1, $2))", []any{"t", 9}, "created_at DESC, id DESC"},
		{"desc backward", byNewest, pagination.Postgres, bwd("t", 9), 2,
			"((created_at, id) > ($3, $4))", []any{"t", 9}, "created_at ASC, id ASC"},
		{"desc forward mysql", byNewest, pagination.MySQL, fwd("t", 9), 3,
			"((created_at, id) < (?, ?))", []any{"t", 9}, "created_at DESC, id DESC"},
		{"desc forward sqlite", byNewest, pagination.SQLite, fwd("t", 9), 0,
			"((created_at, id) < (?, ?))", []any{"t", 9}, "created_at DESC, id DESC"},
		{"desc forward sql server", byNewest, pagination.SQLServer, fwd("t", 9), 1,
			"(created_at <= @p2 AND (created_at < @p2 OR (created_at = @p2 AND id < @p3)))", []any{"t", 9},
			"created_at DESC, id DESC"},
		{"mixed forward", mixed, pagination.Postgres, fwd(3, "n", 8), 1,
			"(score <= $2 AND (score < $2 OR (score = $2 AND (name > $3 OR (name = $3 AND id < $4)))))",
			[]any{3, "n", 8}, "score DESC, name ASC, id DESC"},
		{"mixed backward", mixed, pagination.Postgres, bwd(3, "n", 8), 0,
			"(score >= $1 AND (score > $1 OR (score = $1 AND (name < $2 OR (name = $2 AND id > $3)))))",
			[]any{3, "n", 8}, "score ASC, name DESC, id ASC"},
		{"mixed forward question marks", mixed, pagination.SQLite, fwd(3, "n", 8), 0,
			"(score <= ? AND (score < ? OR (score = ? AND (name > ? OR (name = ? AND id < ?)))))",
			[]any{3, 3, 3, "n", "n", 8}, "score DESC, name ASC, id DESC"},
		{"negative offset", single, pagination.Postgres, fwd(5), -3,
			"(id > $1)", []any{5}, "id ASC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := tt.sort.Keyset(tt.d, tt.c, tt.offset)
			if err != nil {
				t.Fatal(err)
			}
			if ks.Predicate != tt.pred {
				t.Errorf("predicate\n got %s\nwant %s", ks.Predicate, tt.pred)
			}
			if !reflect.DeepEqual(ks.Args, tt.args) {
				t.Errorf("args %v, want %v", ks.Args, tt.args)
			}
			if ks.OrderBy != tt.orderBy {
				t.Errorf("order by %q, want %q", ks.OrderBy, tt.orderBy)
			}
			if tt.pred == "" {
				if ks.Where() != "" || ks.And() != "" {
					t.Errorf("Where %q And %q, want empty", ks.Where(), ks.And())
				}
			} else if ks.Where() != " WHERE "+tt.pred || ks.And() != " AND "+tt.pred {
				t.Errorf("Where %q And %q", ks.Where(), ks.And())
			}
		})
	}
	if _, err := byNewest.Keyset(pagination.Postgres, fwd(1), 0); err == nil {
		t.Error("Keyset accepted a cursor with too few values")
	}
}

// A sort that cannot be right, a column that is not an identifier above
// all (it is written into SQL), is refused when the program builds it.
func TestNewSortPanicsOnBadKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []pagination.Key
	}{
		{"no keys", nil},
		{"no tie-breaker", []pagination.Key{{Column: "created_at"}}},
		{"tie-breaker not last", []pagination.Key{{Column: "id", Unique: true}, {Column: "created_at"}}},
		{"two unique", []pagination.Key{{Column: "email", Unique: true}, {Column: "id", Unique: true}}},
		{"empty column", []pagination.Key{{Column: " ", Unique: true}}},
		{"repeated column", []pagination.Key{{Column: "id"}, {Column: "id", Unique: true}}},
		{"too many", func() []pagination.Key {
			var k []pagination.Key
			for i := range 17 {
				k = append(k, pagination.Key{Column: string(rune('a' + i)), Unique: i == 16})
			}
			return k
		}()},
	}
	for _, column := range []string{
		"id; DROP TABLE x", "id --", "id/*", "lower(name)", "a + b", "id DESC", "t.", ".id", "a..b", "1st",
		"id,name", `"unclosed`, `""`, `"a"b`, "`a", "[a", "[]", "a\nb", `"a` + "\x00" + `b"`, "a b", "id'", "$id", "t.*",
	} {
		tests = append(tests, struct {
			name string
			keys []pagination.Key
		}{"column " + column, []pagination.Key{{Column: column, Unique: true}}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("NewSort did not panic")
				} else if msg, _ := r.(string); !strings.HasPrefix(msg, "pagination: NewSort: ") {
					t.Errorf("panic %v, want a message of this package", r)
				}
			}()
			pagination.NewSort(tt.keys...)
		})
	}
}

// Plain and qualified identifiers, bare or quoted, are accepted and written
// as they are.
func TestNewSortAcceptsIdentifiers(t *testing.T) {
	t.Parallel()
	for _, column := range []string{
		"id", "_id", "créé_le", "a$1", "t.id", "public.items.id", `"Created At"`, `"say ""hi"""`,
		"`order`", "`a``b`", "[order]", "[a]]b]", `t."id"`, `"a.b".c`, "ID9",
	} {
		s := pagination.NewSort(pagination.Key{Column: column, Unique: true})
		if got := s.String(); got != column+" ASC" {
			t.Errorf("NewSort(%q).String() = %q", column, got)
		}
	}
}

func TestSortAccessors(t *testing.T) {
	t.Parallel()
	if got := byNewest.String(); got != "created_at DESC, id DESC" {
		t.Errorf("String %q", got)
	}
	if got := byNewest.OrderBy(pagination.Backward); got != "created_at ASC, id ASC" {
		t.Errorf("OrderBy(Backward) %q", got)
	}
	if byNewest.Len() != 2 {
		t.Errorf("Len %d", byNewest.Len())
	}
	k := byNewest.Keys()
	k[0].Column = "changed"
	if byNewest.Keys()[0].Column != "created_at" {
		t.Error("Keys exposes the sort's own slice")
	}
}
