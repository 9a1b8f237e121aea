//go:build !unix

package main

import "os"

// maxRSS returns 0: the peak RSS is read from rusage, unix only.
func maxRSS(*os.ProcessState) int64 { return 0 }
