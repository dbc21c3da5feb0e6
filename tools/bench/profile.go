package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// cpuProfile fetches a CPU profile from the server's net/http/pprof
// handlers while the load runs. It is optional twice over: only with
// -cpuprofile, and only if the server exposes /debug/pprof/.
type cpuProfile struct {
	done chan struct{}
	msg  string
}

// startCPUProfile begins a profile of seconds at base and writes it to
// file. The returned profile's wait says what happened.
func startCPUProfile(ctx context.Context, base, file string, seconds int) *cpuProfile {
	p := &cpuProfile{done: make(chan struct{})}
	probe, err := http.Get(base + "/debug/pprof/")
	if err == nil {
		probe.Body.Close()
	}
	if err != nil || probe.StatusCode != http.StatusOK {
		status := "no answer"
		if err == nil {
			status = probe.Status
		}
		p.msg = fmt.Sprintf("server exposes no pprof at %s/debug/pprof/ (%s); CPU profile skipped", base, status)
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.msg = fetchProfile(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(seconds), file, seconds)
	}()
	return p
}

func fetchProfile(ctx context.Context, url, file string, seconds int) string {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+60)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "CPU profile: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "CPU profile: " + resp.Status
	}
	f, err := os.Create(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return "CPU profile: " + err.Error()
	}
	return fmt.Sprintf("CPU profile (%d s) written to %s; view with: go tool pprof -http=: %s", seconds, file, file)
}

// wait blocks until the profile is written or skipped and says which.
func (p *cpuProfile) wait() string {
	<-p.done
	return p.msg
}
