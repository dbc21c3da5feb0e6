package sync

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// EventFilter is the spec's EventFilter. Nil slices mean "absent" (all
// allowed); an empty Types or Senders allows nothing.
type EventFilter struct {
	Limit      *int      `json:"limit,omitempty"`
	Types      *[]string `json:"types,omitempty"`
	NotTypes   []string  `json:"not_types,omitempty"`
	Senders    *[]string `json:"senders,omitempty"`
	NotSenders []string  `json:"not_senders,omitempty"`
}

// RoomEventFilter is the spec's RoomEventFilter.
type RoomEventFilter struct {
	EventFilter
	Rooms                     *[]string `json:"rooms,omitempty"`
	NotRooms                  []string  `json:"not_rooms,omitempty"`
	ContainsURL               *bool     `json:"contains_url,omitempty"`
	LazyLoadMembers           bool      `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers   bool      `json:"include_redundant_members,omitempty"`
	UnreadThreadNotifications bool      `json:"unread_thread_notifications,omitempty"`
}

// RoomFilter is the "room" part of a Filter.
type RoomFilter struct {
	Rooms        *[]string       `json:"rooms,omitempty"`
	NotRooms     []string        `json:"not_rooms,omitempty"`
	IncludeLeave bool            `json:"include_leave,omitempty"`
	Timeline     RoomEventFilter `json:"timeline"`
	State        RoomEventFilter `json:"state"`
	Ephemeral    RoomEventFilter `json:"ephemeral"`
	AccountData  RoomEventFilter `json:"account_data"`
}

// Filter is a sync filter (POST /user/{userId}/filter, /sync?filter=).
type Filter struct {
	EventFields []string    `json:"event_fields,omitempty"`
	EventFormat string      `json:"event_format,omitempty"`
	Presence    EventFilter `json:"presence"`
	AccountData EventFilter `json:"account_data"`
	Room        RoomFilter  `json:"room"`
}

// Timeline limits.
const (
	DefaultTimelineLimit = 10
	MaxTimelineLimit     = 1000
)

// ParseFilter decodes and validates a filter. Malformed JSON and values of
// the wrong shape are M_BAD_JSON ("M_NOT_JSON" is kept for request bodies).
func ParseFilter(data []byte) (*Filter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return nil, httpx.BadJSON("Filter must be a JSON object")
	}
	var f Filter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, httpx.BadJSON("Invalid filter: %v", err)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseRoomEventFilter decodes the filter parameter of /messages and /context.
func ParseRoomEventFilter(data []byte) (*RoomEventFilter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return nil, httpx.BadJSON("Filter must be a JSON object")
	}
	var f RoomEventFilter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, httpx.BadJSON("Invalid filter: %v", err)
	}
	if err := f.validate("filter"); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *Filter) validate() error {
	if f.EventFormat != "" && f.EventFormat != "client" && f.EventFormat != "federation" {
		return httpx.BadJSON("event_format must be client or federation")
	}
	for _, field := range f.EventFields {
		if field == "" {
			return httpx.BadJSON("event_fields entries must not be empty")
		}
	}
	if err := f.Presence.validate("presence"); err != nil {
		return err
	}
	if err := f.AccountData.validate("account_data"); err != nil {
		return err
	}
	if err := checkIDs("room.rooms", f.Room.Rooms, nil, '!'); err != nil {
		return err
	}
	if err := checkIDs("room.not_rooms", nil, f.Room.NotRooms, '!'); err != nil {
		return err
	}
	for name, ef := range map[string]*RoomEventFilter{"room.timeline": &f.Room.Timeline, "room.state": &f.Room.State,
		"room.ephemeral": &f.Room.Ephemeral, "room.account_data": &f.Room.AccountData} {
		if err := ef.validate(name); err != nil {
			return err
		}
	}
	return nil
}

func (f *EventFilter) validate(name string) error {
	if f.Limit != nil && *f.Limit < 0 {
		return httpx.BadJSON("%s.limit must not be negative", name)
	}
	if err := checkIDs(name+".senders", f.Senders, f.NotSenders, '@'); err != nil {
		return err
	}
	return nil
}

func (f *RoomEventFilter) validate(name string) error {
	if err := f.EventFilter.validate(name); err != nil {
		return err
	}
	return checkIDs(name+".rooms", f.Rooms, f.NotRooms, '!')
}

func checkIDs(name string, include *[]string, exclude []string, sigil byte) error {
	check := func(list []string) error {
		for _, s := range list {
			if len(s) < 2 || s[0] != sigil || sigil == '@' && !strings.Contains(s, ":") {
				return httpx.BadJSON("%s contains an invalid ID %q", name, truncate(s))
			}
		}
		return nil
	}
	if include != nil {
		if err := check(*include); err != nil {
			return err
		}
	}
	return check(exclude)
}

// TimelineLimit returns the timeline limit to use, clamped.
func (f *RoomEventFilter) TimelineLimit(def int) int {
	if f.Limit == nil {
		return def
	}
	return min(*f.Limit, MaxTimelineLimit)
}
