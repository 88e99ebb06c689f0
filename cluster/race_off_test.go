//go:build !race

package cluster_test

// raceEnabled: the race detector makes everything about 5-10x slower.
const raceEnabled = false
