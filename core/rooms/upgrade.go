package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
)

// upgradeCopied are the state types a room upgrade carries over, as
// Synapse does; m.space.child keeps a space's children, pinned events keep
// the pins. Bans are copied too (see planUpgrade).
var upgradeCopied = []string{
	event.StateJoinRules.Type, event.StateHistoryVisibility.Type, event.StateGuestAccess.Type,
	event.StateRoomName.Type, event.StateTopic.Type, event.StateRoomAvatar.Type,
	event.StateEncryption.Type, event.StateServerACL.Type, event.StatePinnedEvents.Type,
	event.StateSpaceChild.Type,
}

// Upgrade replaces roomID with a new room of version newVersion, the way
// POST /rooms/{roomId}/upgrade describes: the new room gets the old one's
// state (name, topic, avatar, rules, encryption, power levels, bans, space
// children) and a predecessor link; the old room gets a tombstone pointing
// to it and is restricted so that ordinary members can no longer talk
// there; local aliases and a public directory entry move to the new room.
// The user must be joined and allowed to send m.room.tombstone.
func (s *Service) Upgrade(ctx context.Context, user id.UserID, oldID id.RoomID, newVersion id.RoomVersion) (id.RoomID, error) {
	if !events.IsSupported(newVersion) {
		return "", httpx.NewError(400, "M_UNSUPPORTED_ROOM_VERSION", "Room version %q is not supported", newVersion)
	}
	if m, err := s.MembershipOf(ctx, oldID, user); err != nil {
		return "", err
	} else if m != event.MembershipJoin {
		return "", httpx.Forbidden("You are not joined to %s", oldID)
	}
	pl, err := s.PowerLevels(ctx, oldID)
	if err != nil {
		return "", err
	}
	if pl.GetUserLevel(user) < pl.GetEventLevel(event.StateTombstone) {
		return "", httpx.Forbidden("You need power level %d to upgrade this room", pl.GetEventLevel(event.StateTombstone))
	}
	state, err := s.CurrentState(ctx, oldID)
	if err != nil {
		return "", err
	}
	if tomb := findState(state, event.StateTombstone.Type, ""); tomb != nil {
		var c struct {
			Replacement string `json:"replacement_room"`
		}
		if json.Unmarshal(tomb.PDU.Content, &c) == nil && c.Replacement != "" {
			return "", httpx.NewError(400, "M_BAD_STATE", "This room was already upgraded to %s", c.Replacement)
		}
	}
	last, err := s.lastEvent(ctx, oldID)
	if err != nil {
		return "", err
	}
	plan, restorePL, err := s.planUpgrade(ctx, user, oldID, last, newVersion, state, pl)
	if err != nil {
		return "", err
	}
	newID, err := s.runPlan(ctx, user, plan)
	if err != nil {
		return "", err
	}
	log := s.log.With().Stringer("old_room", oldID).Stringer("new_room", newID).Logger()

	// The tombstone is what clients follow; without it the upgrade failed.
	tombstone, _ := json.Marshal(map[string]string{"body": "This room has been replaced", "replacement_room": string(newID)})
	if _, err := s.Send(ctx, SendRequest{RoomID: oldID, Sender: user, Type: event.StateTombstone.Type, StateKey: ptr(""), Content: tombstone}); err != nil {
		return "", fmt.Errorf("send tombstone: %w", err)
	}

	// From here on, failures leave a working upgrade: log and go on.
	if err := s.moveAliases(ctx, user, oldID, newID, state); err != nil {
		log.Warn().Err(err).Msg("Room upgrade: could not move the aliases to the new room")
	}
	if vis, err := s.Visibility(ctx, oldID); err == nil && vis == "public" {
		if err := s.SetVisibility(ctx, newID, "public"); err != nil {
			log.Warn().Err(err).Msg("Room upgrade: could not publish the new room")
		}
		if err := s.SetVisibility(ctx, oldID, "private"); err != nil {
			log.Warn().Err(err).Msg("Room upgrade: could not unpublish the old room")
		}
	}
	if restorePL != nil {
		if _, err := s.Send(ctx, SendRequest{RoomID: newID, Sender: user, Type: event.StatePowerLevels.Type, StateKey: ptr(""), Content: restorePL}); err != nil {
			log.Warn().Err(err).Msg("Room upgrade: could not restore the power levels in the new room")
		}
	}
	if restricted := restrictOldRoom(findState(state, event.StatePowerLevels.Type, "")); restricted != nil {
		if _, err := s.Send(ctx, SendRequest{RoomID: oldID, Sender: user, Type: event.StatePowerLevels.Type, StateKey: ptr(""), Content: restricted}); err != nil {
			log.Info().Err(err).Msg("Room upgrade: could not restrict the old room (the user may lack the power to)")
		}
	}
	log.Info().Str("new_version", string(newVersion)).Stringer("user_id", user).Msg("Room upgraded")
	return newID, nil
}

// planUpgrade builds the new room's events. The upgrading user may need
// more power than they have to send the copied state; then they get it in
// the new room's first power levels and the old levels are returned to be
// sent once everything is copied (restorePL).
func (s *Service) planUpgrade(ctx context.Context, user id.UserID, oldID id.RoomID, last id.EventID, version id.RoomVersion,
	state []*Event, pl *event.PowerLevelsEventContent) (plan *createPlan, restorePL json.RawMessage, err error) {
	extra := map[string]any{"predecessor": map[string]string{"room_id": string(oldID), "event_id": string(last)}}
	if create := findState(state, event.StateCreate.Type, ""); create != nil {
		var old map[string]json.RawMessage
		if json.Unmarshal(create.PDU.Content, &old) == nil {
			for _, k := range []string{"type", "m.federate"} {
				if v, ok := old[k]; ok {
					extra[k] = v
				}
			}
		}
	}
	rawExtra, _ := json.Marshal(extra)
	create, err := createContent(user, version, rawExtra)
	if err != nil {
		return nil, nil, err
	}
	plan = &createPlan{version: version}
	add := func(evType, stateKey string, content any) error {
		raw, ok := content.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(content); err != nil {
				return err
			}
		}
		plan.events = append(plan.events, SendRequest{Type: evType, StateKey: ptr(stateKey), Content: raw})
		return nil
	}
	if err := add(event.StateCreate.Type, "", create); err != nil {
		return nil, nil, err
	}
	member, err := s.memberContent(ctx, user, event.MembershipJoin, "", false)
	if err != nil {
		return nil, nil, err
	}
	if err := add(event.StateMember.Type, user.String(), member); err != nil {
		return nil, nil, err
	}

	// Power levels: the old content, with the user raised if needed.
	plContent := json.RawMessage(`{}`)
	if ev := findState(state, event.StatePowerLevels.Type, ""); ev != nil {
		plContent = ev.PDU.Content
	} else {
		plContent, _ = json.Marshal(map[string]any{"users": map[string]int{user.String(): 100}})
	}
	needed := max(pl.StateDefault(), pl.Ban(), pl.GetEventLevel(event.StatePowerLevels))
	for _, lvl := range pl.Events {
		needed = max(needed, lvl)
	}
	if pl.GetUserLevel(user) < needed {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(plContent, &m); err != nil {
			return nil, nil, fmt.Errorf("parse power levels: %w", err)
		}
		users := map[string]json.RawMessage{}
		_ = json.Unmarshal(m["users"], &users)
		users[user.String()] = json.RawMessage(fmt.Sprint(needed))
		m["users"], _ = json.Marshal(users)
		raised, _ := json.Marshal(m)
		restorePL = plContent
		plContent = raised
	}
	if err := add(event.StatePowerLevels.Type, "", plContent); err != nil {
		return nil, nil, err
	}

	for _, ev := range state {
		sk := ev.StateKey()
		if sk == nil || !slices.Contains(upgradeCopied, ev.Type()) || string(ev.PDU.Content) == "{}" {
			continue
		}
		if err := add(ev.Type(), *sk, ev.PDU.Content); err != nil {
			return nil, nil, err
		}
	}
	for _, ev := range state {
		if ev.Type() == event.StateMember.Type && ev.Membership() == event.MembershipBan && ev.StateKey() != nil {
			content := map[string]any{"membership": "ban"}
			var c struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(ev.PDU.Content, &c) == nil && c.Reason != "" {
				content["reason"] = c.Reason
			}
			if err := add(event.StateMember.Type, *ev.StateKey(), content); err != nil {
				return nil, nil, err
			}
		}
	}
	// Spec order: state events in a stable order so the new room's
	// timeline reads the same each time.
	slices.SortStableFunc(plan.events[3:], func(a, b SendRequest) int {
		return upgradeRank(a.Type) - upgradeRank(b.Type)
	})
	return plan, restorePL, nil
}

// upgradeRank orders copied state: join rules and visibility first (they
// decide who may join), then the rest, bans last.
func upgradeRank(evType string) int {
	if i := slices.Index(upgradeCopied, evType); i >= 0 {
		return i
	}
	return len(upgradeCopied)
}

// moveAliases points the old room's local aliases at the new room and moves
// m.room.canonical_alias with them.
func (s *Service) moveAliases(ctx context.Context, user id.UserID, oldID, newID id.RoomID, state []*Event) error {
	if _, err := s.db.Exec(ctx, `UPDATE room_aliases SET room_id = $1 WHERE room_id = $2`, newID, oldID); err != nil {
		return err
	}
	ev := findState(state, event.StateCanonicalAlias.Type, "")
	if ev == nil || string(ev.PDU.Content) == "{}" {
		return nil
	}
	if _, err := s.Send(ctx, SendRequest{RoomID: newID, Sender: user, Type: event.StateCanonicalAlias.Type, StateKey: ptr(""), Content: ev.PDU.Content}); err != nil {
		return err
	}
	_, err := s.Send(ctx, SendRequest{RoomID: oldID, Sender: user, Type: event.StateCanonicalAlias.Type, StateKey: ptr(""), Content: json.RawMessage(`{}`)})
	return err
}

// restrictOldRoom raises events_default and invite in the old room's power
// levels to max(users_default+1, 50), so only moderators can still talk or
// invite there (Synapse does the same). nil when nothing changes.
func restrictOldRoom(plEvent *Event) json.RawMessage {
	if plEvent == nil {
		return nil
	}
	var m map[string]json.RawMessage
	var pl event.PowerLevelsEventContent
	if json.Unmarshal(plEvent.PDU.Content, &m) != nil || json.Unmarshal(plEvent.PDU.Content, &pl) != nil {
		return nil
	}
	restricted := max(pl.UsersDefault+1, 50)
	changed := false
	if pl.EventsDefault < restricted {
		m["events_default"], changed = json.RawMessage(fmt.Sprint(restricted)), true
	}
	if pl.Invite() < restricted {
		m["invite"], changed = json.RawMessage(fmt.Sprint(restricted)), true
	}
	if !changed {
		return nil
	}
	out, _ := json.Marshal(m)
	return out
}

// lastEvent is the newest event of a room (one of its forward extremities).
func (s *Service) lastEvent(ctx context.Context, roomID id.RoomID) (id.EventID, error) {
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	if len(r.extremities) == 0 {
		return "", ErrUnknownRoom
	}
	return r.extremities[0], nil
}

func findState(state []*Event, evType, stateKey string) *Event {
	for _, ev := range state {
		if ev.Type() == evType && ev.StateKey() != nil && *ev.StateKey() == stateKey {
			return ev
		}
	}
	return nil
}
