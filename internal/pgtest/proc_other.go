//go:build !unix

package pgtest

import "os/exec"

// configureCmd does nothing: os.Geteuid is -1 here, so cred is always nil.
func configureCmd(*exec.Cmd, *runAs) {}
