//go:build race

package geo

// raceEnabled shortens the slowest property tests under the race detector.
const raceEnabled = true
