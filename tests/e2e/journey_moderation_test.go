package e2e

import (
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// leave checks both sides see bob leave, and bob's /sync moves the room to
// its leave section.
func (j *journey) leave(t *testing.T) {
	if _, err := j.bob.LeaveRoom(t.Context(), j.room); err != nil {
		t.Fatalf("leave: %v", err)
	}
	j.alice.syncUntil(t, "bob's leave", func(r *mautrix.RespSync) bool {
		me := memberEvent(timeline(r, j.room), j.bob.UserID)
		return me != nil && str(me, "membership") == "leave"
	})
	r := j.bob.syncUntil(t, "the room in his leave section", func(r *mautrix.RespSync) bool {
		return r.Rooms.Leave[j.room] != nil
	})
	if me := memberEvent(stateAndTimeline(r, j.room), j.bob.UserID); me == nil || str(me, "membership") != "leave" {
		t.Errorf("bob's leave section lacks his leave event: %v", me)
	}
	if r.Rooms.Join[j.room] != nil {
		t.Errorf("left room still listed as joined")
	}
}

// kickAndBan has carol join a public room by alias, get kicked with a
// reason, get banned, and fail to come back.
func (j *journey) kickAndBan(t *testing.T) {
	resp, err := j.alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{
		Preset: "public_chat", Name: "Lobby", RoomAliasName: "lobby",
	})
	if err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	lobby := resp.RoomID
	alias := "#lobby:" + ServerName
	state, err := j.alice.State(t.Context(), lobby)
	if err != nil {
		t.Fatalf("GET /state: %v", err)
	}
	if state[event.StateEncryption][""] != nil {
		t.Errorf("public room is encrypted, but the config says encryption by default only for invite rooms")
	}
	if jr := state[event.StateJoinRules][""]; jr == nil || str(jr, "join_rule") != "public" {
		t.Errorf("public_chat room join_rules = %v", jr)
	}
	if ca := state[event.StateCanonicalAlias][""]; ca == nil || str(ca, "alias") != alias {
		t.Errorf("m.room.canonical_alias = %v, want %s", ca, alias)
	}

	joinResp, err := j.carol.JoinRoom(t.Context(), alias, nil)
	if err != nil {
		t.Fatalf("join by alias: %v", err)
	}
	if joinResp.RoomID != lobby {
		t.Fatalf("joining %s gave %s, want %s", alias, joinResp.RoomID, lobby)
	}
	j.carol.syncUntil(t, "the lobby", func(r *mautrix.RespSync) bool { return joined(r, lobby) != nil })

	if _, err := j.alice.KickUser(t.Context(), lobby, &mautrix.ReqKickUser{UserID: j.carol.UserID, Reason: "spam"}); err != nil {
		t.Fatalf("kick: %v", err)
	}
	kicked := j.carol.syncUntil(t, "her kick", func(r *mautrix.RespSync) bool { return r.Rooms.Leave[lobby] != nil })
	wantMembership(t, "carol's leave section after the kick", stateAndTimeline(kicked, lobby), j.carol.UserID, "leave", j.alice.UserID, "spam")

	if _, err := j.alice.BanUser(t.Context(), lobby, &mautrix.ReqBanUser{UserID: j.carol.UserID, Reason: "still spam"}); err != nil {
		t.Fatalf("ban: %v", err)
	}
	banned := j.carol.syncUntil(t, "her ban", func(r *mautrix.RespSync) bool {
		me := memberEvent(stateAndTimeline(r, lobby), j.carol.UserID)
		return me != nil && str(me, "membership") == "ban"
	})
	wantMembership(t, "carol's leave section after the ban", stateAndTimeline(banned, lobby), j.carol.UserID, "ban", j.alice.UserID, "still spam")
	member, err := j.alice.FullStateEvent(t.Context(), lobby, event.StateMember, string(j.carol.UserID))
	if err != nil {
		t.Fatalf("GET carol's member state: %v", err)
	}
	if str(member, "membership") != "ban" {
		t.Errorf("carol's membership per alice = %s", member.Content.VeryRaw)
	}

	_, err = j.carol.JoinRoom(t.Context(), alias, nil)
	wantMatrixError(t, err, 403, "M_FORBIDDEN")
	_, err = j.carol.JoinRoomByID(t.Context(), lobby)
	wantMatrixError(t, err, 403, "M_FORBIDDEN")
}

// wantMembership checks the last member event about target in evs.
func wantMembership(t *testing.T, what string, evs []*event.Event, target id.UserID, membership string, sender id.UserID, reason string) {
	t.Helper()
	me := memberEvent(evs, target)
	if me == nil {
		t.Errorf("%s: no member event for %s", what, target)
		return
	}
	if str(me, "membership") != membership || me.Sender != sender || str(me, "reason") != reason {
		t.Errorf("%s: got membership %q from %s reason %q, want %q from %s reason %q", what,
			str(me, "membership"), me.Sender, str(me, "reason"), membership, sender, reason)
	}
}
