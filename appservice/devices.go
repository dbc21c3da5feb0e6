package appservice

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// ToDeviceMessage is one to-device message for one device, as the
// appservice receives it (MSC2409/MSC4203 fields).
type ToDeviceMessage struct {
	Sender   id.UserID       `json:"sender"`
	Type     string          `json:"type"`
	Content  json.RawMessage `json:"content"`
	ToUser   id.UserID       `json:"to_user_id"`
	ToDevice id.DeviceID     `json:"to_device_id"`
}

// QueueToDevice queues to-device messages for the appservices that
// receive ephemeral events and whose users they are addressed to. Call it
// from the stream.Writer apply func that stores the messages, with its tx
// and pos, so they are queued durably with them (unlike Synapse, nothing is
// dropped while the appservice is down). Expand "*" device IDs first.
// Messages for users no appservice claims cost one in-memory check each.
func (p *Pusher) QueueToDevice(ctx context.Context, tx *storage.Tx, pos int64, msgs []ToDeviceMessage) error {
	for i, m := range msgs {
		var data *string
		for _, as := range p.reg.withURL {
			if !as.ReceiveEphemeral || !as.IsUser(m.ToUser) {
				continue
			}
			if data == nil {
				raw, err := json.Marshal(m)
				if err != nil {
					return err
				}
				s := string(raw)
				data = &s
			}
			if err := enqueue(ctx, tx, as, pos, seqOf(kindToDevice, i), kindToDevice, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// ClaimsToDevice reports whether an appservice receives userID's to-device
// messages in transactions and owns the user exclusively, so the device
// inbox (read only by /sync) need not keep a copy.
func (p *Pusher) ClaimsToDevice(userID id.UserID) bool {
	for _, as := range p.reg.withURL {
		if as.ReceiveEphemeral && (userID == as.Sender || as.MatchUser(string(userID), true)) {
			return true
		}
	}
	return false
}

// QueueDeviceListChange queues "userID's devices or keys changed" for the
// MSC3202 appservices that track them: userID is theirs, or shares a room
// with one of their users. Call it from the apply func of the device-list
// stream write, with its tx and pos.
func (p *Pusher) QueueDeviceListChange(ctx context.Context, tx *storage.Tx, pos int64, userID id.UserID) error {
	candidates := p.msc3202()
	if len(candidates) == 0 {
		return nil
	}
	sharing, err := sharingAppServices(ctx, tx, userID)
	if err != nil {
		return err
	}
	data := string(userID)
	for _, as := range candidates {
		if as.IsUser(userID) || sharing[as.ID] {
			if err := enqueue(ctx, tx, as, pos, seqOf(kindDeviceChanged, 0), kindDeviceChanged, &data); err != nil {
				return err
			}
		}
	}
	return nil
}

// QueueKeyCountChange makes sure an MSC3202 appservice hears about a new
// one-time key count for one of its users (after a claim), even when no
// other traffic would carry it. Call it in the transaction that claims
// keys, with the stream position of that write.
func (p *Pusher) QueueKeyCountChange(ctx context.Context, tx *storage.Tx, pos int64, userID id.UserID) error {
	data := string(userID)
	for _, as := range p.msc3202() {
		if as.IsUser(userID) {
			if err := enqueue(ctx, tx, as, pos, seqOf(kindKeyCount, 0), kindKeyCount, &data); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Pusher) msc3202() []*AppService {
	var out []*AppService
	for _, as := range p.reg.withURL {
		if as.MSC3202 {
			out = append(out, as)
		}
	}
	return out
}

// memberDeviceLists tells MSC3202 appservices when a user starts or stops
// sharing a room with their users: "changed" so they fetch the user's
// keys, "left" so they stop tracking them. It only looks at rooms where the
// appservice has users. (A ghost joining a room of strangers does not list
// them all; the appservice's crypto queries unknown users' keys itself.)
func (p *Pusher) memberDeviceLists(ctx context.Context, tx *storage.Tx, ev *rooms.Event) error {
	if !p.mayHaveMembers(ev.RoomID()) {
		return nil
	}
	candidates := p.msc3202()
	if len(candidates) == 0 {
		return nil
	}
	user := id.UserID(*ev.StateKey())
	var here map[string]bool
	for _, as := range candidates {
		if as.IsUser(user) {
			continue
		}
		if here == nil {
			var err error
			if here, err = roomAppServices(ctx, tx, ev.RoomID()); err != nil {
				return err
			}
		}
		if !here[as.ID] {
			continue
		}
		var one int
		err := tx.QueryRow(ctx, `
			SELECT 1 FROM appservice_room_members m
			JOIN current_state cs ON cs.room_id = m.room_id AND cs.type = 'm.room.member' AND cs.state_key = $1 AND cs.membership = 'join'
			WHERE m.as_id = $2 AND m.room_id <> $3 LIMIT 1`, user, as.ID, ev.RoomID()).Scan(&one)
		if err == nil {
			continue // still shared elsewhere: nothing changes for the appservice
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		kind := kindDeviceLeft
		if ev.Membership() == event.MembershipJoin {
			kind = kindDeviceChanged
		}
		data := string(user)
		if err := enqueue(ctx, tx, as, ev.Pos, seqOf(kind, 0), kind, &data); err != nil {
			return err
		}
	}
	return nil
}
