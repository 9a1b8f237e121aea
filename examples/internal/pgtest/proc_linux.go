//go:build linux

package pgtest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// configureCmd runs cmd as cred (nil: as the current user) and makes the
// kernel kill it when the test binary dies without stopping it (a panic, a
// -timeout, a SIGKILL). Go sets the parent-death signal after changing
// credentials, which would otherwise clear it.
func configureCmd(cmd *exec.Cmd, cred *runAs) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if cred != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid}
	}
}

var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

// startCmd starts cmd from one OS thread that lives as long as the process:
// the parent-death signal fires when the thread that forked the child exits,
// and the Go runtime may end threads.
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
