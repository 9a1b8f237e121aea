package redisstore_test

import (
	"os"
	"testing"

	"github.com/backstop-go/backstop/internal/redistest"
)

// redisAddr is the address of the Redis server the Examples use: in your
// code, your server's, such as "localhost:6379". TestMain points it at the
// server internal/redistest starts for the tests.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(redistest.RunWith(m, func() error {
		opt, err := redistest.Options()
		if err != nil {
			return err
		}
		redisAddr = opt.Addr
		return nil
	}))
}
