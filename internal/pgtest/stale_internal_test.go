//go:build unix

package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRemoveStale checks that the directory of a dead test binary is
// removed, and that those of live ones, or without an owner, are kept.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	parent := t.TempDir()
	dirs := map[string]string{ // name -> owner.pid content ("" = no file)
		"pgtest-dead":    strconv.Itoa(dead.Process.Pid),
		"pgtest-self":    strconv.Itoa(os.Getpid()),
		"pgtest-parent":  strconv.Itoa(os.Getppid()),
		"pgtest-noowner": "",
		"pgtest-garbage": "x",
		"other-dead":     strconv.Itoa(dead.Process.Pid),
	}
	for name, owner := range dirs {
		d := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerName), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	removeStale(parent)
	for name := range dirs {
		_, err := os.Stat(filepath.Join(parent, name))
		if gone, want := os.IsNotExist(err), name == "pgtest-dead"; gone != want {
			t.Errorf("%s: removed = %v, want %v (%v)", name, gone, want, err)
		}
	}
}
