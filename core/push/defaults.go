package push

import (
	"encoding/json"

	"maunium.net/go/mautrix/id"
)

// The spec's predefined rules (client-server API, "Predefined Rules"), in
// the spec's order. .m.rule.master comes before every user rule; the other
// defaults come after the user's rules of the same kind.

func match(key, pattern string) Condition {
	return Condition{Kind: "event_match", Key: key, Pattern: &pattern}
}

func propertyIs(key string, value any) Condition {
	raw, _ := json.Marshal(value)
	return Condition{Kind: "event_property_is", Key: key, Value: raw}
}

func propertyContains(key string, value any) Condition {
	raw, _ := json.Marshal(value)
	return Condition{Kind: "event_property_contains", Key: key, Value: raw}
}

func tweak(name string, value any) map[string]any {
	if value == nil {
		return map[string]any{"set_tweak": name}
	}
	return map[string]any{"set_tweak": name, "value": value}
}

func defaultRule(k Kind, ruleID string, actions []any, conds ...Condition) Rule {
	if conds == nil {
		conds = []Condition{}
	}
	if actions == nil {
		actions = []any{}
	}
	return Rule{Kind: k, RuleID: ruleID, Default: true, Enabled: true, Actions: actions, Conditions: conds}
}

const masterRule = ".m.rule.master"

func defaultMaster() Rule {
	r := defaultRule(Override, masterRule, nil)
	r.Enabled = false
	return r
}

// defaultOverride returns the default override rules after .m.rule.master.
func defaultOverride(user id.UserID) []Rule {
	notifySound := func(extra ...any) []any { return append([]any{"notify", tweak("sound", "default")}, extra...) }
	return []Rule{
		defaultRule(Override, ".m.rule.suppress_notices", nil, match("content.msgtype", "m.notice")),
		defaultRule(Override, ".m.rule.invite_for_me", notifySound(),
			match("type", "m.room.member"), match("content.membership", "invite"), match("state_key", user.String())),
		defaultRule(Override, ".m.rule.member_event", nil, match("type", "m.room.member")),
		defaultRule(Override, ".m.rule.is_user_mention", notifySound(tweak("highlight", nil)),
			propertyContains(`content.m\.mentions.user_ids`, user.String())),
		defaultRule(Override, ".m.rule.contains_display_name", notifySound(tweak("highlight", nil)),
			Condition{Kind: "contains_display_name"}),
		defaultRule(Override, ".m.rule.is_room_mention", []any{"notify", tweak("highlight", nil)},
			propertyIs(`content.m\.mentions.room`, true), Condition{Kind: "sender_notification_permission", Key: "room"}),
		defaultRule(Override, ".m.rule.roomnotif", []any{"notify", tweak("highlight", nil)},
			match("content.body", "@room"), Condition{Kind: "sender_notification_permission", Key: "room"}),
		defaultRule(Override, ".m.rule.tombstone", []any{"notify", tweak("highlight", nil)},
			match("type", "m.room.tombstone"), match("state_key", "")),
		defaultRule(Override, ".m.rule.reaction", nil, match("type", "m.reaction")),
		defaultRule(Override, ".m.rule.room.server_acl", nil, match("type", "m.room.server_acl"), match("state_key", "")),
		defaultRule(Override, ".m.rule.suppress_edits", nil, propertyIs(`content.m\.relates_to.rel_type`, "m.replace")),
	}
}

func defaultContent(user id.UserID) []Rule {
	pattern := user.Localpart()
	return []Rule{{
		Kind: Content, RuleID: ".m.rule.contains_user_name", Default: true, Enabled: true, Pattern: &pattern,
		Actions: []any{"notify", tweak("sound", "default"), tweak("highlight", nil)},
	}}
}

func defaultUnderride() []Rule {
	count2 := Condition{Kind: "room_member_count", Is: "2"}
	return []Rule{
		defaultRule(Underride, ".m.rule.call", []any{"notify", tweak("sound", "ring")}, match("type", "m.call.invite")),
		defaultRule(Underride, ".m.rule.encrypted_room_one_to_one", []any{"notify", tweak("sound", "default")},
			count2, match("type", "m.room.encrypted")),
		defaultRule(Underride, ".m.rule.room_one_to_one", []any{"notify", tweak("sound", "default")},
			count2, match("type", "m.room.message")),
		defaultRule(Underride, ".m.rule.message", []any{"notify"}, match("type", "m.room.message")),
		defaultRule(Underride, ".m.rule.encrypted", []any{"notify"}, match("type", "m.room.encrypted")),
	}
}

// isDefaultID reports whether ruleID names a server-default rule of kind k.
func isDefaultID(user id.UserID, k Kind, ruleID string) bool {
	var rules []Rule
	switch k {
	case Override:
		rules = append([]Rule{defaultMaster()}, defaultOverride(user)...)
	case Content:
		rules = defaultContent(user)
	case Underride:
		rules = defaultUnderride()
	}
	for _, r := range rules {
		if r.RuleID == ruleID {
			return true
		}
	}
	return false
}
