//go:build race

package health_test

// raceEnabled: the race detector makes sync.Pool drop items, so allocation
// counts are not exact under it.
const raceEnabled = true
