//go:build !linux

package memtune

import (
	"context"
	"os"
	"runtime/debug"
)

// SetGC sets a GC target of 300 unless GOGC is set; see the Linux version.
func SetGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
}

// Run does nothing outside Linux; see the Linux version.
func Run(ctx context.Context) {}

// Trim returns free heap memory to the OS.
func Trim() { debug.FreeOSMemory() }
