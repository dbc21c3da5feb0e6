package main

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"
)

// elementFilter is the shape of Element's sync filter: a short timeline
// per room and lazy-loaded members.
var elementFilter = map[string]any{
	"room": map[string]any{
		"timeline": map[string]any{"limit": 10},
		"state":    map[string]any{"lazy_load_members": true},
	},
}

// warmUp sends a few messages to warm the connection, caches and prepared
// statements before anything is timed.
func warmUp(ctx context.Context, a *account, room string) error {
	for i := range 50 {
		if _, err := a.send(ctx, room, fmt.Sprintf("warm-up %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// oneSender sends n messages one after another and returns messages/s.
func oneSender(ctx context.Context, a *account, room string, n int) (float64, error) {
	start := time.Now()
	for i := range n {
		if _, err := a.send(ctx, room, fmt.Sprintf("one sender %d", i)); err != nil {
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// manySenders has every account send its share of total messages into one
// room at once, each sequentially, and returns messages/s overall.
func manySenders(ctx context.Context, senders []*account, room string, total int) (float64, error) {
	per := total / len(senders)
	errs := make([]error, len(senders))
	var wg sync.WaitGroup
	start := time.Now()
	for s, a := range senders {
		wg.Go(func() {
			for i := range per {
				if _, err := a.send(ctx, room, fmt.Sprintf("sender %d message %d", s, i)); err != nil {
					errs[s] = fmt.Errorf("sender %d message %d: %w", s, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(per*len(senders)) / elapsed.Seconds(), nil
}

// wakeLatency measures how long a parked /sync takes to return once a
// message is sent: B long-polls, A sends, and each sample is the time from
// A's send returning to B's response being read in full (zero when B's
// answer even beat A's). Returns the samples.
func wakeLatency(ctx context.Context, a, b *account, room string, samples int) ([]time.Duration, error) {
	filter := b.uploadFilter(ctx, elementFilter)
	data, _, err := b.syncRaw(ctx, "", filter, 0)
	if err != nil {
		return nil, err
	}
	first, err := parseSync(data)
	if err != nil {
		return nil, err
	}
	since := first.NextBatch
	out := make([]time.Duration, 0, samples)
	for i := range samples {
		lat, next, err := wakeOnce(ctx, a, b, room, since, filter, i)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		out = append(out, lat)
		since = next
	}
	return out, nil
}

type syncResult struct {
	data []byte
	at   time.Time
	err  error
}

func wakeOnce(ctx context.Context, a, b *account, room, since, filter string, i int) (time.Duration, string, error) {
	wrote := make(chan struct{})
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }}
	res := make(chan syncResult, 1)
	go func() {
		data, at, err := b.syncRaw(httptrace.WithClientTrace(ctx, trace), since, filter, 30000)
		res <- syncResult{data, at, err}
	}()
	select {
	case <-wrote:
	case r := <-res:
		return 0, "", fmt.Errorf("/sync returned before anything was sent: %v %s", r.err, r.data)
	}
	time.Sleep(3 * time.Millisecond) // let the server park the request
	eventID, err := a.send(ctx, room, fmt.Sprintf("wake %d", i))
	if err != nil {
		return 0, "", err
	}
	sent := time.Now()
	for {
		r := <-res
		if r.err != nil {
			return 0, "", r.err
		}
		s, err := parseSync(r.data)
		if err != nil {
			return 0, "", err
		}
		if s.has(room, eventID) {
			return max(r.at.Sub(sent), 0), s.NextBatch, nil
		}
		// Woken by something else; keep waiting for the message, and keep
		// timing from the send.
		go func(since string) {
			data, at, err := b.syncRaw(ctx, since, filter, 30000)
			res <- syncResult{data, at, err}
		}(s.NextBatch)
	}
}

// initialSync fills rooms×msgs for a fresh user and returns the time of
// each of runs full initial /syncs with Element's filter.
func initialSync(ctx context.Context, c *account, rooms, msgs, runs int) ([]time.Duration, error) {
	for r := range rooms {
		room, err := c.createRoom(ctx, "private_chat", fmt.Sprintf("initial sync room %d", r))
		if err != nil {
			return nil, err
		}
		for m := range msgs {
			if _, err := c.send(ctx, room, fmt.Sprintf("room %d message %d", r, m)); err != nil {
				return nil, err
			}
		}
	}
	filter := c.uploadFilter(ctx, elementFilter)
	out := make([]time.Duration, 0, runs)
	for i := range runs + 1 {
		start := time.Now()
		data, end, err := c.syncRaw(ctx, "", filter, 0)
		if err != nil {
			return nil, err
		}
		if i == 0 { // warm-up run, also checked for the right shape
			if err := checkInitialSync(data, rooms); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, end.Sub(start))
	}
	return out, nil
}

// checkInitialSync makes sure the server did the work being timed: every
// room present with a full, limited timeline of 10.
func checkInitialSync(data []byte, rooms int) error {
	s, err := parseSync(data)
	if err != nil {
		return err
	}
	if len(s.Rooms.Join) != rooms {
		return fmt.Errorf("initial /sync has %d joined rooms, want %d", len(s.Rooms.Join), rooms)
	}
	for id, r := range s.Rooms.Join {
		if len(r.Timeline.Events) != 10 || !r.Timeline.Limited {
			return fmt.Errorf("initial /sync room %s: %d timeline events (limited=%v), want 10 and limited",
				id, len(r.Timeline.Events), r.Timeline.Limited)
		}
	}
	return nil
}
