package accountdata

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Room tags live in the per-room account data event m.tag, content
// {"tags": {"<tag>": {"order": 0.5}, ...}}, as in Synapse: /sync then carries
// them to every client with no special case, and a client that writes m.tag
// through the plain account data API sees the same tags through the tag API.

// TagType is the room account data type that holds a room's tags.
const TagType = "m.tag"

// MaxTagLength is the spec's limit on a tag name, in bytes.
const MaxTagLength = 255

// Tags returns the user's tags on room as the tag API answers them,
// {"tags": {...}}; the map is empty when the user has tagged nothing.
func (s *Service) Tags(ctx context.Context, user id.UserID, room id.RoomID) (json.RawMessage, error) {
	content, err := scanContent(s.db.QueryRow(ctx, tagQuery, user, room, TagType))
	if err != nil {
		return nil, err
	}
	_, tags := splitTags(content)
	return json.Marshal(map[string]any{"tags": tags})
}

// SetTag adds tag to room, or replaces its content (a JSON object such as
// {"order": 0.25}). The caller validates the name and the content.
func (s *Service) SetTag(ctx context.Context, user id.UserID, room id.RoomID, tag string, content json.RawMessage) error {
	return s.editTags(ctx, user, room, func(tags map[string]json.RawMessage) {
		tags[tag] = content
	})
}

// RemoveTag removes tag from room. Removing a tag the room does not have
// succeeds and changes nothing, so no /sync is woken for it.
func (s *Service) RemoveTag(ctx context.Context, user id.UserID, room id.RoomID, tag string) error {
	content, err := scanContent(s.db.QueryRow(ctx, tagQuery, user, room, TagType))
	if err != nil {
		return err
	}
	if _, tags := splitTags(content); tags[tag] == nil {
		return nil
	}
	return s.editTags(ctx, user, room, func(tags map[string]json.RawMessage) { delete(tags, tag) })
}

const tagQuery = `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`

// editTags reads, edits and rewrites m.tag inside the stream transaction:
// the writer commits one write at a time, so two devices tagging the same
// room at once both keep their tag.
func (s *Service) editTags(ctx context.Context, user id.UserID, room id.RoomID, edit func(map[string]json.RawMessage)) error {
	_, err := s.w.Submit(ctx, stream.Change{Kind: stream.KindAccountData, UserIDs: []string{user.String()}},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			content, err := scanContent(tx.QueryRow(ctx, tagQuery, user, room, TagType))
			if err != nil {
				return err
			}
			top, tags := splitTags(content)
			edit(tags)
			if top["tags"], err = json.Marshal(tags); err != nil {
				return err
			}
			out, err := json.Marshal(top)
			if err != nil {
				return err
			}
			return Write(ctx, tx, user, room, TagType, out, pos)
		})
	return err
}

// scanContent scans a stored content, nil when there is none.
func scanContent(row *sql.Row) ([]byte, error) {
	var content string
	err := row.Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return []byte(content), err
}

// splitTags decodes m.tag content into its top-level keys and its tags.
// Content written through the plain account data API may be any object:
// keys other than "tags" are kept, and a "tags" that is not an object of
// objects counts as no tags (or loses the entries that are not objects).
func splitTags(content []byte) (map[string]json.RawMessage, map[string]json.RawMessage) {
	var top map[string]json.RawMessage
	if json.Unmarshal(content, &top) != nil || top == nil {
		top = map[string]json.RawMessage{}
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(top["tags"], &raw)
	tags := make(map[string]json.RawMessage, len(raw))
	for name, v := range raw {
		if v = bytes.TrimSpace(v); len(v) > 0 && v[0] == '{' {
			tags[name] = v
		}
	}
	return top, tags
}
