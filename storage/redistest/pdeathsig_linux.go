//go:build linux

package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel SIGKILL the child when the thread that
// started it (and so the test binary) dies, so a crashed or killed test
// binary never leaves a redis-server behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
