// Package pgtest gives the examples' tests a real PostgreSQL server and pgx
// connections to it.
//
// The server comes from the driver-free harness in the root module's
// internal/pgtest (DATABASE_URL, or a throwaway initdb+postgres; skipped
// without binaries, failed when CI is set); this package adds what needs a
// driver: a connection in a private schema ([Conn]) and a private database
// ([Database]).
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		conn := pgtest.Conn(t) // a private schema, dropped after the test
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	base "github.com/backstop-go/backstop/internal/pgtest"
)

// EnvURL names the environment variable holding the URL of an existing
// server to use instead of starting one.
const EnvURL = base.EnvURL

// Main runs the tests of m, stops the server they shared, if one was
// started, and exits with the tests' code. Call it from TestMain.
func Main(m *testing.M) { base.Main(m) }

// Run is Main for a TestMain that has more to do: it runs the tests (m is a
// *testing.M, or anything whose Run wraps one, such as another harness's
// Run), stops the shared server and returns the exit code.
func Run(m interface{ Run() int }) int { return base.Run(m) }

// URL returns the URL of the shared server: DATABASE_URL, or the server
// started for this test binary. It skips t, or fails it when CI is set, when
// there is neither.
func URL(t testing.TB) string {
	t.Helper()
	return base.URL(t)
}

// Conn returns a connection to the shared server whose search_path is a new
// schema of its own, so tests can create tables without seeing each other's.
// The schema is dropped and the connection closed when t ends.
func Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := "pgtest_" + randomName()
	if err := admin(ctx, cfg, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
		if err := admin(ctx, cfg, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return conn
}

// Database creates an empty database on the shared server and returns its
// URL, for a test that hands a whole database to another process. The
// database is dropped when t ends, after the cleanups registered later (so
// stop the process with a cleanup registered after this call).
func Database(t testing.TB) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "pgtest_" + randomName()
	if err := admin(ctx, cfg, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, cfg, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u := cfg.ConnString()
	// Swap the database name in the URL; keyword/value strings get a dbname.
	if pu, err := url.Parse(u); err == nil && pu.Scheme != "" {
		pu.Path = "/" + name
		return pu.String()
	}
	return u + " dbname=" + name
}

// admin runs one statement on a connection of its own.
func admin(ctx context.Context, cfg *pgx.ConnConfig, sql string) error {
	c, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
