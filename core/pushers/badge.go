package pushers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Read is the receipts read hook (receipts.Service.OnRead, registered after
// core/push's MarkRead): it owes each of the user's HTTP pushers a
// counts-only notification, so the badge on their phone follows what they
// read elsewhere, as Synapse does. The row is written in the receipt's
// transaction; delivery computes the count then, after the other queued
// notifications of the pusher, and skips it when the gateway already has
// that count (lastSent).
func (p *Pushers) Read(ctx context.Context, tx *storage.Tx, user id.UserID, _ id.RoomID, _, pos int64) error {
	ids := p.pushersOf(user)
	if len(ids) == 0 {
		return nil
	}
	now := p.now().UnixMilli()
	for _, pid := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO pusher_badges (pusher_id, stream_pos, queued_ts) VALUES ($1, $2, $3)
			ON CONFLICT (pusher_id) DO UPDATE SET stream_pos = excluded.stream_pos, queued_ts = excluded.queued_ts`,
			pid, pos, now); err != nil {
			return err
		}
	}
	p.runMu.Lock()
	p.staged[pos] = append(p.staged[pos], ids...)
	p.runMu.Unlock()
	return nil
}

// badgeCounts is counts for a badge update: unread is sent even when 0,
// which is what clears the badge.
type badgeCounts struct {
	Unread int64 `json:"unread"`
}

// nextBadge returns the pusher's pending badge update, or nil when there is
// none or the gateway already has the count (the row is then dropped).
func (p *Pushers) nextBadge(ctx context.Context, ps *pusherRow, pid int64) (*job, error) {
	var pos, queuedTS int64
	err := p.db.QueryRow(ctx, `SELECT stream_pos, queued_ts FROM pusher_badges WHERE pusher_id = $1`, pid).Scan(&pos, &queuedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	unread, err := p.unread(ctx, ps.user)
	if err != nil {
		return nil, err
	}
	if last, ok := p.lastSentCount(pid); (ok && last == unread) || p.now().Sub(time.UnixMilli(queuedTS)) > p.opts.GiveUpAfter {
		return nil, p.dropBadge(ctx, pid, pos)
	}
	dev, gateway, err := deviceOf(ps, map[string]any{})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"notification": map[string]any{
		"prio": "low", "counts": badgeCounts{Unread: unread}, "devices": []device{dev},
	}})
	if err != nil {
		return nil, err
	}
	return &job{pos: pos, badge: true, unread: unread, appID: ps.appID, pushKey: ps.pushKey, url: gateway, body: body}, nil
}

// dropBadge deletes the pusher's badge row if it is still the one at pos
// (a newer receipt replaced it otherwise, and that one is still owed).
func (p *Pushers) dropBadge(ctx context.Context, pid, pos int64) error {
	_, err := p.db.Exec(ctx, `DELETE FROM pusher_badges WHERE pusher_id = $1 AND stream_pos = $2`, pid, pos)
	return err
}

// sent records the count a gateway last received for a pusher. It is kept
// in memory: after a restart the first badge update is sent regardless.
func (p *Pushers) sent(pid, unread int64) {
	p.runMu.Lock()
	p.lastSent[pid] = unread
	p.runMu.Unlock()
}

func (p *Pushers) lastSentCount(pid int64) (int64, bool) {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	n, ok := p.lastSent[pid]
	return n, ok
}

// unread is the user's badge: notifications over the rooms they are in.
func (p *Pushers) unread(ctx context.Context, user id.UserID) (int64, error) {
	var n int64
	err := p.db.QueryRow(ctx, `SELECT COALESCE(SUM(n.notifs), 0) FROM current_state cs
		JOIN notification_counts n ON n.room_id = cs.room_id AND n.user_id = cs.state_key
		WHERE cs.type = 'm.room.member' AND cs.state_key = $1 AND cs.membership IN ('join', 'invite')`,
		user).Scan(&n)
	return n, err
}

// deviceOf is the devices[] entry for ps and its gateway URL: the pusher's
// data without url.
func deviceOf(ps *pusherRow, tweaks map[string]any) (device, string, error) {
	dev := device{AppID: ps.appID, PushKey: ps.pushKey, PushKeyTS: ps.pushKeyTS / 1000, Tweaks: tweaks}
	var gateway string
	_ = json.Unmarshal(ps.data["url"], &gateway)
	rest := make(map[string]json.RawMessage, len(ps.data))
	for k, v := range ps.data {
		if k != "url" {
			rest[k] = v
		}
	}
	var err error
	dev.Data, err = json.Marshal(rest)
	return dev, gateway, err
}
