//go:build !linux

package main

import "time"

// usage is the process's CPU time so far and its peak resident set; zero
// where getrusage's units are not Linux's (read /usr/bin/time instead).
type usage struct {
	cpu    time.Duration
	rssKiB int64
}

func selfUsage() usage { return usage{} }
