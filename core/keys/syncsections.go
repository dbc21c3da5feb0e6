package keys

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// SyncRequest names the /sync whose E2EE sections are computed: the
// response covers stream positions (Since, Upto]; Since is 0 for an
// initial sync.
type SyncRequest struct {
	UserID      id.UserID
	DeviceID    id.DeviceID
	Since, Upto int64
}

// SyncSections are the top-level E2EE fields of one /sync response.
type SyncSections struct {
	ToDevice        []json.RawMessage
	Changed, Left   []id.UserID
	OneTimeKeyCount map[string]int
	UnusedFallback  []string
}

// ComputeSync computes the E2EE sections of a /sync. td may be nil (no
// to-device queue). A caller without a device (an appservice) gets only
// device lists.
func ComputeSync(ctx context.Context, k *Service, td *todevice.Service, req SyncRequest) (*SyncSections, error) {
	var out SyncSections
	var err error
	if td != nil && req.DeviceID != "" {
		if out.ToDevice, err = td.ForSync(ctx, req.UserID, req.DeviceID, req.Since, req.Upto); err != nil {
			return nil, err
		}
	}
	if out.Changed, out.Left, err = k.DeviceListChanges(ctx, req.UserID, req.Since, req.Upto); err != nil {
		return nil, err
	}
	if req.DeviceID != "" {
		if out.OneTimeKeyCount, out.UnusedFallback, err = k.DeviceKeyCounts(ctx, req.UserID, req.DeviceID); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// News reports whether the sections hold something that should end a long
// poll.
func (s *SyncSections) News() bool {
	return len(s.ToDevice) > 0 || len(s.Changed) > 0 || len(s.Left) > 0
}

// Fields renders the sections as top-level /sync fields.
func (s *SyncSections) Fields() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	events := s.ToDevice
	if events == nil {
		events = []json.RawMessage{}
	}
	b := append([]byte(`{"events":[`), joinRaw(events)...)
	out["to_device"] = append(b, "]}"...)
	if len(s.Changed) > 0 || len(s.Left) > 0 {
		out["device_lists"] = mustJSON(struct {
			Changed []id.UserID `json:"changed"`
			Left    []id.UserID `json:"left"`
		}{nonNil(s.Changed), nonNil(s.Left)})
	}
	if s.OneTimeKeyCount != nil {
		out["device_one_time_keys_count"] = mustJSON(s.OneTimeKeyCount)
		out["device_unused_fallback_key_types"] = mustJSON(nonNil(s.UnusedFallback))
	}
	return out
}

func joinRaw(items []json.RawMessage) []byte {
	var b []byte
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return b
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of strings and ints are encoded here
	}
	return data
}
