package appservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// prepare creates state rows, rebuilds membership tables whose namespaces
// changed since the last start, and loads the room hint set.
func (p *Pusher) prepare(ctx context.Context) error {
	for _, as := range p.reg.withURL {
		hash := namespaceHash(as)
		var stored string
		err := p.db.InTx(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO appservice_state (as_id) VALUES ($1) ON CONFLICT DO NOTHING`, as.ID); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT ns_hash FROM appservice_state WHERE as_id = $1`, as.ID).Scan(&stored)
		})
		if err != nil {
			return fmt.Errorf("appservice %s: %w", as.ID, err)
		}
		if stored != hash {
			if err := p.rebuildMembers(ctx, as, hash); err != nil {
				return fmt.Errorf("appservice %s: rebuild room members: %w", as.ID, err)
			}
		}
		if err := p.loadHints(ctx, as); err != nil {
			return fmt.Errorf("appservice %s: %w", as.ID, err)
		}
	}
	return nil
}

// namespaceHash fingerprints what decides which users are the appservice's.
func namespaceHash(as *AppService) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", as.Sender)
	for _, ns := range as.Namespaces.Users {
		fmt.Fprintf(h, "%q %v\n", ns.Regex, ns.Exclusive)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rebuildMembers recomputes as's joined users from the current state: a
// new appservice, or one whose user namespaces changed, may already have
// users in rooms. It scans every joined membership once, at startup.
func (p *Pusher) rebuildMembers(ctx context.Context, as *AppService, hash string) error {
	rows, err := p.db.Query(ctx, `SELECT room_id, state_key FROM current_state WHERE type = 'm.room.member' AND membership = 'join'`)
	if err != nil {
		return err
	}
	type member struct {
		room id.RoomID
		user id.UserID
	}
	var found []member
	for rows.Next() {
		var m member
		if err := rows.Scan(&m.room, &m.user); err != nil {
			rows.Close()
			return err
		}
		if as.IsUser(m.user) {
			found = append(found, m)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return err
	}
	return p.db.InTx(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM appservice_room_members WHERE as_id = $1`, as.ID); err != nil {
			return err
		}
		for _, m := range found {
			if _, err := tx.Exec(ctx, `INSERT INTO appservice_room_members (room_id, as_id, user_id) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, m.room, as.ID, m.user); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE appservice_state SET ns_hash = $1 WHERE as_id = $2`, hash, as.ID)
		return err
	})
}

func (p *Pusher) loadHints(ctx context.Context, as *AppService) error {
	rows, err := p.db.Query(ctx, `SELECT DISTINCT room_id FROM appservice_room_members WHERE as_id = $1`, as.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var room id.RoomID
		if err := rows.Scan(&room); err != nil {
			return err
		}
		p.hint[room] = struct{}{}
	}
	return rows.Err()
}
