package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB records whether a helper skipped or failed its test. It delegates
// everything else to the real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	log     string
	failed  bool
	skipped bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) end(fail bool, msg string) {
	f.mu.Lock()
	f.log += msg
	f.failed = f.failed || fail
	f.skipped = f.skipped || !fail
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any)                 { f.end(true, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.end(true, fmt.Sprintf(format, args...)) }
func (f *fakeTB) FailNow()                          { f.end(true, "") }
func (f *fakeTB) Skip(args ...any)                  { f.end(false, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any)  { f.end(false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) SkipNow()                          { f.end(false, "") }

// runFake runs fn with a fakeTB on its own goroutine, as the testing
// package does, so that Fatal and Skip can end it.
func runFake(t *testing.T, fn func(testing.TB) string) (f *fakeTB, got string) {
	f = &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = fn(f)
	}()
	<-done
	return f, got
}

// TestMissingBinaries checks the rule CI relies on: without DATABASE_URL
// and without PostgreSQL binaries, a test is skipped locally but fails when
// CI is set, so CI can never skip the PostgreSQL tests silently.
func TestMissingBinaries(t *testing.T) {
	// Not parallel: it sets environment variables and binaryDirs.
	empty := t.TempDir()
	binaryDirs = func() []string { return []string{empty} }
	defer func() { binaryDirs = defaultBinaryDirs }()
	for _, tt := range []struct {
		ci         string
		wantFailed bool
	}{{"", false}, {"true", true}} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			var s sharedServer // not the binary's: that one may be running
			f, got := runFake(t, func(tb testing.TB) string { return s.get(tb) })
			if f.failed != tt.wantFailed || f.skipped == tt.wantFailed || got != "" {
				t.Fatalf("failed=%v skipped=%v url=%q, want failed=%v; log: %q", f.failed, f.skipped, got, tt.wantFailed, f.log)
			}
			if !strings.Contains(f.log, "no PostgreSQL server binaries") || !strings.Contains(f.log, EnvURL) {
				t.Errorf("message %q does not say what is missing and how to do without", f.log)
			}
			if s.srv != nil {
				t.Error("a server was started without binaries")
			}
		})
	}
	// DATABASE_URL wins over everything, binaries or not, CI or not.
	t.Run("DATABASE_URL", func(t *testing.T) {
		t.Setenv("CI", "true")
		const want = "postgres://u@db.example:5432/app?sslmode=disable"
		t.Setenv(EnvURL, want)
		f, got := runFake(t, URL)
		if f.failed || f.skipped || got != want {
			t.Fatalf("URL = %q (failed=%v skipped=%v, %q), want %q", got, f.failed, f.skipped, f.log, want)
		}
	})
}

// TestFindBinaries checks that initdb and postgres are taken from the first
// directory that holds both, as executables.
func TestFindBinaries(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("executable bits")
	}
	dir := func(files map[string]os.FileMode) string {
		d := t.TempDir()
		for name, mode := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte("#!/bin/sh\n"), mode); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	onlyInitdb := dir(map[string]os.FileMode{"initdb": 0o755})
	notExecutable := dir(map[string]os.FileMode{"initdb": 0o755, "postgres": 0o644})
	both := dir(map[string]os.FileMode{"initdb": 0o755, "postgres": 0o755})
	later := dir(map[string]os.FileMode{"initdb": 0o755, "postgres": 0o755})
	defer func() { binaryDirs = defaultBinaryDirs }()

	binaryDirs = func() []string { return []string{onlyInitdb, notExecutable, filepath.Join(both, "missing")} }
	if i, p, err := findBinaries(); err != errNoBinaries {
		t.Fatalf("findBinaries = %q, %q, %v; want errNoBinaries", i, p, err)
	}
	binaryDirs = func() []string { return []string{onlyInitdb, both, later} }
	i, p, err := findBinaries()
	if err != nil || i != filepath.Join(both, "initdb") || p != filepath.Join(both, "postgres") {
		t.Fatalf("findBinaries = %q, %q, %v; want the pair in %s", i, p, err, both)
	}
}
