package password

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the promise of issue 12: a program that hashes
// passwords compiles no JWT code and no Redis client.
func TestDependencies(t *testing.T) {
	deps := goListDeps(t)
	for _, banned := range []string{"github.com/golang-jwt/jwt", "github.com/redis/go-redis"} {
		for _, dep := range deps {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("authn/password depends on %s", dep)
				break // one line a module is enough
			}
		}
	}
}

// goListDeps returns the import paths of the package in the working
// directory (the package's own: go test runs each test there) and of
// everything it imports, tests excluded.
func goListDeps(t *testing.T) []string {
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
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/backstop-go/backstop/authn/password" {
		t.Fatalf("go list -deps listed %q, not ending with this package", deps)
	}
	return deps
}
