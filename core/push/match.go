package push

import (
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
)

// matcher is a compiled glob. Globs without wildcards (nearly all of them)
// are compared without regexps.
type matcher struct {
	literal string // lower-cased, when the pattern has no wildcard
	re      *regexp.Regexp
	words   bool // content.body: match any substring bounded by word boundaries
}

func compileGlob(pattern string, words bool) matcher {
	if !strings.ContainsAny(pattern, "*?") {
		return matcher{literal: strings.ToLower(pattern), words: words}
	}
	var b strings.Builder
	b.WriteString("(?is)")
	if words {
		b.WriteString(`(?:^|[^A-Za-z0-9_])`)
	} else {
		b.WriteString("^")
	}
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if words {
		b.WriteString(`(?:[^A-Za-z0-9_]|$)`)
	} else {
		b.WriteString("$")
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return matcher{literal: "\x00never"}
	}
	return matcher{re: re, words: words}
}

// match tests s; lower is s lower-cased (the caller caches it per event).
func (m matcher) match(s string, lower func() string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	if !m.words {
		return strings.EqualFold(s, m.literal)
	}
	return containsWord(lower(), m.literal)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// containsWord reports whether word occurs in s starting and ending at word
// boundaries. Both must already be lower-cased.
func containsWord(s, word string) bool {
	if word == "" {
		return false
	}
	for off := 0; off <= len(s)-len(word); {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return false
		}
		start := off + i
		end := start + len(word)
		if (start == 0 || !isWordByte(s[start-1]) || !isWordByte(word[0])) &&
			(end == len(s) || !isWordByte(s[end]) || !isWordByte(word[len(word)-1])) {
			return true
		}
		off = start + 1
	}
	return false
}

// eventView reads an event's properties lazily and caches them, so many
// members' rules share the parsing.
type eventView struct {
	typ, sender, roomID string
	stateKey            *string
	content             []byte

	fields   map[string]gjson.Result
	lowers   map[string]string
	mentions int8 // 0 unknown, 1 present, 2 absent
}

func (e *eventView) get(field string) gjson.Result {
	str := func(s string) gjson.Result { return gjson.Result{Type: gjson.String, Str: s, Raw: "\"\""} }
	switch field {
	case "type":
		return str(e.typ)
	case "sender":
		return str(e.sender)
	case "room_id":
		return str(e.roomID)
	case "state_key":
		if e.stateKey == nil {
			return gjson.Result{}
		}
		return str(*e.stateKey)
	}
	if v, ok := e.fields[field]; ok {
		return v
	}
	v := gjson.GetBytes(e.content, strings.TrimPrefix(field, "content:"))
	if e.fields == nil {
		e.fields = map[string]gjson.Result{}
	}
	e.fields[field] = v
	return v
}

func (e *eventView) lower(field string) func() string {
	return func() string {
		if v, ok := e.lowers[field]; ok {
			return v
		}
		v := strings.ToLower(e.get(field).Str)
		if e.lowers == nil {
			e.lowers = map[string]string{}
		}
		e.lowers[field] = v
		return v
	}
}

func (e *eventView) hasMentions() bool {
	if e.mentions == 0 {
		e.mentions = 2
		if gjson.GetBytes(e.content, `m\.mentions`).Exists() {
			e.mentions = 1
		}
	}
	return e.mentions == 1
}

// member is what evaluation needs to know about the user being evaluated for.
type member struct {
	displayName string // lower-cased
}

// eval returns whether the first matching rule notifies and highlights.
func (cr *compiledRules) eval(ev *eventView, room *roomInfo, m member) (notify, highlight bool) {
	for i := range cr.rules {
		r := &cr.rules[i]
		if r.legacy && ev.hasMentions() {
			continue
		}
		if cr.matchAll(r.conds, ev, room, m) {
			return r.notify, r.highlight
		}
	}
	return false, false
}

func (cr *compiledRules) matchAll(conds []compiledCond, ev *eventView, room *roomInfo, m member) bool {
	for i := range conds {
		if !matchCond(&conds[i], ev, room, m) {
			return false
		}
	}
	return true
}

func matchCond(c *compiledCond, ev *eventView, room *roomInfo, m member) bool {
	switch c.kind {
	case condMatch:
		v := ev.get(c.field)
		return v.Type == gjson.String && c.glob.match(v.Str, ev.lower(c.field))
	case condPropertyIs:
		return sameScalar(ev.get(c.field), c.value)
	case condPropertyContains:
		v := ev.get(c.field)
		if !v.IsArray() {
			return false
		}
		found := false
		v.ForEach(func(_, item gjson.Result) bool {
			found = sameScalar(item, c.value)
			return !found
		})
		return found
	case condDisplayName:
		body := ev.get("content:body")
		return m.displayName != "" && body.Type == gjson.String && containsWord(ev.lower("content:body")(), m.displayName)
	case condMemberCount:
		return compareCount(room.joined, c.op, c.count)
	case condSenderPermission:
		return room.level(ev.sender) >= room.notifyRoom
	case condRoomID:
		return ev.roomID == c.id
	case condSenderID:
		return ev.sender == c.id
	}
	return false
}

func compareCount(n int, op string, want int) bool {
	switch op {
	case "<":
		return n < want
	case ">":
		return n > want
	case "<=":
		return n <= want
	case ">=":
		return n >= want
	}
	return n == want
}

// sameScalar compares two canonical-JSON scalars exactly (no casting).
func sameScalar(a, b gjson.Result) bool {
	if !a.Exists() || a.Type != b.Type {
		return false
	}
	switch a.Type {
	case gjson.String:
		return a.Str == b.Str
	case gjson.Number:
		return a.Raw == b.Raw || a.Num == b.Num
	case gjson.True, gjson.False, gjson.Null:
		return true
	}
	return false
}
