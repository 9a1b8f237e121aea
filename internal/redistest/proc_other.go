//go:build !linux

package redistest

import "os/exec"

// configureCmd does nothing here: only Linux can tie the child's life to
// the parent's. Main and the test cleanups stop every server.
func configureCmd(*exec.Cmd) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
