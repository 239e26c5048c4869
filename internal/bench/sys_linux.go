package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a child process get SIGKILL if this process dies
// first, so no server or load process outlives a crashed run.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
