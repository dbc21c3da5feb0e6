//go:build linux

// Package memtune tunes the Go runtime's memory use for a homeserver that
// is busy in bursts: a higher GC target while it works (SetGC), and memory
// handed back to the operating system once it goes quiet (Run).
//
// Two kinds of memory stay resident after a burst of requests. The Go heap
// keeps freed spans until the background scavenger returns them, which
// takes minutes. And the executable's read-only pages (code, pclntab, type
// data; tens of megabytes with the bridges linked in) stay mapped once
// touched, although they are clean copies of the binary that the page
// cache holds anyway. After a busy period followed by about two seconds of
// near-zero CPU, Run returns the heap (debug.FreeOSMemory) and unmaps the
// executable's read-only pages to be reclaimed; the next request faults
// back the few it needs.
package memtune

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	tick = time.Second
	// quietCPU is the most CPU per tick that counts as idle.
	quietCPU = 10 * time.Millisecond
	// quietTicks idle ticks in a row trigger a trim.
	quietTicks = 2
	// busyCPU is how much CPU must have been spent since the last trim
	// for another to be worth it (it also skips the first idle moments
	// after startup, which nothing has grown yet).
	busyCPU = 200 * time.Millisecond
)

// gcPercent is the GC target used unless GOGC is set. A send allocates
// about 12 KB over a live heap of a few megabytes, so at the default of 100
// the collector ran every few hundred sends; 300 takes about a tenth off
// the CPU of a send, for a heap that peaks near 20 MB under load and is
// returned by Run when the burst ends.
const gcPercent = 300

// SetGC sets the GC target to gcPercent unless the GOGC environment
// variable chooses one.
func SetGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// Run trims memory whenever the process turns idle after work, until ctx
// ends. Run it on its own goroutine.
func Run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	last := cpuTime()
	sinceTrim := time.Duration(0)
	quiet := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := cpuTime()
		used := now - last
		last = now
		sinceTrim += used
		if used > quietCPU {
			quiet = 0
			continue
		}
		quiet++
		if quiet < quietTicks || sinceTrim < busyCPU {
			continue
		}
		Trim()
		last = cpuTime() // the trim's own work is not activity
		sinceTrim = 0
	}
}

// Trim returns free heap memory to the OS and lets the kernel reclaim the
// executable's read-only pages.
func Trim() {
	debug.FreeOSMemory()
	dropExecutablePages()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dropExecutablePages asks the kernel to reclaim the read-only, private
// mappings of the executable (MADV_PAGEOUT). That never changes what the
// process reads: a clean page is simply faulted in again from the file
// when touched, and a page the process modified is kept (there is no swap
// to move it to).
func dropExecutablePages() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for _, m := range parseMaps(data) {
		if m.path != exe || m.perms[1] == 'w' || m.perms[3] != 'p' {
			continue
		}
		_ = madvise(m.start, m.end-m.start, madvPageout)
	}
}

// madvPageout is MADV_PAGEOUT (Linux 5.4), missing from package syscall.
const madvPageout = 21

type mapping struct {
	start, end uintptr
	perms      string
	path       string
}

// parseMaps reads /proc/self/maps lines: "start-end perms offset dev inode path".
func parseMaps(data []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || len(fields[1]) != 4 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), perms: fields[1], path: fields[5]})
	}
	return out
}

func madvise(addr, length uintptr, advice int) error {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}
