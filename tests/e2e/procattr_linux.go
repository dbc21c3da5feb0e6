package e2e

import "syscall"

// procAttr makes the kernel kill the server if the test or benchmark
// process dies first (a panic, a -timeout), so no gatehouse outlives the
// run holding ports and PostgreSQL connections.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
