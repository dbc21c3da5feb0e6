package search

import (
	"bytes"
	"encoding/json"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// Body is the JSON body of POST /search.
type Body struct {
	SearchCategories *Categories `json:"search_categories"`
}

// Categories are the categories to search. Only room_events exists.
type Categories struct {
	RoomEvents *RoomEvents `json:"room_events"`
}

// RoomEvents is the room_events search criteria.
type RoomEvents struct {
	SearchTerm   *string         `json:"search_term"`
	Keys         []string        `json:"keys"`
	Filter       json.RawMessage `json:"filter"`
	OrderBy      *string         `json:"order_by"`
	EventContext *EventContext   `json:"event_context"`
	IncludeState bool            `json:"include_state"`
	Groupings    *Groupings      `json:"groupings"`
}

// EventContext asks for events around each result.
type EventContext struct {
	BeforeLimit    *int `json:"before_limit"`
	AfterLimit     *int `json:"after_limit"`
	IncludeProfile bool `json:"include_profile"`
}

// Groupings asks for the results grouped by room or sender.
type Groupings struct {
	GroupBy []struct {
		Key string `json:"key"`
	} `json:"group_by"`
}

// Keys that can be searched, with the event type each belongs to.
var keyTypes = map[string]string{
	"content.body":  "m.room.message",
	"content.name":  "m.room.name",
	"content.topic": "m.room.topic",
}

var allKeys = []string{"content.body", "content.name", "content.topic"}

const (
	orderRank   = 'r'
	orderRecent = 't'

	groupRoom   = "room_id"
	groupSender = "sender"
)

// Limits. NOTSPEC: the spec sets none; these keep one request bounded.
const (
	DefaultLimit   = 10
	MaxLimit       = 100
	DefaultContext = 5
	MaxContext     = 100
)

// criteria is a validated room_events request.
type criteria struct {
	query   *query
	term    string
	keys    []string
	filter  *gsync.RoomEventFilter
	order   byte
	limit   int
	context bool
	before  int
	after   int
	profile bool
	state   bool
	groups  map[string]bool
}

// validate checks r and fills in the defaults. Missing required fields
// are M_BAD_JSON, values out of their range M_INVALID_PARAM.
func (r *RoomEvents) validate() (*criteria, error) {
	if r.SearchTerm == nil {
		return nil, httpx.BadJSON("search_categories.room_events.search_term is required")
	}
	c := &criteria{term: *r.SearchTerm, query: parseQuery(*r.SearchTerm), order: orderRank, state: r.IncludeState, groups: map[string]bool{}}
	if r.OrderBy != nil {
		switch *r.OrderBy {
		case "rank":
		case "recent":
			c.order = orderRecent
		default:
			return nil, httpx.InvalidParam("order_by must be rank or recent")
		}
	}
	keys := r.Keys
	if len(keys) == 0 {
		keys = allKeys
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if _, ok := keyTypes[k]; !ok {
			return nil, httpx.InvalidParam("keys may only hold content.body, content.name and content.topic")
		}
		if !seen[k] {
			seen[k] = true
			c.keys = append(c.keys, k)
		}
	}
	c.filter = &gsync.RoomEventFilter{}
	if f := bytes.TrimSpace(r.Filter); len(f) > 0 && !bytes.Equal(f, []byte("null")) {
		var err error
		if c.filter, err = gsync.ParseRoomEventFilter(f); err != nil {
			return nil, err
		}
	}
	c.limit = DefaultLimit
	if l := c.filter.Limit; l != nil && *l > 0 {
		c.limit = min(*l, MaxLimit)
	}
	if ec := r.EventContext; ec != nil {
		c.context, c.profile = true, ec.IncludeProfile
		var err error
		if c.before, err = contextLimit("before_limit", ec.BeforeLimit); err != nil {
			return nil, err
		}
		if c.after, err = contextLimit("after_limit", ec.AfterLimit); err != nil {
			return nil, err
		}
	}
	if g := r.Groupings; g != nil {
		for _, k := range g.GroupBy {
			if k.Key != groupRoom && k.Key != groupSender {
				return nil, httpx.InvalidParam("groupings.group_by keys must be room_id or sender")
			}
			c.groups[k.Key] = true
		}
	}
	return c, nil
}

func contextLimit(name string, v *int) (int, error) {
	if v == nil {
		return DefaultContext, nil
	}
	if *v < 0 {
		return 0, httpx.InvalidParam("event_context.%s must not be negative", name)
	}
	return min(*v, MaxContext), nil
}
