package pushers

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// run is the state of one pusher's delivery goroutine. The goroutine sends
// the pusher's queue oldest first, one notification at a time, and exits
// when the queue is empty; more tells it that a commit queued rows while it
// was looking, so it looks again instead of exiting.
type run struct {
	more    bool // guarded by Pushers.runMu
	backoff time.Duration
	fails   int
}

// kick makes sure a delivery goroutine runs for each of ids.
func (p *Pushers) kick(ids []int64) {
	if len(ids) == 0 {
		return
	}
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if !p.started || p.ctx.Err() != nil {
		return
	}
	for _, pid := range ids {
		if r := p.runs[pid]; r != nil {
			r.more = true
			continue
		}
		r := &run{}
		p.runs[pid] = r
		p.wg.Add(1)
		go p.drain(p.ctx, pid, r)
	}
}

func (p *Pushers) drain(ctx context.Context, pid int64, r *run) {
	defer p.wg.Done()
	log := p.log.With().Int64("pusher_id", pid).Logger()
	for ctx.Err() == nil {
		j, err := p.next(ctx, pid)
		if err != nil {
			if ctx.Err() == nil {
				log.Err(err).Msg("Failed to read the push queue")
				p.wait(ctx, r)
			}
			continue
		}
		if j == nil {
			p.runMu.Lock()
			if r.more {
				r.more = false
				p.runMu.Unlock()
				continue
			}
			delete(p.runs, pid)
			p.runMu.Unlock()
			return
		}
		rejected, err := p.post(ctx, j)
		if p.onAttempt != nil && ctx.Err() == nil {
			p.onAttempt(pid, err)
		}
		var ge *gatewayError
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && rejected:
			log.Info().Str("app_id", j.appID).Msg("Push gateway rejected the pushkey; removing the pusher")
			err = p.removeRejected(ctx, pid)
		case err == nil, errors.As(err, &ge) && !ge.retryable():
			if err != nil {
				// NOTSPEC: the spec says to retry on any HTTP error, but a
				// 4xx will not change on retry and would hold back every
				// later notification of this pusher for GiveUpAfter.
				log.Warn().Err(err).Str("event_id", j.eventID).Msg("Push gateway refused a notification; dropping it")
			}
			if r.fails > 0 {
				log.Info().Int("failed_attempts", r.fails).Msg("Push gateway is reachable again")
			}
			r.fails, r.backoff = 0, 0
			if err == nil {
				p.sent(pid, j.unread)
			}
			if j.badge {
				err = p.dropBadge(ctx, pid, j.pos)
			} else {
				err = p.dropRow(ctx, pid, j.pos)
			}
		default:
			r.fails++
			ev := log.Debug()
			if r.fails == 1 || r.fails%10 == 0 {
				ev = log.Warn()
			}
			ev.Err(err).Int("attempt", r.fails).Str("event_id", j.eventID).Msg("Push notification failed; it will be retried")
			p.wait(ctx, r)
			continue
		}
		if err != nil && ctx.Err() == nil {
			log.Err(err).Msg("Failed to update the push queue")
			p.wait(ctx, r)
		}
	}
}

// wait sleeps for the next backoff step, doubling from MinBackoff up to
// MaxBackoff, with jitter so pushers of one gateway do not retry in step.
func (p *Pushers) wait(ctx context.Context, r *run) {
	r.backoff = min(max(2*r.backoff, p.opts.MinBackoff), p.opts.MaxBackoff)
	d := r.backoff/2 + rand.N(r.backoff/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// job is one notification ready to post.
type job struct {
	pos     int64
	eventID string
	// badge marks a counts-only update (badge.go); unread is the count
	// the notification carries.
	badge   bool
	unread  int64
	appID   string
	pushKey string
	url     string
	body    []byte
}

// next returns the oldest notification of the pusher worth sending, or nil
// when there is none. On the way it drops rows that are no longer worth
// it: too old, about an event gone from the database, or already read.
func (p *Pushers) next(ctx context.Context, pid int64) (*job, error) {
	for {
		var q queued
		var queuedTS int64
		err := p.db.QueryRow(ctx, `SELECT stream_pos, highlight, queued_ts FROM pusher_queue
			WHERE pusher_id = $1 ORDER BY stream_pos LIMIT 1`, pid).Scan(&q.pos, &q.highlight, &queuedTS)
		noEvents := errors.Is(err, sql.ErrNoRows)
		if err != nil && !noEvents {
			return nil, err
		}
		q.pusher = pid
		ps, err := p.loadPusher(ctx, pid)
		if errors.Is(err, sql.ErrNoRows) {
			// Deleted after the row was queued (see dropQueues).
			if _, err := p.db.Exec(ctx, `DELETE FROM pusher_queue WHERE pusher_id = $1`, pid); err != nil {
				return nil, err
			}
			_, err := p.db.Exec(ctx, `DELETE FROM pusher_badges WHERE pusher_id = $1`, pid)
			return nil, err
		} else if err != nil {
			return nil, err
		}
		if noEvents {
			// Badge updates go after the notifications, which carry
			// counts themselves.
			return p.nextBadge(ctx, ps, pid)
		}
		if age := p.now().Sub(time.UnixMilli(queuedTS)); age > p.opts.GiveUpAfter {
			p.log.Warn().Int64("pusher_id", pid).Dur("age", age).Msg("Giving up on a push notification")
			if err := p.dropRow(ctx, pid, q.pos); err != nil {
				return nil, err
			}
			continue
		}
		j, err := p.build(ctx, ps, q)
		if err != nil {
			return nil, err
		}
		if j == nil {
			if err := p.dropRow(ctx, pid, q.pos); err != nil {
				return nil, err
			}
			continue
		}
		return j, nil
	}
}

func (p *Pushers) dropRow(ctx context.Context, pid, pos int64) error {
	_, err := p.db.Exec(ctx, `DELETE FROM pusher_queue WHERE pusher_id = $1 AND stream_pos = $2`, pid, pos)
	return err
}

// gatewayError is a non-2xx answer from a gateway.
type gatewayError struct {
	status int
	body   string
}

func (e *gatewayError) Error() string {
	return fmt.Sprintf("push gateway answered %d: %s", e.status, e.body)
}

// retryable reports whether the same request may succeed later: server
// errors, timeouts and rate limits.
func (e *gatewayError) retryable() bool {
	return e.status >= 500 || e.status == http.StatusRequestTimeout || e.status == http.StatusTooManyRequests
}

// maxGatewayAnswer bounds how much of a gateway's answer is read.
const maxGatewayAnswer = 64 << 10

// post sends j and reports whether the gateway rejected the pushkey.
func (p *Pushers) post(ctx context.Context, j *job) (rejected bool, err error) {
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	case <-ctx.Done():
		return false, ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxGatewayAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, &gatewayError{status: resp.StatusCode, body: string(answer[:min(len(answer), 200)])}
	}
	var res struct {
		Rejected []string `json:"rejected"`
	}
	// An answer without a readable list rejects nothing: the
	// notification was accepted.
	_ = json.Unmarshal(answer, &res)
	return slices.Contains(res.Rejected, j.pushKey), nil
}
