//go:build !unix

package bench

func processCPU() int64 { return 0 }
