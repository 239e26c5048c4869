//go:build !unix

package eventlog

func lockedPrecheck(path string) error { return precheck(path) }
