// Package depstest checks in a test which modules a package compiles, so
// that a promise such as "authn/password compiles no JWT code" fails a
// test when a new import breaks it.
package depstest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t when the package in the working directory (go test runs
// each package's tests there), named pkg, or anything it imports outside
// its tests, has an import path starting with one of banned. It skips when
// there is no go command.
func Forbid(t *testing.T, pkg string, banned ...string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != pkg {
		t.Fatalf("go list -deps listed %q, not ending with %s", deps, pkg)
	}
	for _, b := range banned {
		for _, dep := range deps {
			if strings.HasPrefix(dep, b) {
				t.Errorf("%s depends on %s", pkg, dep)
				break // one line a module is enough
			}
		}
	}
}
