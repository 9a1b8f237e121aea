//go:build unix

package client_test

import "syscall"

// cpuTime returns the CPU time the process has used, user and system, in
// nanoseconds: on a machine shared with other work it measures a
// benchmark's own cost far more steadily than the wall clock does.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
