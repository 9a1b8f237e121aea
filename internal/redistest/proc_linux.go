//go:build linux

package redistest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// configureCmd makes the kernel kill redis-server when the test binary
// dies without running its cleanups (a panic, a -timeout, a SIGKILL).
func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

// startCmd starts cmd from one OS thread that lives as long as the
// process. Pdeathsig fires when the thread that forked the child exits,
// not the process, and the Go runtime may end threads (those of goroutines
// that exit while locked to them); a locked thread that never exits rules
// that out.
func startCmd(cmd *exec.Cmd) error {
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
