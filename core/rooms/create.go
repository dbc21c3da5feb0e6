package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// CreateRequest is the body of POST /createRoom.
type CreateRequest struct {
	Visibility                string            `json:"visibility"`
	RoomAliasName             string            `json:"room_alias_name"`
	Name                      *string           `json:"name"`
	Topic                     *string           `json:"topic"`
	Invite                    []id.UserID       `json:"invite"`
	RoomVersion               id.RoomVersion    `json:"room_version"`
	CreationContent           json.RawMessage   `json:"creation_content"`
	InitialState              []InitialState    `json:"initial_state"`
	Preset                    string            `json:"preset"`
	IsDirect                  bool              `json:"is_direct"`
	PowerLevelContentOverride json.RawMessage   `json:"power_level_content_override"`
	Invite3PID                []json.RawMessage `json:"invite_3pid"`
}

// InitialState is one entry of createRoom's initial_state.
type InitialState struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// CreateRoom creates a room the way the spec's createRoom describes: create,
// the creator's join, power levels, alias, preset rules, initial state, name,
// topic, then invites.
func (s *Service) CreateRoom(ctx context.Context, creator id.UserID, req *CreateRequest) (id.RoomID, id.RoomAlias, error) {
	plan, err := s.planCreate(ctx, creator, req)
	if err != nil {
		return "", "", err
	}
	roomID, err := s.runPlan(ctx, creator, plan)
	if err != nil {
		return "", "", err
	}
	if req.Visibility == "public" {
		if err := s.SetVisibility(ctx, roomID, "public"); err != nil {
			return "", "", err
		}
	}
	if plan.alias != "" {
		if err := s.CreateAlias(ctx, plan.alias, roomID, creator); err != nil {
			return roomID, "", err
		}
	}
	return roomID, plan.alias, nil
}

// runPlan creates a room from plan's events, sent by creator in order and
// committed together, and returns its ID once they are durable.
func (s *Service) runPlan(ctx context.Context, creator id.UserID, plan *createPlan) (id.RoomID, error) {
	roomID := id.RoomID("!" + randomString(18) + ":" + s.opts.ServerName)
	r := &room{id: roomID, version: plan.version, state: map[pdu.StateKey]*Event{}}
	s.mu.Lock()
	s.rooms[roomID] = r
	s.mu.Unlock()
	r.mu.Lock()
	var last *Event
	var lastPending *stream.Pending
	for i, step := range plan.events {
		step.RoomID, step.Sender = roomID, creator
		ev, pending, err := s.buildAndQueue(ctx, r, step)
		if err != nil {
			r.mu.Unlock()
			if i > 0 {
				_, _ = s.await(r, last, lastPending)
			} else {
				s.forget(roomID)
			}
			return "", err
		}
		last, lastPending = ev, pending
	}
	r.mu.Unlock()
	if _, err := s.await(r, last, lastPending); err != nil {
		return "", err
	}
	// Only the last event's position was recorded in memory; reload so
	// every state event carries its stored position.
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
	return roomID, nil
}

func (s *Service) forget(roomID id.RoomID) {
	s.mu.Lock()
	delete(s.rooms, roomID)
	s.mu.Unlock()
}

type createPlan struct {
	version id.RoomVersion
	alias   id.RoomAlias
	events  []SendRequest
}

func (s *Service) planCreate(ctx context.Context, creator id.UserID, req *CreateRequest) (*createPlan, error) {
	plan := &createPlan{version: req.RoomVersion}
	if plan.version == "" {
		plan.version = s.opts.DefaultVersion
	}
	if !events.IsSupported(plan.version) {
		return nil, httpx.NewError(400, "M_UNSUPPORTED_ROOM_VERSION", "Room version %q is not supported", plan.version)
	}
	preset := req.Preset
	if preset == "" {
		preset = "private_chat"
		if req.Visibility == "public" {
			preset = "public_chat"
		}
	}
	if preset != "private_chat" && preset != "public_chat" && preset != "trusted_private_chat" {
		return nil, httpx.BadJSON("Unknown preset %q", preset)
	}
	if req.Visibility != "" && req.Visibility != "public" && req.Visibility != "private" {
		return nil, httpx.BadJSON("visibility must be public or private")
	}
	if req.RoomAliasName != "" {
		plan.alias = id.RoomAlias("#" + req.RoomAliasName + ":" + s.opts.ServerName)
		if err := validateAlias(plan.alias, s.opts.ServerName); err != nil {
			return nil, err
		}
		if existing, _ := s.ResolveAlias(ctx, plan.alias); existing != "" {
			return nil, httpx.NewError(400, "M_ROOM_IN_USE", "Room alias %s already exists", plan.alias)
		}
	}
	for _, u := range req.Invite {
		if _, _, err := id.UserID(u).ParseAndValidateRelaxed(); err != nil {
			return nil, httpx.InvalidParam("Invalid user ID in invite: %q", u)
		}
	}
	create, err := createContent(creator, plan.version, req.CreationContent)
	if err != nil {
		return nil, err
	}
	add := func(evType, stateKey string, content any) error {
		raw, err := json.Marshal(content)
		if err != nil {
			return err
		}
		sk := stateKey
		plan.events = append(plan.events, SendRequest{Type: evType, StateKey: &sk, Content: raw})
		return nil
	}
	must := func(err error) {
		if err != nil {
			panic(err) // only on values built here; unreachable
		}
	}
	must(add(event.StateCreate.Type, "", create))
	member, err := s.memberContent(ctx, creator, event.MembershipJoin, "", false)
	if err != nil {
		return nil, err
	}
	must(add(event.StateMember.Type, creator.String(), member))
	pl, err := powerLevels(creator, preset, req.Invite, req.PowerLevelContentOverride)
	if err != nil {
		return nil, err
	}
	plan.events = append(plan.events, SendRequest{Type: event.StatePowerLevels.Type, StateKey: ptr(""), Content: pl})
	if plan.alias != "" {
		must(add(event.StateCanonicalAlias.Type, "", map[string]any{"alias": plan.alias}))
	}
	joinRule, guest := "invite", "can_join"
	if preset == "public_chat" {
		joinRule, guest = "public", "forbidden"
	}
	have := map[string]bool{}
	for _, st := range req.InitialState {
		have[st.Type+"\x00"+st.StateKey] = true
	}
	if !have["m.room.join_rules\x00"] {
		must(add(event.StateJoinRules.Type, "", map[string]any{"join_rule": joinRule}))
	}
	if !have["m.room.history_visibility\x00"] {
		must(add(event.StateHistoryVisibility.Type, "", map[string]any{"history_visibility": "shared"}))
	}
	if !have["m.room.guest_access\x00"] {
		must(add(event.StateGuestAccess.Type, "", map[string]any{"guest_access": guest}))
	}
	encrypt := s.opts.EncryptByDefault == "all" || (s.opts.EncryptByDefault == "invite" && preset != "public_chat")
	if encrypt && !have["m.room.encryption\x00"] {
		must(add(event.StateEncryption.Type, "", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}))
	}
	for _, st := range req.InitialState {
		if st.Type == "" || st.Type == event.StateCreate.Type || st.Type == event.StateMember.Type {
			return nil, httpx.BadJSON("initial_state may not contain %q events", st.Type)
		}
		sk := st.StateKey
		content := st.Content
		if len(content) == 0 || content[0] != '{' {
			return nil, httpx.BadJSON("initial_state content for %s must be an object", st.Type)
		}
		plan.events = append(plan.events, SendRequest{Type: st.Type, StateKey: &sk, Content: content})
	}
	if req.Name != nil {
		must(add(event.StateRoomName.Type, "", map[string]any{"name": *req.Name}))
	}
	if req.Topic != nil {
		must(add(event.StateTopic.Type, "", map[string]any{"topic": *req.Topic}))
	}
	for _, u := range req.Invite {
		content, err := s.memberContent(ctx, u, event.MembershipInvite, "", req.IsDirect)
		if err != nil {
			return nil, err
		}
		must(add(event.StateMember.Type, u.String(), content))
	}
	return plan, nil
}

func createContent(creator id.UserID, version id.RoomVersion, extra json.RawMessage) (map[string]any, error) {
	content := map[string]any{}
	if len(extra) > 0 && string(extra) != "null" {
		if err := json.Unmarshal(extra, &content); err != nil {
			return nil, httpx.BadJSON("creation_content must be an object")
		}
	}
	content["room_version"] = string(version)
	if version.CreatorInContent() {
		content["creator"] = creator.String()
	} else {
		delete(content, "creator")
	}
	return content, nil
}

func powerLevels(creator id.UserID, preset string, invites []id.UserID, override json.RawMessage) (json.RawMessage, error) {
	users := map[string]int{creator.String(): 100}
	if preset == "trusted_private_chat" {
		for _, u := range invites {
			users[u.String()] = 100
		}
	}
	pl := map[string]any{
		"users": users, "users_default": 0, "events_default": 0, "state_default": 50,
		"ban": 50, "kick": 50, "redact": 50, "invite": 0,
		"events": map[string]int{
			"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
			"m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
			"m.room.server_acl": 100, "m.room.encryption": 100,
		},
		"notifications": map[string]int{"room": 50},
	}
	if len(override) > 0 && string(override) != "null" {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(override, &o); err != nil {
			return nil, httpx.BadJSON("power_level_content_override must be an object")
		}
		for k, v := range o {
			pl[k] = v
		}
	}
	return json.Marshal(pl)
}

func ptr[T any](v T) *T { return &v }

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
