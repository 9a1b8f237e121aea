//go:build !unix

package bench

// processCPU returns -1: CPU time is measured on Unix systems only.
func processCPU() int64 { return -1 }
