package push

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/id"
)

// evalDefault evaluates an event against the default rules of @bob:x.
func evalDefault(t *testing.T, typ string, stateKey *string, sender, content string, members int, displayName string) (bool, bool) {
	t.Helper()
	user := id.UserID("@bob:x")
	rules := compile(user, effective(user, &userRules{}))
	ev := &eventView{typ: typ, sender: sender, roomID: "!r:x", stateKey: stateKey, content: []byte(content)}
	room := &roomInfo{joined: members, users: map[string]int64{"@admin:x": 100}, notifyRoom: 50}
	return rules.eval(ev, room, member{displayName: displayName})
}

func TestDefaultRules(t *testing.T) {
	empty := ""
	bob := "@bob:x"
	cases := []struct {
		name              string
		typ               string
		stateKey          *string
		sender, content   string
		members           int
		notify, highlight bool
	}{
		{"group message", "m.room.message", nil, "@a:x", `{"msgtype":"m.text","body":"hi"}`, 5, true, false},
		{"one to one", "m.room.message", nil, "@a:x", `{"msgtype":"m.text","body":"hi"}`, 2, true, false},
		{"notice", "m.room.message", nil, "@a:x", `{"msgtype":"m.notice","body":"bob"}`, 2, false, false},
		{"user name", "m.room.message", nil, "@a:x", `{"msgtype":"m.text","body":"hey Bob!"}`, 5, true, true},
		{"user name inside word", "m.room.message", nil, "@a:x", `{"msgtype":"m.text","body":"bobcat"}`, 5, true, false},
		{"display name", "m.room.message", nil, "@a:x", `{"msgtype":"m.text","body":"ask Robert Tables."}`, 5, true, true},
		{"mention", "m.room.message", nil, "@a:x", `{"body":"x","m.mentions":{"user_ids":["@bob:x"]}}`, 5, true, true},
		{"mentions disable legacy", "m.room.message", nil, "@a:x", `{"body":"bob","m.mentions":{}}`, 5, true, false},
		{"room mention by admin", "m.room.message", nil, "@admin:x", `{"body":"x","m.mentions":{"room":true}}`, 5, true, true},
		{"room mention by nobody", "m.room.message", nil, "@a:x", `{"body":"x","m.mentions":{"room":true}}`, 5, true, false},
		{"@room legacy", "m.room.message", nil, "@admin:x", `{"body":"hey @room"}`, 5, true, true},
		{"edit", "m.room.message", nil, "@a:x", `{"body":"* bob","m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}`, 5, false, false},
		{"reaction", "m.reaction", nil, "@a:x", `{}`, 2, false, false},
		{"invite for me", "m.room.member", &bob, "@a:x", `{"membership":"invite"}`, 5, true, false},
		{"member event", "m.room.member", &empty, "@a:x", `{"membership":"join"}`, 5, false, false},
		{"tombstone", "m.room.tombstone", &empty, "@a:x", `{"body":"moved"}`, 5, true, true},
		{"encrypted 1:1", "m.room.encrypted", nil, "@a:x", `{}`, 2, true, false},
		{"encrypted group", "m.room.encrypted", nil, "@a:x", `{}`, 3, true, false},
		{"call", "m.call.invite", nil, "@a:x", `{}`, 3, true, false},
		{"other state", "m.room.topic", &empty, "@a:x", `{"topic":"t"}`, 3, false, false},
	}
	for _, c := range cases {
		n, h := evalDefault(t, c.typ, c.stateKey, c.sender, c.content, c.members, "robert tables")
		if n != c.notify || h != c.highlight {
			t.Errorf("%s: notify=%v highlight=%v, want %v %v", c.name, n, h, c.notify, c.highlight)
		}
	}
}

func TestUserRulesAndGlobs(t *testing.T) {
	user := id.UserID("@bob:x")
	ur := &userRules{Rules: map[Kind][]Rule{}}
	mute, _ := NewRule(Room, "!muted:x", RuleBody{Actions: []any{}})
	cake, _ := NewRule(Content, "cake", RuleBody{Actions: []any{"notify", map[string]any{"set_tweak": "highlight", "value": false}}, Pattern: ptr("cake*lie")})
	ur.Rules[Room] = []Rule{mute}
	ur.Rules[Content] = []Rule{cake}
	ur.Enabled = map[string]bool{"override/.m.rule.suppress_notices": false}
	rules := compile(user, effective(user, ur))
	room := &roomInfo{joined: 5, notifyRoom: 50}
	ev := func(roomID, body string) *eventView {
		raw, _ := json.Marshal(map[string]string{"msgtype": "m.notice", "body": body})
		return &eventView{typ: "m.room.message", sender: "@a:x", roomID: roomID, content: raw}
	}
	if n, _ := rules.eval(ev("!muted:x", "hello"), room, member{}); n {
		t.Error("muted room notified")
	}
	if n, _ := rules.eval(ev("!other:x", "hello"), room, member{}); !n {
		t.Error("notice not notified with suppress_notices disabled")
	}
	if n, h := rules.eval(ev("!other:x", "the Cake is a lie"), room, member{}); !n || h {
		t.Errorf("content glob: %v %v", n, h)
	}
	for pattern, cases := range map[string]map[string]bool{
		"lunc?*":   {"Lunch plans": true, "LUNCH": true, " lunch": false, "lunc": false},
		"m.room.*": {"m.room.message": true, "m.reaction": false},
		"":         {"": true, "x": false},
	} {
		m := compileGlob(pattern, false)
		for s, want := range cases {
			if got := m.match(s, func() string { return s }); got != want {
				t.Errorf("glob %q on %q = %v", pattern, s, got)
			}
		}
	}
	words := compileGlob("ex*ple", true)
	for s, want := range map[string]bool{"An example event.": true, "exple": true, "An exciting triple-whammy": true, "examples": false} {
		if got := words.match(s, func() string { return s }); got != want {
			t.Errorf("body glob on %q = %v", s, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestFieldPath(t *testing.T) {
	for key, want := range map[string]string{
		"type":                           "type",
		"content.body":                   "content:body",
		`content.m\.relates_to.rel_type`: `content:m\.relates_to.rel_type`,
		`content.a\\b`:                   `content:a\\b`,
	} {
		if got, ok := fieldPath(key); !ok || got != want {
			t.Errorf("fieldPath(%q) = %q, %v", key, got, ok)
		}
	}
	for _, bad := range []string{"", "unsigned.age", "content", "type.x"} {
		if _, ok := fieldPath(bad); ok {
			t.Errorf("fieldPath(%q) accepted", bad)
		}
	}
}

func FuzzRuleBody(f *testing.F) {
	for _, s := range []string{
		`{"actions":["notify"],"conditions":[{"kind":"event_match","key":"content.body","pattern":"beer"},{"kind":"room_member_count","is":"<=10"}]}`,
		`{"actions":[{"set_tweak":"sound","value":"default"}],"pattern":"ca?e*"}`,
		`{"actions":[],"conditions":[{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@a:b"}]}`,
		`{"actions":["dont_notify"]}`, `{}`,
	} {
		f.Add([]byte(s), "override")
	}
	f.Fuzz(func(t *testing.T, data []byte, kind string) {
		var body RuleBody
		if json.Unmarshal(data, &body) != nil {
			return
		}
		k, err := ParseKind(kind)
		if err != nil {
			return
		}
		ruleID := "r"
		if k == Room {
			ruleID = "!r:x"
		} else if k == Sender {
			ruleID = "@r:x"
		}
		rule, err := NewRule(k, ruleID, body)
		if err != nil {
			return
		}
		// Whatever a client stores must compile, evaluate and render.
		user := id.UserID("@bob:x")
		ur := &userRules{Rules: map[Kind][]Rule{k: {rule}}}
		rules := compile(user, effective(user, ur))
		rules.eval(&eventView{typ: "m.room.message", sender: "@a:x", roomID: "!r:x", content: []byte(`{"body":"beer cake"}`)},
			&roomInfo{joined: 3, notifyRoom: 50}, member{displayName: "bob"})
		if _, err := json.Marshal(effective(user, ur)); err != nil {
			t.Fatal(err)
		}
	})
}
