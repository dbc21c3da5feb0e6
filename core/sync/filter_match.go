package sync

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// globMatch matches s against a filter pattern where '*' stands for any
// run of characters (the only wildcard event filters have).
func globMatch(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s = s[star:]
	parts := strings.Split(pattern[star+1:], "*")
	for i, p := range parts {
		if i == len(parts)-1 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AllowsType reports whether the filter lets events of type t through.
func (f *EventFilter) AllowsType(t string) bool {
	if anyGlob(f.NotTypes, t) {
		return false
	}
	return f.Types == nil || anyGlob(*f.Types, t)
}

// AllowsSender reports whether the filter lets events from sender through.
func (f *EventFilter) AllowsSender(sender string) bool {
	if contains(f.NotSenders, sender) {
		return false
	}
	return f.Senders == nil || contains(*f.Senders, sender)
}

// AllowsRoom reports whether the filter lets the room through.
func (f *RoomEventFilter) AllowsRoom(room string) bool {
	return allowsRoom(f.Rooms, f.NotRooms, room)
}

// AllowsRoom reports whether the room filter lets the room through.
func (f *RoomFilter) AllowsRoom(room string) bool {
	return allowsRoom(f.Rooms, f.NotRooms, room)
}

func allowsRoom(rooms *[]string, notRooms []string, room string) bool {
	if contains(notRooms, room) {
		return false
	}
	return rooms == nil || contains(*rooms, room)
}

// matches applies the whole room event filter to a stored event.
func (f *RoomEventFilter) matches(ev *evRow) bool {
	if !f.AllowsType(ev.typ) || !f.AllowsSender(ev.sender) || !f.AllowsRoom(ev.room) {
		return false
	}
	if f.ContainsURL != nil {
		has := gjson.GetBytes(ev.client, "content.url").Type == gjson.String
		if has != *f.ContainsURL {
			return false
		}
	}
	return true
}

// sqlClause renders the part of the filter SQL can apply exactly (exact
// types, "prefix*" types, senders) as " AND ..." terms using parameters
// from $next on. The caller still applies matches to every row, so
// patterns SQL cannot express are simply left to Go.
func (f *RoomEventFilter) sqlClause(next int) (string, []any) {
	var b strings.Builder
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(next+len(args)-1)
	}
	if f.Types != nil {
		if terms, ok := typeTerms(*f.Types, param); ok {
			if len(terms) == 0 {
				b.WriteString(" AND 1 = 0")
			} else {
				b.WriteString(" AND (" + strings.Join(terms, " OR ") + ")")
			}
		}
	}
	for _, t := range f.NotTypes {
		switch kind, prefix := classify(t); kind {
		case patExact:
			b.WriteString(" AND type <> " + param(t))
		case patPrefix:
			if prefix == "" {
				b.WriteString(" AND 1 = 0")
			} else {
				b.WriteString(" AND substr(type, 1, " + strconv.Itoa(utf8.RuneCountInString(prefix)) + ") <> " + param(prefix))
			}
		}
	}
	if f.Senders != nil {
		if len(*f.Senders) == 0 {
			b.WriteString(" AND 1 = 0")
		} else {
			ph := make([]string, len(*f.Senders))
			for i, s := range *f.Senders {
				ph[i] = param(s)
			}
			b.WriteString(" AND sender IN (" + strings.Join(ph, ", ") + ")")
		}
	}
	for _, s := range f.NotSenders {
		b.WriteString(" AND sender <> " + param(s))
	}
	return b.String(), args
}

type patKind int

const (
	patExact patKind = iota
	patPrefix
	patOther
)

func classify(p string) (patKind, string) {
	star := strings.IndexByte(p, '*')
	switch {
	case star < 0:
		return patExact, p
	case star == len(p)-1:
		return patPrefix, p[:star]
	}
	return patOther, ""
}

// typeTerms returns OR-terms for an include list, or ok=false when some
// pattern cannot be expressed (then SQL does not filter types at all).
func typeTerms(types []string, param func(any) string) (terms []string, ok bool) {
	for _, t := range types {
		if kind, prefix := classify(t); kind == patOther || kind == patPrefix && prefix == "" {
			return nil, false // not expressible, or "*" (everything)
		}
	}
	for _, t := range types {
		switch kind, prefix := classify(t); kind {
		case patExact:
			terms = append(terms, "type = "+param(t))
		case patPrefix:
			terms = append(terms, "substr(type, 1, "+strconv.Itoa(utf8.RuneCountInString(prefix))+") = "+param(prefix))
		}
	}
	return terms, true
}
