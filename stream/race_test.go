//go:build race

package stream

// raceEnabled: the race detector changes what memory and goroutines cost.
const raceEnabled = true
