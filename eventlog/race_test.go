//go:build race

package eventlog_test

// raceEnabled: the race detector changes what allocation counts mean.
const raceEnabled = true
