package directory

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// Resolve returns the room a local alias points to and the servers to join
// it through. Aliases on other servers need federation, which is not
// available, so they are reported as unknown.
func (s *Service) Resolve(ctx context.Context, alias id.RoomAlias) (id.RoomID, []string, error) {
	if err := ValidateAlias(string(alias)); err != nil {
		return "", nil, err
	}
	if aliasServer(alias) != s.rooms.ServerName() {
		return "", nil, httpx.NotFound("Room alias %s not found: federation is not available", alias)
	}
	roomID, err := s.rooms.ResolveAlias(ctx, alias)
	if err != nil {
		return "", nil, err
	}
	if roomID == "" {
		return "", nil, httpx.NotFound("Room alias %s not found", alias)
	}
	return roomID, []string{s.rooms.ServerName()}, nil
}

// CreateAlias points a local alias at a room. As in Synapse (with
// require_membership_for_aliases on), the caller must be joined to the room
// unless they are a server admin or an appservice.
//
// NOTSPEC: appservice alias namespaces are not enforced yet; that needs the
// appservice registry, which this package does not know.
func (s *Service) CreateAlias(ctx context.Context, c *httpx.Caller, alias id.RoomAlias, roomID id.RoomID) error {
	if err := ValidateAlias(string(alias)); err != nil {
		return err
	}
	if err := ValidateRoomID(string(roomID)); err != nil {
		return err
	}
	if aliasServer(alias) != s.rooms.ServerName() {
		return httpx.InvalidParam("Room alias must be local (end with :%s)", s.rooms.ServerName())
	}
	if !c.IsAdmin && c.AppServiceID == "" {
		m, err := s.rooms.MembershipOf(ctx, roomID, c.UserID)
		if err != nil {
			return err
		}
		if m != event.MembershipJoin {
			return httpx.Forbidden("You must be in the room to create an alias for it")
		}
	}
	return s.rooms.CreateAlias(ctx, alias, roomID, c.UserID)
}

// DeleteAlias removes a local alias. Synapse's rule: its creator, a server
// admin, or a member who could send m.room.canonical_alias may. Afterwards
// the alias is dropped from the room's canonical alias event, sent as the
// caller; a failure there (the caller lacks power) only gets logged.
func (s *Service) DeleteAlias(ctx context.Context, c *httpx.Caller, alias id.RoomAlias) error {
	if err := ValidateAlias(string(alias)); err != nil {
		return err
	}
	roomID, creator, err := s.aliasRow(ctx, alias)
	if err != nil {
		return err
	}
	if creator != c.UserID && !c.IsAdmin {
		ok, err := s.canEditListing(ctx, roomID, c.UserID)
		if err != nil {
			return err
		}
		if !ok {
			return httpx.Forbidden("You don't have permission to delete the alias")
		}
	}
	// Permission is settled above with Synapse's rule, so rooms' own
	// (coarser) check is told the caller is allowed.
	if err := s.rooms.DeleteAlias(ctx, alias, c.UserID, true); err != nil {
		return err
	}
	if err := s.dropCanonicalAlias(ctx, roomID, alias, c.UserID); err != nil {
		zerolog.Ctx(ctx).Info().Err(err).Stringer("room_id", roomID).Msg("Failed to update canonical alias after deleting an alias")
	}
	return nil
}

func (s *Service) aliasRow(ctx context.Context, alias id.RoomAlias) (id.RoomID, id.UserID, error) {
	var roomID id.RoomID
	var creator id.UserID
	err := s.db.QueryRow(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID, &creator)
	if errors.Is(err, errNoRows) {
		return "", "", httpx.NotFound("Room alias %s not found", alias)
	}
	return roomID, creator, err
}

// dropCanonicalAlias removes alias from m.room.canonical_alias (alias and
// alt_aliases), keeping every other field as it was.
func (s *Service) dropCanonicalAlias(ctx context.Context, roomID id.RoomID, alias id.RoomAlias, sender id.UserID) error {
	ev, err := s.rooms.StateEvent(ctx, roomID, event.StateCanonicalAlias.Type, "")
	if err != nil || ev == nil {
		return err
	}
	var content map[string]any
	if err := json.Unmarshal(ev.PDU.Content, &content); err != nil {
		return err
	}
	changed := false
	if a, _ := content["alias"].(string); a == string(alias) {
		delete(content, "alias")
		changed = true
	}
	if alts, ok := content["alt_aliases"].([]any); ok && slices.Contains(alts, any(string(alias))) {
		kept := slices.DeleteFunc(alts, func(v any) bool { return v == any(string(alias)) })
		if len(kept) > 0 {
			content["alt_aliases"] = kept
		} else {
			delete(content, "alt_aliases")
		}
		changed = true
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	empty := ""
	_, err = s.rooms.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: event.StateCanonicalAlias.Type,
		StateKey: &empty, Content: raw})
	return err
}

// RoomAliases lists a room's local aliases for someone allowed to look:
// a member, a member who left (and did not forget the room), or anyone if
// the room is world-readable (Synapse's allow_departed_users rule).
func (s *Service) RoomAliases(ctx context.Context, c *httpx.Caller, roomID id.RoomID) ([]id.RoomAlias, error) {
	if err := ValidateRoomID(string(roomID)); err != nil {
		return nil, err
	}
	if err := s.checkCanPeek(ctx, roomID, c.UserID); err != nil {
		return nil, err
	}
	return s.rooms.Aliases(ctx, roomID)
}
