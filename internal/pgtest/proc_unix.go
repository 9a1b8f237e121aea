//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// configureCmd runs cmd as cred (nil: as the current user).
func configureCmd(cmd *exec.Cmd, cred *runAs) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: cred.uid, Gid: cred.gid}}
	}
}
