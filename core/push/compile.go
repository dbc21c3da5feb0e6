package push

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"
)

// compiledRules is a user's ruleset ready for evaluation, in priority order.
type compiledRules struct {
	user      id.UserID
	localpart string
	rules     []compiledRule
}

type compiledRule struct {
	kind      Kind
	id        string
	legacy    bool // disabled when the event has m.mentions (spec v1.7)
	conds     []compiledCond
	notify    bool
	highlight bool
}

type condKind uint8

const (
	condNever condKind = iota
	condMatch
	condPropertyIs
	condPropertyContains
	condDisplayName
	condMemberCount
	condSenderPermission
	condRoomID
	condSenderID
)

type compiledCond struct {
	kind condKind
	// field is the event property: "type", "sender", "room_id", "state_key"
	// or a gjson path into content (prefixed "content:").
	field string
	glob  matcher
	value gjson.Result // for event_property_is/contains
	op    string       // room_member_count comparison
	count int
	id    string // room or sender rule ID
}

func compile(user id.UserID, rs *Ruleset) *compiledRules {
	cr := &compiledRules{user: user, localpart: user.Localpart()}
	for _, k := range Kinds {
		for _, r := range rs.Rules(k) {
			if !r.Enabled {
				continue
			}
			c := compiledRule{kind: k, id: r.RuleID}
			c.notify, c.highlight = actionFlags(r.Actions)
			c.legacy = r.Default && (r.RuleID == ".m.rule.contains_display_name" ||
				r.RuleID == ".m.rule.contains_user_name" || r.RuleID == ".m.rule.roomnotif")
			switch k {
			case Override, Underride:
				for _, cond := range r.Conditions {
					c.conds = append(c.conds, compileCond(cond))
				}
			case Content:
				pattern := ""
				if r.Pattern != nil {
					pattern = *r.Pattern
				}
				c.conds = []compiledCond{{kind: condMatch, field: "content:body", glob: compileGlob(pattern, true)}}
			case Room:
				c.conds = []compiledCond{{kind: condRoomID, id: r.RuleID}}
			case Sender:
				c.conds = []compiledCond{{kind: condSenderID, id: r.RuleID}}
			}
			cr.rules = append(cr.rules, c)
		}
	}
	return cr
}

// actionFlags says whether actions notify and highlight. dont_notify and
// coalesce are deprecated no-ops; a highlight tweak without value is true.
func actionFlags(actions []any) (notify, highlight bool) {
	for _, a := range actions {
		switch v := a.(type) {
		case string:
			notify = notify || v == "notify"
		case map[string]any:
			if v["set_tweak"] == "highlight" {
				b, isBool := v["value"].(bool)
				highlight = !isBool || b
			}
		}
	}
	return notify, notify && highlight
}

func compileCond(c Condition) compiledCond {
	switch c.Kind {
	case "event_match":
		field, ok := fieldPath(c.Key)
		if !ok || c.Pattern == nil {
			return compiledCond{}
		}
		return compiledCond{kind: condMatch, field: field, glob: compileGlob(*c.Pattern, c.Key == "content.body")}
	case "event_property_is", "event_property_contains":
		field, ok := fieldPath(c.Key)
		if !ok || len(c.Value) == 0 {
			return compiledCond{}
		}
		kind := condPropertyIs
		if c.Kind == "event_property_contains" {
			kind = condPropertyContains
		}
		return compiledCond{kind: kind, field: field, value: gjson.ParseBytes(c.Value)}
	case "contains_display_name":
		return compiledCond{kind: condDisplayName}
	case "room_member_count":
		m := memberCountRE.FindStringSubmatch(c.Is)
		if m == nil {
			return compiledCond{}
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return compiledCond{}
		}
		op := m[1]
		if op == "" {
			op = "=="
		}
		return compiledCond{kind: condMemberCount, op: op, count: n}
	case "sender_notification_permission":
		if c.Key != "room" {
			return compiledCond{}
		}
		return compiledCond{kind: condSenderPermission}
	}
	// Unknown conditions never match (spec), disabling the rule.
	return compiledCond{}
}

var memberCountRE = regexp.MustCompile(`^(==|<|>|<=|>=)?([0-9]{1,9})$`)

// fieldPath turns a dot-separated property path (with \. and \\ escapes)
// into the field name used by event.get.
func fieldPath(key string) (string, bool) {
	parts := splitPath(key)
	if len(parts) == 0 {
		return "", false
	}
	switch parts[0] {
	case "type", "sender", "room_id", "state_key":
		if len(parts) == 1 {
			return parts[0], true
		}
		return "", false
	case "content":
		if len(parts) < 2 {
			return "", false
		}
		var b strings.Builder
		b.WriteString("content:")
		for i, p := range parts[1:] {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(gjsonEscape(p))
		}
		return b.String(), true
	}
	return "", false
}

func splitPath(key string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch {
		case key[i] == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			i++
			cur.WriteByte(key[i])
		case key[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(key[i])
		}
	}
	return append(parts, cur.String())
}

// gjsonEscape escapes the characters gjson treats as path syntax.
func gjsonEscape(s string) string {
	if !strings.ContainsAny(s, `.*?|#@\!=<>%`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`.*?|#@\!=<>%`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
