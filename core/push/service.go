// Package push owns push rules and the notification counts /sync reports.
//
// A user's rules are the spec's defaults plus the user's own rules and
// changes to the defaults, stored as one JSON row per user (push_rules) and
// written through the stream writer, because a change must reach the user's
// other clients as m.push_rules account data in /sync.
//
// Every persisted event is evaluated against the rules of each joined
// member (PersistHook, run inside the event's commit transaction); an event
// that notifies adds to the running notification_counts of those users,
// with one statement. A read receipt (MarkRead) zeroes the counts, or, when
// it stops short of the newest notification, recounts by evaluating the
// events after it. No row per notified user is kept: on SQLite those rows
// cost more than the evaluation itself on every send. Pushers (HTTP push
// to a gateway) are core/pushers: OnNotify hands it each notified user
// inside the commit transaction, and it delivers off the commit path.
//
// The evaluator is our own rather than mautrix's pushrules: that one
// compiles globs and regexps on every match and needs the content decoded
// into a map, while here rules are compiled once per user and event fields
// are read lazily from the raw content, keeping the per-event cost to a few
// microseconds per member on the commit path.
package push

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Service stores push rules and evaluates them for new events.
type Service struct {
	db         *storage.DB
	w          *stream.Writer
	serverName string
	log        zerolog.Logger

	// Disabled turns PersistHook into a no-op (benchmarks measure its cost).
	Disabled bool

	// OnNotify, when set, is called by PersistHook inside the event's
	// commit transaction for every local user the event notifies
	// (core/pushers queues the notification for the user's push
	// gateways). It must only write to tx and must not block. Set it
	// before the server persists events.
	OnNotify func(ctx context.Context, tx *storage.Tx, user id.UserID, ev *rooms.Event, highlight bool) error

	mu       sync.Mutex
	compiled map[id.UserID]*compiledRules
	rooms    map[id.RoomID]*roomInfo
}

// cacheLimit bounds the compiled-rules and room caches; past it an
// arbitrary half is dropped (they reload from the database on demand).
const cacheLimit = 20000

// New returns the push service for the local server serverName (only local
// users are evaluated). Register PersistHook with rooms.Service.AddPersistHook
// and MarkRead with receipts.Service.OnRead.
func New(db *storage.DB, w *stream.Writer, serverName string, log zerolog.Logger) *Service {
	return &Service{db: db, w: w, serverName: serverName, log: log,
		compiled: map[id.UserID]*compiledRules{}, rooms: map[id.RoomID]*roomInfo{}}
}

// userRules is what a user changed relative to the defaults.
type userRules struct {
	// Rules holds the user-defined rules of each kind, most important first.
	Rules map[Kind][]Rule `json:"rules,omitempty"`
	// Enabled and Actions override server-default rules, keyed "kind/ruleId".
	Enabled map[string]bool  `json:"enabled,omitempty"`
	Actions map[string][]any `json:"actions,omitempty"`
}

type querier interface {
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func loadUserRules(ctx context.Context, q querier, user id.UserID) (*userRules, error) {
	var raw string
	err := q.QueryRow(ctx, `SELECT rules FROM push_rules WHERE user_id = $1`, user).Scan(&raw)
	ur := &userRules{}
	if errors.Is(err, sql.ErrNoRows) {
		return ur, nil
	} else if err != nil {
		return nil, fmt.Errorf("load push rules of %s: %w", user, err)
	}
	if err := json.Unmarshal([]byte(raw), ur); err != nil {
		return nil, fmt.Errorf("decode push rules of %s: %w", user, err)
	}
	for k, rules := range ur.Rules {
		for i := range rules {
			rules[i].Kind = k
		}
	}
	return ur, nil
}

// effective merges the defaults with the user's changes.
func effective(user id.UserID, ur *userRules) *Ruleset {
	adjust := func(rules []Rule) []Rule {
		for i := range rules {
			key := string(rules[i].Kind) + "/" + rules[i].RuleID
			if en, ok := ur.Enabled[key]; ok {
				rules[i].Enabled = en
			}
			if acts, ok := ur.Actions[key]; ok {
				rules[i].Actions = acts
			}
		}
		return rules
	}
	own := func(k Kind) []Rule { return append([]Rule{}, ur.Rules[k]...) }
	rs := &Ruleset{}
	rs.Override = append(adjust([]Rule{defaultMaster()}), own(Override)...)
	rs.Override = append(rs.Override, adjust(defaultOverride(user))...)
	rs.Content = append(own(Content), adjust(defaultContent(user))...)
	rs.Room = own(Room)
	rs.Sender = own(Sender)
	rs.Underride = append(own(Underride), adjust(defaultUnderride())...)
	return rs
}

// Ruleset returns the user's effective rules.
func (s *Service) Ruleset(ctx context.Context, user id.UserID) (*Ruleset, error) {
	ur, err := loadUserRules(ctx, s.db, user)
	if err != nil {
		return nil, err
	}
	return effective(user, ur), nil
}

// AccountDataSince returns the m.push_rules account data content when the
// user's rules changed after since (always when since is 0), else nil.
func (s *Service) AccountDataSince(ctx context.Context, user id.UserID, since int64) (json.RawMessage, error) {
	var raw string
	var pos int64
	err := s.db.QueryRow(ctx, `SELECT rules, stream_pos FROM push_rules WHERE user_id = $1`, user).Scan(&raw, &pos)
	ur := &userRules{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if since > 0 {
			return nil, nil
		}
	case err != nil:
		return nil, err
	default:
		if since > 0 && pos <= since {
			return nil, nil
		}
		if err := json.Unmarshal([]byte(raw), ur); err != nil {
			return nil, err
		}
		for k, rules := range ur.Rules {
			for i := range rules {
				rules[i].Kind = k
			}
		}
	}
	return json.Marshal(map[string]any{"global": effective(user, ur)})
}

// update changes the user's rules through the stream writer so their
// clients see m.push_rules in /sync. change may return an *httpx.Error.
func (s *Service) update(ctx context.Context, user id.UserID, change func(ur *userRules, rs *Ruleset) error) error {
	_, err := s.w.Submit(ctx, stream.Change{Kind: stream.KindAccountData, UserIDs: []string{user.String()}},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			ur, err := loadUserRules(ctx, tx, user)
			if err != nil {
				return err
			}
			if err := change(ur, effective(user, ur)); err != nil {
				return err
			}
			raw, err := json.Marshal(ur)
			if err != nil {
				return err
			}
			s.forgetUser(user)
			_, err = tx.Exec(ctx, `
				INSERT INTO push_rules (user_id, rules, stream_pos) VALUES ($1, $2, $3)
				ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules, stream_pos = excluded.stream_pos`,
				user, string(raw), pos)
			return err
		})
	return err
}

func (s *Service) forgetUser(user id.UserID) {
	s.mu.Lock()
	delete(s.compiled, user)
	s.mu.Unlock()
}
