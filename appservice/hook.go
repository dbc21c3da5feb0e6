package appservice

import (
	"context"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Queue row kinds (appservice_queue.kind).
const (
	kindEvent         = 1
	kindEphemeral     = 2
	kindToDevice      = 3
	kindDeviceChanged = 4
	kindDeviceLeft    = 5
	kindKeyCount      = 6
)

// seqOf orders rows that share a stream position: by kind, then by index.
func seqOf(kind int, i int) int64 { return int64(kind)<<32 | int64(i) }

// PersistHook is the rooms persist hook (rooms.Service.AddPersistHook). It
// runs inside the event's commit transaction: it keeps
// appservice_room_members current and queues the event for every
// appservice interested in it, so the event and its delivery commit or
// vanish together. Interest follows the spec: the sender or a membership
// target in the appservice's user namespaces, the room in its room
// namespaces, an alias of the room in its alias namespaces, or one of its
// users joined to the room.
func (p *Pusher) PersistHook(ctx context.Context, tx *storage.Tx, ev *rooms.Event) error {
	if len(p.reg.withURL) == 0 {
		return nil
	}
	isMember := ev.Type() == event.StateMember.Type && ev.StateKey() != nil
	if p.changesFacts(ev) {
		p.cache.dirty(ev.RoomID())
	}
	if isMember {
		if err := p.trackMember(ctx, tx, ev); err != nil {
			return err
		}
	}
	var interested, rest []*AppService
	for _, as := range p.reg.withURL {
		if as.IsUser(ev.Sender()) || isMember && as.IsUser(id.UserID(*ev.StateKey())) {
			interested = append(interested, as)
		} else {
			rest = append(rest, as)
		}
	}
	if len(rest) > 0 {
		more, err := p.roomInterest(ctx, tx, ev.RoomID(), rest)
		if err != nil {
			return err
		}
		interested = append(interested, more...)
	}
	for _, as := range interested {
		if err := enqueue(ctx, tx, as, ev.Pos, seqOf(kindEvent, 0), kindEvent, nil); err != nil {
			return err
		}
	}
	if isMember {
		return p.memberDeviceLists(ctx, tx, ev)
	}
	return nil
}

// changesFacts reports whether ev changes what roomFacts caches: an
// appservice user's membership or the canonical alias.
func (p *Pusher) changesFacts(ev *rooms.Event) bool {
	sk := ev.StateKey()
	if sk == nil {
		return false
	}
	switch ev.Type() {
	case event.StateCanonicalAlias.Type:
		return *sk == ""
	case event.StateMember.Type:
		for _, as := range p.reg.withURL {
			if as.IsUser(id.UserID(*sk)) {
				return true
			}
		}
	}
	return false
}

// trackMember records joins and departures of appservice users.
func (p *Pusher) trackMember(ctx context.Context, tx *storage.Tx, ev *rooms.Event) error {
	user := id.UserID(*ev.StateKey())
	joined := ev.Membership() == event.MembershipJoin
	for _, as := range p.reg.withURL {
		if !as.IsUser(user) {
			continue
		}
		var err error
		if joined {
			_, err = tx.Exec(ctx, `INSERT INTO appservice_room_members (room_id, as_id, user_id) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, ev.RoomID(), as.ID, user)
			p.addHint(ev.RoomID())
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM appservice_room_members WHERE room_id = $1 AND as_id = $2 AND user_id = $3`,
				ev.RoomID(), as.ID, user)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// enqueue adds one row to as's outbox and marks as for a wake-up once the
// transaction commits. Re-running an apply func rolls back the first
// attempt's rows, so a conflict only means "already queued".
func enqueue(ctx context.Context, tx *storage.Tx, as *AppService, pos, seq int64, kind int, data *string) error {
	_, err := tx.Exec(ctx, `INSERT INTO appservice_queue (as_id, pos, seq, kind, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, as.ID, pos, seq, kind, data)
	if err == nil {
		as.dirty.Store(true)
	}
	return err
}

// mayHaveMembers reports whether some appservice user may be joined to
// roomID. The set only grows while running (a join adds the room before
// its transaction commits), so a "no" is always right and a stale "yes"
// costs one query.
func (p *Pusher) mayHaveMembers(roomID id.RoomID) bool {
	p.hintMu.RLock()
	_, ok := p.hint[roomID]
	p.hintMu.RUnlock()
	return ok
}

func (p *Pusher) addHint(roomID id.RoomID) {
	if p.mayHaveMembers(roomID) {
		return
	}
	p.hintMu.Lock()
	p.hint[roomID] = struct{}{}
	p.hintMu.Unlock()
}
