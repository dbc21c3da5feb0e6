package sync

import (
	"context"
	"encoding/json"
	"sort"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/push"
)

// MSC4186: simplified sliding sync, the sync Element X and other
// matrix-rust-sdk clients use. Each request names lists (filtered views of
// the user's rooms, newest first, of which index ranges are wanted) and
// room subscriptions; the response carries, for every wanted room, what
// changed since the connection last sent it (everything the first time,
// "initial"), plus the extensions (to-device, E2EE, account data,
// receipts, typing).
//
// It reuses the /sync building blocks: memberships, history visibility,
// batched timeline windows, state at a position and state deltas, room
// summaries, invite state, unsigned data and bundled aggregations, unread
// counts, and the notifier for long polls. What the client holds is
// remembered per connection in memory (sliding_conn.go).
//
// Deliberate gaps (NOTSPEC): knocked rooms are not listed; a room whose
// required_state grows gets the matching current state at once rather
// than only what it lacks; lazy members resend the member events of
// timeline senders; the to_device extension's limit is the server's batch
// size; receipts and typing that changed while a room was outside every
// range are not replayed when it comes back (its timeline is).

// SlidingE2EE serves the to_device and e2ee extensions. core/keys and
// core/todevice implement it through an adapter the HTTP layer builds, so
// this package does not depend on them. Its methods may query the database
// but must not wait.
type SlidingE2EE interface {
	// ToDevice returns the device's to-device events for a response
	// covering (since, upto] and acknowledges those delivered at or before
	// since, like /sync.
	ToDevice(ctx context.Context, user id.UserID, device id.DeviceID, since, upto int64) ([]json.RawMessage, error)
	// DeviceLists returns the users whose devices changed in (since, upto]
	// and those the user no longer shares a room with.
	DeviceLists(ctx context.Context, user id.UserID, since, upto int64) (changed, left []id.UserID, err error)
	// KeyCounts returns the device's one-time key counts and unused
	// fallback key algorithms.
	KeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, []string, error)
}

// Sliding serves simplified sliding sync on top of the sync service.
type Sliding struct {
	s     *Service
	e2ee  SlidingE2EE
	conns *connStore
}

// NewSliding returns the sliding sync service; e2ee may be nil (the E2EE
// extensions then answer empty).
func NewSliding(s *Service, e2ee SlidingE2EE) *Sliding {
	return &Sliding{s: s, e2ee: e2ee, conns: newConnStore(s.now)}
}

// slidingRoom is one room of a response.
type slidingRoom struct {
	id        string
	cand      *candidate
	cfg       *roomCfg
	prev      *sentRoom
	initial   bool
	fullState bool
	expanded  bool
	lo, hi    int64
	timeline  []*evRow
	limited   bool
	numLive   int
	state     []*evRow
	// name and avatar: nil when unset; "" when removed (sent as null).
	name, avatar *string
	heroes       []json.RawMessage
	sum          *summary
	counts       push.Counts
	inviteState  []json.RawMessage
	isDM         bool
	vis          *visibility
}

type listCount struct {
	name  string
	count int
}

// slidingResult is a computed response before encoding.
type slidingResult struct {
	state *connState
	lists []listCount
	rooms []*slidingRoom
	ext   slidingExt
	news  bool
	wake  []string
	dec   *decorator
}

// Sync answers one request. A request with a pos and nothing new waits on
// the notifier up to req.Timeout, recomputing when a change concerning
// the user or one of their joined rooms commits.
func (sl *Sliding) Sync(ctx context.Context, req *SlidingRequest) ([]byte, error) {
	s := sl.s
	if s.src.Presence != nil {
		s.src.Presence.Touch(ctx, req.UserID, req.SetPresence)
	}
	c, base, err := sl.conns.resolve(connKey{req.UserID, req.DeviceID, req.ConnID}, req.Pos)
	if err != nil {
		return nil, err
	}
	timeout := min(req.Timeout, MaxTimeout)
	deadline := s.now().Add(timeout)
	since := min(base.upto, s.notifier.Pos())
	for {
		upto := max(s.notifier.Pos(), since)
		res, err := sl.compute(ctx, req, c, base, since, upto)
		if err != nil {
			return nil, err
		}
		if res.news || req.Pos == "" || timeout <= 0 || !s.now().Before(deadline) {
			pos := sl.conns.commit(c, res.state)
			return res.encode(pos, req.TxnID), nil
		}
		waitCtx, cancel := context.WithDeadline(ctx, deadline)
		s.notifier.Wait(waitCtx, req.UserID.String(), res.wake, upto)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// (since, upto] held nothing for the extensions; rooms compare
		// against what the connection sent, which has not moved.
		since = upto
	}
}

// compute builds the response covering (since, upto] for the extensions
// and, for rooms, everything after what base says the client holds.
func (sl *Sliding) compute(ctx context.Context, req *SlidingRequest, c *slidingConn, base *connState, since, upto int64) (*slidingResult, error) {
	res := &slidingResult{state: base.clone()}
	res.state.upto = upto
	if len(req.Lists) == 0 && len(req.Subscriptions) == 0 {
		// A connection for the extensions alone (matrix-rust-sdk's
		// "encryption" one): no rooms to read, and only changes addressed
		// to the user wake it.
		res.dec = &decorator{}
		if err := sl.extensions(ctx, req, res, &extScope{}, nil, since, upto); err != nil {
			return nil, err
		}
		res.news = res.ext.news
		return res, nil
	}
	cands, err := sl.candidates(ctx, c, base, req.UserID.String(), upto)
	if err != nil {
		return nil, err
	}
	byRoom := make(map[string]*candidate, len(cands))
	for _, cd := range cands {
		byRoom[cd.room] = cd
		if cd.m.value == "join" {
			res.wake = append(res.wake, cd.room)
		}
	}
	lf := &listFilter{sl: sl, c: c, user: req.UserID}
	wanted, scope, err := sl.match(ctx, req, lf, base, cands, byRoom, res)
	if err != nil {
		return nil, err
	}
	counts, err := sl.unreadCounts(ctx, req.UserID, wanted, byRoom)
	if err != nil {
		return nil, err
	}
	send := sl.decide(req, base, res, wanted, byRoom, counts, upto)
	if res.dec, err = sl.loadRooms(ctx, req, base, send); err != nil {
		return nil, err
	}
	if len(send) > 0 {
		if err := lf.loadDM(ctx); err != nil {
			return nil, err
		}
	}
	res.rooms = send
	for _, r := range send {
		r.isDM = lf.dm[r.id]
		res.state.rooms[r.id] = r.sent()
	}
	if err := sl.extensions(ctx, req, res, scope, byRoom, since, upto); err != nil {
		return nil, err
	}
	res.news = res.news || len(send) > 0 || res.ext.news
	return res, nil
}

// extScope is what the extensions need to know of the matched rooms.
type extScope struct {
	listRooms  map[string][]string
	subscribed []string
}

// match evaluates the lists and subscriptions: it returns the combined
// config of every wanted room and fills the list counts.
func (sl *Sliding) match(ctx context.Context, req *SlidingRequest, lf *listFilter, base *connState, cands []*candidate,
	byRoom map[string]*candidate, res *slidingResult) (map[string]*roomCfg, *extScope, error) {
	wanted := map[string]*roomCfg{}
	scope := &extScope{listRooms: map[string][]string{}}
	names := make([]string, 0, len(req.Lists))
	for name := range req.Lists {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l := req.Lists[name]
		rooms, err := lf.apply(ctx, cands, &l.Filters)
		if err != nil {
			return nil, nil, err
		}
		res.lists = append(res.lists, listCount{name, len(rooms)})
		if prev, ok := base.listCounts[name]; !ok || prev != len(rooms) {
			res.news = true
		}
		res.state.listCounts[name] = len(rooms)
		ranges := l.Ranges
		if ranges == nil {
			ranges = [][2]int{{0, len(rooms) - 1}}
		}
		for _, rg := range ranges {
			for i := rg[0]; i <= rg[1] && i < len(rooms); i++ {
				room := rooms[i].room
				cfg := wanted[room]
				if cfg == nil {
					cfg = &roomCfg{}
					wanted[room] = cfg
				}
				cfg.add(&l.RoomConfig)
				if n := len(cfg.lists); n == 0 || cfg.lists[n-1] != name {
					cfg.lists = append(cfg.lists, name)
					scope.listRooms[name] = append(scope.listRooms[name], room)
				}
			}
		}
	}
	for room, rc := range req.Subscriptions {
		if byRoom[room] == nil {
			continue // not visible to the user: ignored, as the MSC says
		}
		cfg := wanted[room]
		if cfg == nil {
			cfg = &roomCfg{}
			wanted[room] = cfg
		}
		cfg.add(rc)
		scope.subscribed = append(scope.subscribed, room)
	}
	sort.Strings(scope.subscribed)
	return wanted, scope, nil
}

func (sl *Sliding) unreadCounts(ctx context.Context, user id.UserID, wanted map[string]*roomCfg, byRoom map[string]*candidate) (map[id.RoomID]push.Counts, error) {
	src := sl.s.src.Push
	if src == nil {
		return nil, nil
	}
	var rooms []id.RoomID
	for room := range wanted {
		if byRoom[room].m.value == "join" {
			rooms = append(rooms, id.RoomID(room))
		}
	}
	if len(rooms) == 0 {
		return nil, nil
	}
	return src.UnreadCounts(ctx, user, rooms)
}

// decide picks the wanted rooms to send and their timeline windows:
// rooms never sent (or newly joined) whole, others when they have events
// the client lacks, new unread counts, a larger timeline limit or other
// required state. Wanted rooms with nothing new are marked as up to date.
func (sl *Sliding) decide(req *SlidingRequest, base *connState, res *slidingResult, wanted map[string]*roomCfg,
	byRoom map[string]*candidate, counts map[id.RoomID]push.Counts, upto int64) []*slidingRoom {
	var send []*slidingRoom
	for room, cfg := range wanted {
		cd := byRoom[room]
		prev := base.rooms[room]
		r := &slidingRoom{id: room, cand: cd, cfg: cfg, prev: prev, counts: counts[id.RoomID(room)]}
		r.hi = upto
		if cd.m.value != "join" {
			r.hi = cd.m.pos
		}
		switch {
		case cd.m.value == "invite":
			if prev != nil && prev.membership == "invite" && cd.m.pos <= prev.upto {
				continue
			}
			r.initial = true
		case prev == nil || prev.membership == "invite" || cd.m.value == "join" && prev.membership != "join":
			r.initial, r.fullState = true, true
		default:
			expands := cfg.expands(prev.sigs)
			if cd.last <= prev.upto && r.counts == prev.counts && cfg.limit <= prev.limit && !expands {
				live := *prev
				live.upto = max(prev.upto, r.hi)
				live.sigs = cfg.signatures()
				res.state.rooms[room] = &live
				continue
			}
			r.fullState = expands
			r.expanded = cfg.limit > prev.limit
			if !r.expanded {
				r.lo = min(prev.upto, r.hi)
			}
		}
		send = append(send, r)
	}
	sort.Slice(send, func(i, j int) bool { return send[i].id < send[j].id })
	return send
}

// sent is what the client holds of r once it processed the response.
func (r *slidingRoom) sent() *sentRoom {
	st := &sentRoom{upto: r.hi, membership: r.cand.m.value, limit: r.cfg.limit, sigs: r.cfg.signatures(), counts: r.counts}
	if r.prev != nil && !r.limited && !r.initial {
		st.limit = max(st.limit, r.prev.limit)
	}
	return st
}
