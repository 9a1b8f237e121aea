//go:build unix

package health_test

import (
	"context"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/backstop-go/backstop/health"
)

// Not parallel: it signals the test process, which Serve catches.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	reg := newRegistry(t, health.Options{DrainDelay: -1})
	srv := &http.Server{}
	serve, started := blockingServe(srv)
	errc := make(chan error, 1)
	go func() { errc <- reg.Serve(context.Background(), srv, serve) }()
	<-started // Serve has installed its signal handler before calling serve
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v, want nil after a clean shutdown", err)
	}
	if !reg.Draining() {
		t.Error("SIGTERM did not drain the registry")
	}
}
