package rooms

import (
	"context"
	"errors"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

func validateAlias(alias id.RoomAlias, serverName string) error {
	s := string(alias)
	local, server, ok := strings.Cut(strings.TrimPrefix(s, "#"), ":")
	if !strings.HasPrefix(s, "#") || !ok || local == "" || len(s) > 255 || strings.ContainsAny(local, " \t\n#:") {
		return httpx.InvalidParam("Invalid room alias %q", s)
	}
	if server != serverName {
		return httpx.InvalidParam("Room alias must end with :%s", serverName)
	}
	return nil
}

// ResolveAlias returns the room an alias points to, or "" when unknown.
func (s *Service) ResolveAlias(ctx context.Context, alias id.RoomAlias) (id.RoomID, error) {
	var roomID id.RoomID
	err := s.db.QueryRow(ctx, `SELECT room_id FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID)
	if errors.Is(err, sqlNoRows) {
		return "", nil
	}
	return roomID, err
}

// CreateAlias points a local alias at a room.
func (s *Service) CreateAlias(ctx context.Context, alias id.RoomAlias, roomID id.RoomID, creator id.UserID) error {
	if err := validateAlias(alias, s.opts.ServerName); err != nil {
		return err
	}
	if _, err := s.Version(ctx, roomID); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3)`, alias, roomID, creator)
	if err != nil && s.db.IsUniqueViolation(err) {
		return httpx.NewError(409, "M_UNKNOWN", "Room alias %s already exists", alias)
	}
	return err
}

// DeleteAlias removes an alias. When authorized is false only its creator
// or a member allowed to send m.room.canonical_alias may; callers that
// applied their own rule (admins, the directory API) pass true.
func (s *Service) DeleteAlias(ctx context.Context, alias id.RoomAlias, user id.UserID, authorized bool) error {
	var roomID id.RoomID
	var creator id.UserID
	err := s.db.QueryRow(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID, &creator)
	if errors.Is(err, sqlNoRows) {
		return httpx.NotFound("Room alias %s not found", alias)
	} else if err != nil {
		return err
	}
	if !authorized && creator != user {
		pl, err := s.PowerLevels(ctx, roomID)
		if err != nil {
			return err
		}
		m, err := s.MembershipOf(ctx, roomID, user)
		if err != nil {
			return err
		}
		if m != event.MembershipJoin || pl.GetUserLevel(user) < pl.GetEventLevel(event.StateCanonicalAlias) {
			return httpx.Forbidden("You may not delete this alias")
		}
	}
	_, err = s.db.Exec(ctx, `DELETE FROM room_aliases WHERE alias = $1`, alias)
	return err
}

// Aliases lists the local aliases of a room.
func (s *Service) Aliases(ctx context.Context, roomID id.RoomID) ([]id.RoomAlias, error) {
	rows, err := s.db.Query(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []id.RoomAlias{}
	for rows.Next() {
		var a id.RoomAlias
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetVisibility publishes a room in (or removes it from) the directory.
func (s *Service) SetVisibility(ctx context.Context, roomID id.RoomID, visibility string) error {
	if visibility != "public" && visibility != "private" {
		return httpx.InvalidParam("visibility must be public or private")
	}
	res, err := s.db.Exec(ctx, `UPDATE rooms SET visibility = $1 WHERE room_id = $2`, visibility, roomID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrUnknownRoom
	}
	return nil
}

// Visibility returns the room's directory visibility.
func (s *Service) Visibility(ctx context.Context, roomID id.RoomID) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT visibility FROM rooms WHERE room_id = $1`, roomID).Scan(&v)
	if errors.Is(err, sqlNoRows) {
		return "", ErrUnknownRoom
	}
	return v, err
}
