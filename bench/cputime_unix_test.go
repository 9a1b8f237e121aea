//go:build unix

package bench

import "syscall"

// processCPU returns the CPU time (user and system) the process has used,
// in nanoseconds, or 0 when it cannot tell.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
