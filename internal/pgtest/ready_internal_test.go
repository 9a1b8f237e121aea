package pgtest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadyReadsTheLockFile checks that a server counts as ready only when
// its lock file names the expected port and the status "ready".
func TestReadyReadsTheLockFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, content string
		want          bool
	}{
		{"ready", "123\n/d\n1700000000\n5432\n/s\n127.0.0.1\n  1234   5678\nready   \n", true},
		{"starting", "123\n/d\n1700000000\n5432\n/s\n127.0.0.1\n  1234   5678\nstarting\n", false},
		{"other port", "123\n/d\n1700000000\n5433\n/s\n127.0.0.1\n  1234   5678\nready   \n", false},
		{"no status yet", "123\n/d\n1700000000\n5432\n", false},
		{"missing", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := ready(dir, 5432); got != tt.want {
				t.Fatalf("ready = %v, want %v", got, tt.want)
			}
		})
	}
}
