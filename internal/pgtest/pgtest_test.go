package pgtest_test

import (
	"net"
	"net/url"
	"testing"

	"github.com/backstop-go/backstop/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestURLAcceptsConnections checks that URL names a server that accepts
// TCP connections.
func TestURLAcceptsConnections(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}
