package sync

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	stdsync "sync"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// filterCache keeps parsed filters: they never change once stored, and a
// client names the same filter on every /sync.
type filterCache struct {
	mu stdsync.Mutex
	m  map[string]*Filter
}

const filterCacheLimit = 10000

// CreateFilter validates and stores a filter, returning its ID. Uploading
// the same filter again returns the existing ID.
func (s *Service) CreateFilter(ctx context.Context, user id.UserID, raw []byte) (string, error) {
	if _, err := ParseFilter(raw); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", httpx.BadJSON("Filter must be a JSON object")
	}
	text := buf.String()
	for attempt := 0; attempt < 5; attempt++ {
		var existing int64
		err := s.db.QueryRow(ctx, `SELECT filter_id FROM sync_filters WHERE user_id = $1 AND filter = $2`, user, text).Scan(&existing)
		if err == nil {
			return strconv.FormatInt(existing, 10), nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		var next int64
		err = s.db.Writer.QueryRowContext(ctx, s.db.Q(`
			INSERT INTO sync_filters (user_id, filter_id, filter)
			SELECT $1, COALESCE(MAX(filter_id), -1) + 1, $2 FROM sync_filters WHERE user_id = $1
			RETURNING filter_id`), user, text).Scan(&next)
		if err == nil {
			return strconv.FormatInt(next, 10), nil
		}
		if !s.db.IsUniqueViolation(err) {
			return "", err
		}
	}
	return "", httpx.NewError(503, "M_UNKNOWN", "Could not allocate a filter ID, try again")
}

// GetFilter returns a stored filter's JSON.
func (s *Service) GetFilter(ctx context.Context, user id.UserID, filterID string) (json.RawMessage, error) {
	n, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil || n < 0 {
		return nil, httpx.NotFound("No such filter")
	}
	var text string
	err = s.db.QueryRow(ctx, `SELECT filter FROM sync_filters WHERE user_id = $1 AND filter_id = $2`, user, n).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, httpx.NotFound("No such filter")
	}
	return json.RawMessage(text), err
}

// ResolveFilter turns /sync's filter parameter into a filter: inline JSON
// when it starts with "{", else the ID of a stored filter.
func (s *Service) ResolveFilter(ctx context.Context, user id.UserID, param string) (*Filter, error) {
	if param == "" {
		return &Filter{}, nil
	}
	if param[0] == '{' {
		return ParseFilter([]byte(param))
	}
	key := user.String() + "\x00" + param
	s.filters.mu.Lock()
	f := s.filters.m[key]
	s.filters.mu.Unlock()
	if f != nil {
		return f, nil
	}
	raw, err := s.GetFilter(ctx, user, param)
	if err != nil {
		var he *httpx.Error
		if errors.As(err, &he) && he.ErrCode == "M_NOT_FOUND" {
			return nil, httpx.InvalidParam("Unknown filter %q", truncate(param))
		}
		return nil, err
	}
	if f, err = ParseFilter(raw); err != nil {
		return nil, err
	}
	s.filters.mu.Lock()
	if len(s.filters.m) >= filterCacheLimit {
		clear(s.filters.m)
	}
	s.filters.m[key] = f
	s.filters.mu.Unlock()
	return f, nil
}
