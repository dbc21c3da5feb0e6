package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes is the CPU time the server process and this client have used
// so far. On a shared machine wall-clock rates move with the neighbours'
// load; CPU time per message moves much less, so the report shows both.
type cpuTimes struct {
	server, client time.Duration
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux configuration Go supports.
const clockTicks = 100

// readCPU samples the server's (pid) and this process's CPU time. ok is
// false where /proc is missing (not Linux).
func readCPU(pid int) (cpuTimes, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}, false
	}
	client := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, false
	}
	server, ok := parseStatCPU(string(data))
	return cpuTimes{server: server, client: client}, ok
}

// parseStatCPU returns utime+stime from a /proc/PID/stat line. The command
// name (field 2) may hold spaces, so fields are counted after its ')'.
func parseStatCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 { // state is field 3; utime and stime are fields 14 and 15
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}

// perMessage returns the CPU time per message spent between a and b.
func perMessage(a, b cpuTimes, n int) cpuTimes {
	return cpuTimes{server: (b.server - a.server) / time.Duration(n), client: (b.client - a.client) / time.Duration(n)}
}

// startClientProfile profiles this process (the client) into file until
// the returned func is called; an empty file profiles nothing.
func startClientProfile(file string) (stop func() string) {
	if file == "" {
		return func() string { return "" }
	}
	f, err := os.Create(file)
	if err != nil {
		return func() string { return "client CPU profile: " + err.Error() }
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return func() string { return "client CPU profile: " + err.Error() }
	}
	return func() string {
		pprof.StopCPUProfile()
		_ = f.Close()
		return "client CPU profile written to " + file
	}
}
