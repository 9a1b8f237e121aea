//go:build !linux

package childproc

import "os/exec"

// Start starts cmd. Only Linux can tie a child's life to its parent's;
// elsewhere the harnesses' cleanups stop every server.
func Start(cmd *exec.Cmd) error { return cmd.Start() }
