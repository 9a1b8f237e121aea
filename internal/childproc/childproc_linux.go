//go:build linux

package childproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

// Start starts cmd with a parent-death signal, so the kernel kills it when
// the test binary dies, keeping any SysProcAttr already set (such as
// Credential: Go applies the signal after changing credentials).
//
// The signal fires when the thread that forked the child exits, not the
// process, and the Go runtime may end threads, so every child is forked
// from one locked OS thread that lives as long as the process.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnOnce.Do(func() {
		spawnReqs = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnReqs {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnReqs <- func() { errc <- cmd.Start() }
	return <-errc
}
