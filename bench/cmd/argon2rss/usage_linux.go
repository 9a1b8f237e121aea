//go:build linux

package main

import (
	"syscall"
	"time"
)

// usage is the process's CPU time so far and its peak resident set.
type usage struct {
	cpu    time.Duration
	rssKiB int64
}

func selfUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		rssKiB: ru.Maxrss, // KiB on Linux
	}
}
