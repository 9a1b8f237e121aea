package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backstop-go/backstop/examples/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestConnIsolation checks that each Conn has a schema of its own, and that
// the schema is gone after the test that made it.
func TestConnIsolation(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("a", func(t *testing.T) {
		a, b := pgtest.Conn(t), pgtest.Conn(t)
		if _, err := a.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("a second connection sees the first one's table: %v", err)
		}
		if err := a.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
	})
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if schema == "" || n != 0 {
		t.Fatalf("schema %q still exists (%d)", schema, n)
	}
}
