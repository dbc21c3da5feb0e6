package e2e

import (
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// journey is the state TestClientJourney carries from step to step: what
// a small community does on its first evening, seen from both sides.
type journey struct {
	s                 *server
	alice, bob, carol *user
	room              id.RoomID // alice's private, encrypted-by-default room
	msgID             id.EventID
}

// TestClientJourney walks alice, bob and carol through registration,
// rooms, messages, edits, reactions, typing, receipts, history, profiles,
// media, redaction, leaving, kicking and banning, checking at each step
// what the other side's /sync shows. A step that later steps depend on
// stops the journey when it fails; independent steps run regardless.
func TestClientJourney(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		j := &journey{s: startServer(t, backend)}
		steps := []struct {
			name        string
			fn          func(t *testing.T)
			independent bool
		}{
			{"versions", j.versions, true},
			{"register_and_login", j.registerAndLogin, false},
			{"private_room", j.createPrivateRoom, false},
			{"invite", j.invite, false},
			{"join", j.join, false},
			{"message", j.message, false},
			{"edit_and_reaction", j.editAndReact, true},
			{"typing", j.typing, true},
			{"read_receipt", j.receipt, true},
			{"pagination", j.paginate, true},
			{"displayname", j.displayName, true},
			{"media", j.media, true},
			{"redaction", j.redact, true},
			{"leave", j.leave, true},
			{"kick_and_ban", j.kickAndBan, true},
		}
		for _, st := range steps {
			if !t.Run(st.name, st.fn) && !st.independent {
				t.Fatalf("step %s failed; later steps depend on it", st.name)
			}
		}
	})
}

// versions checks the server advertises the spec versions clients key
// features on: Element uses authenticated media only from v1.11, and
// mautrix bridges refuse servers below v1.4.
func (j *journey) versions(t *testing.T) {
	c := j.s.newClient(t, "", "")
	v, err := c.Versions(t.Context())
	if err != nil {
		t.Fatalf("GET /versions: %v", err)
	}
	for _, want := range []string{"v1.4", "v1.11"} {
		if !slices.ContainsFunc(v.Versions, func(s mautrix.SpecVersion) bool { return s.String() == want }) {
			t.Errorf("/versions lacks %s: %v", want, v.Versions)
		}
	}
}

func (j *journey) registerAndLogin(t *testing.T) {
	first := j.s.register(t, "alice")
	j.bob = j.s.register(t, "bob")
	j.carol = j.s.register(t, "carol")

	j.alice = j.s.login(t, first, "alice's laptop")
	if j.alice.DeviceID == first.DeviceID || j.alice.AccessToken == first.AccessToken {
		t.Errorf("login reused the registration device %s / token", first.DeviceID)
	}
	who, err := j.alice.Whoami(t.Context())
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if who.UserID != first.UserID || who.DeviceID != j.alice.DeviceID {
		t.Errorf("whoami = %s/%s, want %s/%s", who.UserID, who.DeviceID, first.UserID, j.alice.DeviceID)
	}

	bad := j.s.newClient(t, "", "")
	_, err = bad.Login(t.Context(), &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "alice"},
		Password:   "wrong password",
	})
	wantMatrixError(t, err, 403, "M_FORBIDDEN")
}

func (j *journey) createPrivateRoom(t *testing.T) {
	resp, err := j.alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{
		Preset: "private_chat", Name: "Journey", Topic: "Where the e2e test lives",
	})
	if err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	if len(resp.RoomID) < 2 || resp.RoomID[0] != '!' {
		t.Fatalf("createRoom returned room_id %q", resp.RoomID)
	}
	j.room = resp.RoomID
	state, err := j.alice.State(t.Context(), j.room)
	if err != nil {
		t.Fatalf("GET /state: %v", err)
	}
	checks := []struct {
		typ       event.Type
		key, want string
		path      []string
	}{
		{event.StateRoomName, "", "Journey", []string{"name"}},
		{event.StateTopic, "", "Where the e2e test lives", []string{"topic"}},
		{event.StateJoinRules, "", "invite", []string{"join_rule"}},
		{event.StateMember, string(j.alice.UserID), "join", []string{"membership"}},
		// encryption_enabled_by_default_for_room_type: invite covers private_chat.
		{event.StateEncryption, "", "m.megolm.v1.aes-sha2", []string{"algorithm"}},
	}
	for _, c := range checks {
		ev := state[c.typ][c.key]
		if ev == nil {
			t.Errorf("room state has no %s/%q", c.typ.Type, c.key)
			continue
		}
		if got := str(ev, c.path...); got != c.want {
			t.Errorf("%s/%q %v = %q, want %q", c.typ.Type, c.key, c.path, got, c.want)
		}
	}
	if state[event.StateCreate][""] == nil {
		t.Errorf("room state has no m.room.create")
	}
}

func (j *journey) invite(t *testing.T) {
	if _, err := j.alice.InviteUser(t.Context(), j.room, &mautrix.ReqInviteUser{UserID: j.bob.UserID}); err != nil {
		t.Fatalf("invite: %v", err)
	}
	resp := j.bob.syncUntil(t, "the invite", func(r *mautrix.RespSync) bool { return r.Rooms.Invite[j.room] != nil })
	if resp.Rooms.Join[j.room] != nil {
		t.Errorf("invited room also listed as joined")
	}
	inv := resp.Rooms.Invite[j.room].State.Events
	names := ofType(inv, "m.room.name")
	if len(names) != 1 || str(names[0], "name") != "Journey" {
		t.Errorf("invite_state m.room.name = %v, want one with name Journey", names)
	}
	me := memberEvent(inv, j.bob.UserID)
	if me == nil || str(me, "membership") != "invite" || me.Sender != j.alice.UserID {
		t.Errorf("invite_state lacks bob's invite from alice: %v", me)
	}
}

func (j *journey) join(t *testing.T) {
	resp, err := j.bob.JoinRoomByID(t.Context(), j.room)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if resp.RoomID != j.room {
		t.Errorf("join returned room_id %s, want %s", resp.RoomID, j.room)
	}
	r := j.bob.syncUntil(t, "the joined room", func(r *mautrix.RespSync) bool { return joined(r, j.room) != nil })
	evs := stateAndTimeline(r, j.room)
	if me := memberEvent(evs, j.bob.UserID); me == nil || str(me, "membership") != "join" {
		t.Errorf("bob's first sync of the room lacks his join: %v", me)
	}
	if len(ofType(evs, "m.room.encryption")) != 1 {
		t.Errorf("bob's first sync of the room lacks m.room.encryption; his client would send plaintext")
	}
	if len(ofType(evs, "m.room.name")) != 1 {
		t.Errorf("bob's first sync of the room lacks m.room.name")
	}
	if r.Rooms.Invite[j.room] != nil {
		t.Errorf("joined room still listed as invited")
	}
	j.alice.syncUntil(t, "bob's join", func(r *mautrix.RespSync) bool {
		me := memberEvent(stateAndTimeline(r, j.room), j.bob.UserID)
		return me != nil && str(me, "membership") == "join"
	})
}

func (j *journey) message(t *testing.T) {
	sent, err := j.alice.SendMessageEvent(t.Context(), j.room, event.EventMessage,
		map[string]any{"msgtype": "m.text", "body": "hello bob"}, mautrix.ReqSendEvent{TransactionID: "journey-hello"})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	j.msgID = sent.EventID
	var msgs []*event.Event
	j.bob.syncUntil(t, "alice's message", func(r *mautrix.RespSync) bool {
		msgs = append(msgs, ofType(timeline(r, j.room), "m.room.message")...)
		return byID(msgs, sent.EventID) != nil
	})
	if len(msgs) != 1 {
		t.Fatalf("bob's incremental syncs delivered %d messages, want exactly 1", len(msgs))
	}
	m := msgs[0]
	if m.Sender != j.alice.UserID || str(m, "body") != "hello bob" || str(m, "msgtype") != "m.text" {
		t.Errorf("bob got sender %s body %q msgtype %q", m.Sender, str(m, "body"), str(m, "msgtype"))
	}
	if m.Timestamp <= 0 {
		t.Errorf("message without origin_server_ts")
	}
	if m.Unsigned.TransactionID != "" {
		t.Errorf("bob sees alice's transaction_id %q; only the sending device may", m.Unsigned.TransactionID)
	}
	j.alice.syncUntil(t, "her own message", func(r *mautrix.RespSync) bool {
		own := byID(timeline(r, j.room), sent.EventID)
		if own != nil && own.Unsigned.TransactionID != "journey-hello" {
			t.Errorf("alice's own echo has transaction_id %q, want journey-hello", own.Unsigned.TransactionID)
		}
		return own != nil
	})
}

func (j *journey) editAndReact(t *testing.T) {
	edit, err := j.alice.SendMessageEvent(t.Context(), j.room, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "* hello bob, edited",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "hello bob, edited"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": j.msgID},
	})
	if err != nil {
		t.Fatalf("send edit: %v", err)
	}
	react, err := j.alice.SendMessageEvent(t.Context(), j.room, event.EventReaction, map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": j.msgID, "key": "👍"},
	})
	if err != nil {
		t.Fatalf("send reaction: %v", err)
	}
	var seen []*event.Event
	j.bob.syncUntil(t, "the edit and the reaction", func(r *mautrix.RespSync) bool {
		seen = append(seen, timeline(r, j.room)...)
		return byID(seen, edit.EventID) != nil && byID(seen, react.EventID) != nil
	})
	e := byID(seen, edit.EventID)
	if e.Type.Type != "m.room.message" || str(e, "m.relates_to", "rel_type") != "m.replace" ||
		str(e, "m.relates_to", "event_id") != string(j.msgID) || str(e, "m.new_content", "body") != "hello bob, edited" {
		t.Errorf("edit arrived as %s %s", e.Type.Type, e.Content.VeryRaw)
	}
	re := byID(seen, react.EventID)
	if re.Type.Type != "m.reaction" || str(re, "m.relates_to", "rel_type") != "m.annotation" ||
		str(re, "m.relates_to", "event_id") != string(j.msgID) || str(re, "m.relates_to", "key") != "👍" {
		t.Errorf("reaction arrived as %s %s", re.Type.Type, re.Content.VeryRaw)
	}
}

func (j *journey) typing(t *testing.T) {
	if _, err := j.alice.UserTyping(t.Context(), j.room, true, 30*time.Second); err != nil {
		t.Fatalf("typing: %v", err)
	}
	typers := func(r *mautrix.RespSync) ([]any, bool) {
		ev := ofType(ephemeral(r, j.room), "m.typing")
		if len(ev) == 0 {
			return nil, false
		}
		ids, ok := field(ev[len(ev)-1], "user_ids").([]any)
		if !ok {
			t.Errorf("m.typing without a user_ids list: %s", ev[len(ev)-1].Content.VeryRaw)
		}
		return ids, true
	}
	j.bob.syncUntil(t, "alice typing", func(r *mautrix.RespSync) bool {
		ids, ok := typers(r)
		return ok && len(ids) == 1 && ids[0] == string(j.alice.UserID)
	})
	if _, err := j.alice.UserTyping(t.Context(), j.room, false, 0); err != nil {
		t.Fatalf("stop typing: %v", err)
	}
	j.bob.syncUntil(t, "alice no longer typing", func(r *mautrix.RespSync) bool {
		ids, ok := typers(r)
		return ok && len(ids) == 0
	})
}

func (j *journey) receipt(t *testing.T) {
	if err := j.bob.SendReceipt(t.Context(), j.room, j.msgID, event.ReceiptTypeRead, nil); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	j.alice.syncUntil(t, "bob's read receipt", func(r *mautrix.RespSync) bool {
		for _, ev := range ofType(ephemeral(r, j.room), "m.receipt") {
			if ts, ok := field(ev, string(j.msgID), "m.read", string(j.bob.UserID), "ts").(float64); ok {
				if ts <= 0 {
					t.Errorf("receipt ts %v", ts)
				}
				return true
			}
		}
		return false
	})
}
