//go:build !linux

package bench

import (
	"os/exec"
	"time"
)

func dieWithParent(*exec.Cmd) {}

func processCPU(int) (time.Duration, bool) { return 0, false }
