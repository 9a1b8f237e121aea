//go:build unix

package bench

import (
	"syscall"
	"testing"
)

// processCPU returns the CPU time (user and system) the process has used,
// in nanoseconds, or 0 when it cannot tell.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU reports as cpu-ns/op the CPU time the process used since
// start (a processCPU reading) per op: on a machine shared with other work
// it varies much less than ns/op, which counts time spent waiting for a
// core. Call it when the timed loop has ended.
func reportCPU(b *testing.B, start int64) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}
