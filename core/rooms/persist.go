package rooms

import (
	"context"
	"database/sql"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

var sqlNoRows = sql.ErrNoRows

// persist writes ev inside the stream writer's transaction. It may run more
// than once with different positions (see stream.ApplyFunc).
func (s *Service) persist(ctx context.Context, tx *storage.Tx, version id.RoomVersion, ev *Event, red *redaction) error {
	p := ev.PDU
	pduJSON := ev.pduJSON
	var membership, relatesTo, relType any
	if m := ev.Membership(); m != "" {
		membership = string(m)
	}
	if rid, rt := ev.Relation(); rid != "" {
		relatesTo, relType = rid, rt
	}
	if p.Type == event.StateCreate.Type {
		if _, err := tx.Exec(ctx, `INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ($1, $2, $3, $4)`,
			p.RoomID, string(version), p.Sender, p.OriginServerTS); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, depth, origin_ts,
			membership, relates_to, rel_type, pdu, client)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		ev.Pos, ev.ID, p.RoomID, p.Type, p.StateKey, p.Sender, p.Depth, p.OriginServerTS,
		membership, relatesTo, relType, string(pduJSON), string(ev.Client))
	if err != nil {
		return err
	}
	if p.StateKey != nil {
		if _, err := tx.Exec(ctx, `
			INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (room_id, type, state_key) DO UPDATE
			SET event_id = excluded.event_id, stream_pos = excluded.stream_pos, membership = excluded.membership`,
			p.RoomID, p.Type, *p.StateKey, ev.ID, ev.Pos, membership); err != nil {
			return err
		}
	}
	queueExtremity(tx, ev)
	if ev.TxnID != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO event_txns (user_id, device_id, scope, txn_id, event_id) VALUES ($1, $2, $3, $4, $5)`,
			p.Sender, ev.DeviceID, ev.txnScope, ev.TxnID, ev.ID); err != nil {
			return err
		}
	}
	if m := ev.Membership(); (m == event.MembershipJoin || m == event.MembershipInvite) && p.StateKey != nil {
		// Rejoining un-forgets the room.
		if _, err := tx.Exec(ctx, `DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, *p.StateKey, p.RoomID); err != nil {
			return err
		}
	}
	if red != nil {
		if err := red.apply(ctx, tx, ev.ID); err != nil {
			return err
		}
	}
	for _, h := range s.hooks {
		if err := h(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

type extremityKey id.RoomID

// extremityUpdate is a room's forward extremity change in one batch: the
// extremities the batch's first event in the room was built on, and the
// batch's last event there.
type extremityUpdate struct {
	room id.RoomID
	prev []id.EventID
	last id.EventID
}

// queueExtremity makes ev the room's only forward extremity when the batch
// commits. Events of one room chain within a batch, so only the last one's
// row is written: one statement per room and batch instead of two per event.
func queueExtremity(tx *storage.Tx, ev *Event) {
	u := tx.Value(extremityKey(ev.PDU.RoomID), func() any {
		u := &extremityUpdate{room: ev.PDU.RoomID, prev: ev.PDU.PrevEvents}
		tx.BeforeCommit(u.write)
		return u
	}).(*extremityUpdate)
	u.last = ev.ID
}

// write replaces the row of the batch's starting extremity. History is
// linear, so that is normally one row and one UPDATE does; anything else
// (the create event, several extremities, a prev_event whose write failed
// and left the batch) falls back to rewriting the room's rows.
func (u *extremityUpdate) write(ctx context.Context, tx *storage.Tx) error {
	if len(u.prev) == 1 {
		res, err := tx.Exec(ctx, `UPDATE forward_extremities SET event_id = $1 WHERE room_id = $2 AND event_id = $3`,
			u.last, u.room, u.prev[0])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return nil
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM forward_extremities WHERE room_id = $1`, u.room); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)`, u.room, u.last)
	return err
}

// redaction is the change a redaction event makes to its target.
type redaction struct {
	target   *Event
	stateKey *pdu.StateKey // set when the target is in the current state
	pdu      []byte
}

func (red *redaction) apply(ctx context.Context, tx *storage.Tx, by id.EventID) error {
	_, err := tx.Exec(ctx, `UPDATE events SET redacted_by = $1, pdu = $2, client = $3, relates_to = NULL, rel_type = NULL WHERE event_id = $4`,
		by, string(red.pdu), string(red.target.Client), red.target.ID)
	return err
}
