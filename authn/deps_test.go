package authn

import (
	"testing"

	"github.com/backstop-go/backstop/internal/depstest"
)

// TestDependencies keeps the promise of issue 12: a program that verifies
// tokens compiles no Redis client (authn/password's test checks that it
// compiles no JWT code either).
func TestDependencies(t *testing.T) {
	depstest.Forbid(t, "github.com/backstop-go/backstop/authn", "github.com/redis/go-redis")
}
