package appservice

import (
	"context"
	"database/sql"
	"errors"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// querier is what interest checks read through: the commit transaction on
// the commit path (so they see the events committing with them), the
// reader pool elsewhere. *storage.Tx and *storage.DB both satisfy it.
type querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// roomInterest decides which of candidates are interested in roomID by the
// rules that need no event: the room ID namespace, one of their users
// joined (appservice_room_members), or an alias of the room (canonical,
// alternative or directory) in their alias namespaces.
func (p *Pusher) roomInterest(ctx context.Context, q querier, roomID id.RoomID, candidates []*AppService) ([]*AppService, error) {
	var out, rest []*AppService
	for _, as := range candidates {
		if as.MatchRoom(string(roomID), false) {
			out = append(out, as)
		} else {
			rest = append(rest, as)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	facts, err := p.roomFacts(ctx, q, roomID)
	if err != nil {
		return nil, err
	}
	split(rest, func(as *AppService) bool {
		if facts.members[as.ID] {
			return true
		}
		for _, a := range facts.aliases {
			if as.MatchAlias(a, false) {
				return true
			}
		}
		return false
	}, &out)
	return out, nil
}

// roomFacts answers from the cache or reads through q.
func (p *Pusher) roomFacts(ctx context.Context, q querier, roomID id.RoomID) (roomFacts, error) {
	facts, token, ok := p.cache.get(roomID)
	if ok {
		return facts, nil
	}
	var err error
	if p.mayHaveMembers(roomID) {
		if facts.members, err = roomAppServices(ctx, q, roomID); err != nil {
			return facts, err
		}
	}
	if p.aliasNamespaces {
		if facts.aliases, err = roomAliases(ctx, q, roomID); err != nil {
			return facts, err
		}
	}
	p.cache.put(roomID, token, facts)
	return facts, nil
}

// split appends to out the appservices for which keep holds and returns
// the others.
func split(list []*AppService, keep func(*AppService) bool, out *[]*AppService) []*AppService {
	var rest []*AppService
	for _, as := range list {
		if keep(as) {
			*out = append(*out, as)
		} else {
			rest = append(rest, as)
		}
	}
	return rest
}

// roomAppServices returns the IDs of appservices with a user joined to roomID.
func roomAppServices(ctx context.Context, q querier, roomID id.RoomID) (map[string]bool, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT as_id FROM appservice_room_members WHERE room_id = $1`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var asID string
		if err := rows.Scan(&asID); err != nil {
			return nil, err
		}
		out[asID] = true
	}
	return out, rows.Err()
}

// roomAliases lists the room's canonical alias and alt_aliases plus its
// local directory aliases.
func roomAliases(ctx context.Context, q querier, roomID id.RoomID) ([]string, error) {
	var client string
	err := q.QueryRow(ctx, `
		SELECT e.client FROM current_state cs JOIN events e ON e.event_id = cs.event_id
		WHERE cs.room_id = $1 AND cs.type = $2 AND cs.state_key = ''`, roomID, event.StateCanonicalAlias.Type).Scan(&client)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	canonical := gjson.Get(client, "content")
	out := []string{}
	if a := canonical.Get("alias"); a.Type == gjson.String {
		out = append(out, a.Str)
	}
	for _, a := range canonical.Get("alt_aliases").Array() {
		if a.Type == gjson.String {
			out = append(out, a.Str)
		}
	}
	rows, err := q.Query(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// sharingAppServices returns the IDs of appservices with a user joined to
// a room userID is joined to (presence and device lists concern them).
func sharingAppServices(ctx context.Context, q querier, userID id.UserID) (map[string]bool, error) {
	rows, err := q.Query(ctx, `
		SELECT DISTINCT m.as_id FROM appservice_room_members m
		JOIN current_state cs ON cs.room_id = m.room_id
		WHERE cs.type = 'm.room.member' AND cs.state_key = $1 AND cs.membership = 'join'`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var asID string
		if err := rows.Scan(&asID); err != nil {
			return nil, err
		}
		out[asID] = true
	}
	return out, rows.Err()
}
