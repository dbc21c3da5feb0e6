//go:build !linux

package e2e

import "syscall"

// procAttr has no parent-death signal outside Linux; servers are still
// stopped by the harness's cleanups.
func procAttr() *syscall.SysProcAttr { return nil }
