//go:build !linux

package redistest

import "os/exec"

// setPdeathsig is a no-op off Linux: there the server is only stopped by
// the test cleanups and Main.
func setPdeathsig(cmd *exec.Cmd) {}
