package pushers

import (
	"context"
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Pusher is one pusher as GET /pushers lists it.
type Pusher struct {
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// List returns user's pushers, oldest first.
func (p *Pushers) List(ctx context.Context, user id.UserID) ([]Pusher, error) {
	rows, err := p.db.Query(ctx, `SELECT pushkey, kind, app_id, app_display_name, device_display_name,
		profile_tag, lang, data FROM pushers WHERE user_id = $1 ORDER BY id`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Pusher{}
	for rows.Next() {
		var ps Pusher
		var data string
		if err := rows.Scan(&ps.PushKey, &ps.Kind, &ps.AppID, &ps.AppDisplayName, &ps.DeviceDisplayName,
			&ps.ProfileTag, &ps.Lang, &data); err != nil {
			return nil, err
		}
		ps.Data = json.RawMessage(data)
		out = append(out, ps)
	}
	return out, rows.Err()
}

// Set validates req and creates, updates or (kind null) deletes user's
// pusher (app_id, pushkey), on behalf of device. Unless req.Append, pushers
// with the same app_id and pushkey of other users are removed, as the spec
// requires (the phone changed hands). Invalid requests get an *httpx.Error.
func (p *Pushers) Set(ctx context.Context, user id.UserID, device id.DeviceID, req *SetRequest) error {
	if err := p.validate(req); err != nil {
		return err
	}
	if req.kind == "" {
		return p.remove(ctx, `DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3 RETURNING id, user_id`,
			user, *req.AppID, *req.PushKey)
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	touched := map[id.UserID]bool{user: true}
	err := p.db.InTx(ctx, func(tx *storage.Tx) error {
		if !req.Append {
			gone, err := deleteReturning(ctx, tx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3
				RETURNING id, user_id`, *req.AppID, *req.PushKey, user)
			if err != nil {
				return err
			}
			for _, g := range gone {
				touched[g.user] = true
			}
			if err := dropQueues(ctx, tx, gone); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, pushkey_ts, app_display_name,
				device_display_name, profile_tag, lang, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = excluded.device_id,
				kind = excluded.kind, pushkey_ts = excluded.pushkey_ts, app_display_name = excluded.app_display_name,
				device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag,
				lang = excluded.lang, data = excluded.data`,
			user, device, req.kind, *req.AppID, *req.PushKey, p.now().UnixMilli(), *req.AppDisplayName,
			*req.DeviceDisplayName, req.ProfileTag, *req.Lang, string(req.Data))
		return err
	})
	if err != nil {
		return err
	}
	return p.reload(ctx, touched)
}

// OnDeviceChange removes the pushers a deleted device created (logout,
// DELETE /devices, deactivation); register it with
// accounts.Service.OnDeviceChange.
func (p *Pushers) OnDeviceChange(ctx context.Context, c accounts.DeviceChange) {
	if c.Kind != accounts.DeviceDeleted {
		return
	}
	err := p.remove(context.WithoutCancel(ctx), `DELETE FROM pushers WHERE user_id = $1 AND device_id = $2 RETURNING id, user_id`,
		c.UserID, c.DeviceID)
	if err != nil {
		p.log.Err(err).Stringer("user_id", c.UserID).Stringer("device_id", c.DeviceID).Msg("Failed to delete the pushers of a deleted device")
	}
}

// OnDeactivate removes every pusher of a deactivated user, including those
// an appservice set without a device; register it with
// accounts.Service.OnDeactivate.
func (p *Pushers) OnDeactivate(ctx context.Context, user id.UserID) {
	if err := p.remove(context.WithoutCancel(ctx), `DELETE FROM pushers WHERE user_id = $1 RETURNING id, user_id`, user); err != nil {
		p.log.Err(err).Stringer("user_id", user).Msg("Failed to delete the pushers of a deactivated user")
	}
}

// removeRejected removes a pusher whose gateway rejected its pushkey.
func (p *Pushers) removeRejected(ctx context.Context, pusherID int64) error {
	return p.remove(ctx, `DELETE FROM pushers WHERE id = $1 RETURNING id, user_id`, pusherID)
}

// remove runs a DELETE ... RETURNING id, user_id on pushers, drops the
// queued notifications of the deleted pushers and refreshes the cache.
func (p *Pushers) remove(ctx context.Context, query string, args ...any) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	var gone []removed
	err := p.db.InTx(ctx, func(tx *storage.Tx) error {
		var err error
		if gone, err = deleteReturning(ctx, tx, query, args...); err != nil {
			return err
		}
		return dropQueues(ctx, tx, gone)
	})
	if err != nil {
		return err
	}
	touched := map[id.UserID]bool{}
	for _, g := range gone {
		touched[g.user] = true
	}
	return p.reload(ctx, touched)
}

func (p *Pushers) reload(ctx context.Context, users map[id.UserID]bool) error {
	for u := range users {
		if err := p.reloadUser(ctx, u); err != nil {
			return fmt.Errorf("reload pushers of %s: %w", u, err)
		}
	}
	return nil
}

type removed struct {
	id   int64
	user id.UserID
}

func deleteReturning(ctx context.Context, tx *storage.Tx, query string, args ...any) ([]removed, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []removed
	for rows.Next() {
		var r removed
		if err := rows.Scan(&r.id, &r.user); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// dropQueues deletes the queued notifications of deleted pushers; pusher
// IDs are never reused, so rows a concurrent commit still adds for them are
// dropped by the delivery goroutine when it finds the pusher gone.
func dropQueues(ctx context.Context, tx *storage.Tx, gone []removed) error {
	for _, g := range gone {
		if _, err := tx.Exec(ctx, `DELETE FROM pusher_queue WHERE pusher_id = $1`, g.id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM pusher_badges WHERE pusher_id = $1`, g.id); err != nil {
			return err
		}
	}
	return nil
}
