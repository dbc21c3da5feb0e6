package appservice

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// ephemeralLoop turns committed typing, receipt and presence changes into
// ephemeral events for the appservices that receive them. It runs off the
// commit path because it reads the database; the rows it writes carry the
// change's stream position, so they sort among the events around them.
// Ephemeral data is best effort (as in /sync): a crash between the change
// and this loop loses a typing notification, never a room event.
func (p *Pusher) ephemeralLoop(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-p.ephemeral:
			if err := p.handleEphemeral(ctx, c); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Int64("pos", c.Pos).Msg("Failed to queue an ephemeral event for appservices")
			}
		}
	}
}

func (p *Pusher) handleEphemeral(ctx context.Context, c stream.Change) error {
	var candidates []*AppService
	for _, as := range p.reg.withURL {
		if as.ReceiveEphemeral {
			candidates = append(candidates, as)
		}
	}
	var edu any
	var targets []*AppService
	var err error
	switch c.Kind {
	case stream.KindTyping, stream.KindReceipt:
		if c.RoomID == "" {
			return nil // a private receipt: only its owner sees it
		}
		room := id.RoomID(c.RoomID)
		if edu, err = p.roomEDU(ctx, c, room); err != nil || edu == nil {
			return err
		}
		targets, err = p.roomInterest(ctx, p.db, room, candidates)
	case stream.KindPresence:
		edu, targets, err = p.presenceEDU(ctx, c, candidates)
	}
	if err != nil || len(targets) == 0 {
		return err
	}
	raw, err := json.Marshal(edu)
	if err != nil {
		return err
	}
	data := string(raw)
	err = p.db.InTx(ctx, func(tx *storage.Tx) error {
		for _, as := range targets {
			if err := enqueue(ctx, tx, as, c.Pos, seqOf(kindEphemeral, 0), kindEphemeral, &data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, as := range targets {
		signal(as.wake)
	}
	return nil
}

// roomEDU renders the room's current typing list, or the receipts set at
// the change's position; nil when there is nothing to send.
func (p *Pusher) roomEDU(ctx context.Context, c stream.Change, room id.RoomID) (any, error) {
	if c.Kind == stream.KindTyping {
		if p.opts.Typing == nil {
			return nil, nil
		}
		users := p.opts.Typing.Since([]id.RoomID{room}, c.Pos-1)[room]
		if users == nil {
			users = []id.UserID{}
		}
		return map[string]any{"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": users}}, nil
	}
	if p.opts.Receipts == nil {
		return nil, nil
	}
	// No viewer: private receipts are never sent to appservices.
	byRoom, err := p.opts.Receipts.Since(ctx, []id.RoomID{room}, c.Pos-1, "")
	if err != nil || byRoom[room] == nil {
		return nil, err
	}
	return map[string]any{"type": "m.receipt", "room_id": room, "content": byRoom[room]}, nil
}

// presenceEDU renders a user's presence for the appservices that see it.
func (p *Pusher) presenceEDU(ctx context.Context, c stream.Change, candidates []*AppService) (any, []*AppService, error) {
	if len(c.UserIDs) == 0 || p.opts.Presence == nil {
		return nil, nil, nil
	}
	user := id.UserID(c.UserIDs[0])
	targets, err := p.presenceInterest(ctx, user, candidates)
	if err != nil || len(targets) == 0 {
		return nil, nil, err
	}
	st, err := p.opts.Presence.Get(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	return map[string]any{"type": "m.presence", "sender": user, "content": p.opts.Presence.Content(st)}, targets, nil
}

// presenceInterest: the user is theirs, or shares a room with their users.
func (p *Pusher) presenceInterest(ctx context.Context, user id.UserID, candidates []*AppService) ([]*AppService, error) {
	var out, rest []*AppService
	for _, as := range candidates {
		if as.IsUser(user) {
			out = append(out, as)
		} else {
			rest = append(rest, as)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	sharing, err := sharingAppServices(ctx, p.db, user)
	if err != nil {
		return nil, err
	}
	split(rest, func(as *AppService) bool { return sharing[as.ID] }, &out)
	return out, nil
}
