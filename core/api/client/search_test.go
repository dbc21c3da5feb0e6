package client

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/search"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// searchEnv is the sync stack with search wired as serve wires it (the
// redaction hook, the background indexer woken by commits) and POST
// /search. Tests search right after sending: a search indexes what the
// background indexer has not reached yet.
type searchEnv struct {
	*syncEnv
}

func newSearchEnv(t *testing.T, db *storage.DB) *searchEnv {
	e := newSyncEnv(t, db)
	svc := search.New(db, e.Sync, zerolog.Nop())
	e.Rooms.AddPersistHook(svc.PersistHook)
	e.Writer.Subscribe(svc.OnCommit)
	svc.Start()
	t.Cleanup(svc.Close)
	RegisterSearch(e.rt, svc)
	return &searchEnv{e}
}

func forEachSearchDB(t *testing.T, fn func(t *testing.T, e *searchEnv)) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) { fn(t, newSearchEnv(t, db)) })
}

// search posts a room_events search for term with extra criteria and
// returns room_events.
func (e *searchEnv) search(as id.UserID, term string, extra map[string]any, nextBatch string) gjson.Result {
	e.T.Helper()
	crit := map[string]any{"search_term": term}
	for k, v := range extra {
		crit[k] = v
	}
	path := "/_matrix/client/v3/search"
	if nextBatch != "" {
		path += "?next_batch=" + url.QueryEscape(nextBatch)
	}
	r := e.do("POST", path, as, map[string]any{"search_categories": map[string]any{"room_events": crit}})
	if r.status != http.StatusOK {
		e.T.Fatalf("search %q: %d %s", term, r.status, r.body.Raw)
	}
	return r.body.Get("search_categories.room_events")
}

// bodies returns the searched text (body, name or topic) of each result.
func bodies(res gjson.Result) []string {
	var out []string
	for _, r := range res.Get("results").Array() {
		c := r.Get("result.content")
		switch {
		case c.Get("body").Exists():
			out = append(out, c.Get("body").Str)
		case c.Get("name").Exists():
			out = append(out, c.Get("name").Str)
		default:
			out = append(out, c.Get("topic").Str)
		}
	}
	return out
}

func eventIDs(res gjson.Result) []string {
	var out []string
	for _, r := range res.Get("results").Array() {
		out = append(out, r.Get("result.event_id").Str)
	}
	return out
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g := append([]string{}, got...)
	w := append([]string{}, want...)
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func TestSearchFindsBodyNameTopic(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice := e.User("alice")
		name, topic := "Gardening Club", "Tomatoes and basil"
		room := e.Room(alice, rooms.CreateRequest{Name: &name, Topic: &topic})
		e.Text(room, alice, "The Martians are coming, hide the tomatoes")
		e.Text(room, alice, "nothing to see here")

		res := e.search(alice, "martians", nil, "")
		sameSet(t, "body", bodies(res), []string{"The Martians are coming, hide the tomatoes"})
		if res.Get("count").Int() != 1 {
			t.Fatalf("count = %d, want 1", res.Get("count").Int())
		}
		r := res.Get("results.0")
		if r.Get("rank").Float() <= 0 || r.Get("result.room_id").Str != string(room) || r.Get("result.sender").Str != string(alice) ||
			r.Get("result.type").Str != "m.room.message" || !r.Get("result.unsigned.age").Exists() {
			t.Fatalf("result = %s", r.Raw)
		}
		if !strings.Contains(strings.ToLower(res.Get("highlights").Raw), "martians") {
			t.Fatalf("highlights = %s", res.Get("highlights").Raw)
		}
		sameSet(t, "name", bodies(e.search(alice, "gardening", nil, "")), []string{name})
		sameSet(t, "topic", bodies(e.search(alice, "basil", nil, "")), []string{topic})
		// Prefixes, case and punctuation.
		sameSet(t, "prefix", bodies(e.search(alice, "MART", nil, "")), []string{"The Martians are coming, hide the tomatoes"})
		sameSet(t, "both keys", bodies(e.search(alice, "tomatoes", nil, "")), []string{topic, "The Martians are coming, hide the tomatoes"})
		// keys restricts what is searched.
		sameSet(t, "keys body", bodies(e.search(alice, "tomatoes", map[string]any{"keys": []string{"content.body"}}, "")),
			[]string{"The Martians are coming, hide the tomatoes"})
		sameSet(t, "keys name", bodies(e.search(alice, "basil", map[string]any{"keys": []string{"content.name"}}, "")), nil)
		// Query syntax: phrases, OR, negation.
		sameSet(t, "phrase", bodies(e.search(alice, `"hide the tomatoes"`, nil, "")), []string{"The Martians are coming, hide the tomatoes"})
		sameSet(t, "phrase order", bodies(e.search(alice, `"tomatoes the hide"`, nil, "")), nil)
		sameSet(t, "or", bodies(e.search(alice, "martians OR nothing", nil, "")),
			[]string{"The Martians are coming, hide the tomatoes", "nothing to see here"})
		sameSet(t, "not", bodies(e.search(alice, "tomatoes -basil", nil, "")), []string{"The Martians are coming, hide the tomatoes"})
		empty := e.search(alice, "   ", nil, "")
		if len(empty.Get("results").Array()) != 0 || empty.Get("count").Int() != 0 || empty.Get("next_batch").Exists() {
			t.Fatalf("empty term: %s", empty.Raw)
		}
	})
}

func TestSearchOnlyWhatTheUserMaySee(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		private := e.Room(alice, rooms.CreateRequest{})
		e.Text(private, alice, "zebra in the private room")
		// carol was invited but never joined.
		e.Invite(private, alice, carol)
		sameSet(t, "never joined", bodies(e.search(bob, "zebra", nil, "")), nil)
		sameSet(t, "invited", bodies(e.search(carol, "zebra", nil, "")), nil)
		sameSet(t, "member", bodies(e.search(alice, "zebra", nil, "")), []string{"zebra in the private room"})

		// A world_readable room bob never joined is not searched either.
		open := e.Room(alice, rooms.CreateRequest{})
		e.State(open, alice, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
		e.Text(open, alice, "zebra in the open room")
		sameSet(t, "world_readable", bodies(e.search(bob, "zebra", nil, "")), nil)

		// history_visibility joined: bob sees what was sent while he was
		// joined, not before his join nor after his leave.
		room := e.Room(alice, rooms.CreateRequest{})
		e.State(room, alice, "m.room.history_visibility", "", map[string]any{"history_visibility": "joined"})
		e.Text(room, alice, "secret before bob")
		e.Invite(room, alice, bob)
		e.Text(room, alice, "secret while bob is invited")
		e.Join(room, bob)
		e.Text(room, alice, "secret while bob is here")
		e.Leave(room, bob, bob)
		e.Text(room, alice, "secret after bob left")
		res := e.search(bob, "secret", nil, "")
		sameSet(t, "joined visibility", bodies(res), []string{"secret while bob is here"})
		if res.Get("count").Int() != 1 {
			t.Fatalf("count = %d, want 1", res.Get("count").Int())
		}
		sameSet(t, "alice", bodies(e.search(alice, "secret", nil, "")),
			[]string{"secret before bob", "secret while bob is invited", "secret while bob is here", "secret after bob left"})
	})
}

func TestSearchRedactedEventDisappears(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		gone := e.Text(room, alice, "platypus sighting")
		e.Text(room, alice, "another platypus")
		if got := bodies(e.search(alice, "platypus", nil, "")); len(got) != 2 {
			t.Fatalf("before redaction: %q", got)
		}
		if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.redaction",
			Redacts: gone.ID, Content: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		res := e.search(alice, "platypus", nil, "")
		sameSet(t, "after redaction", bodies(res), []string{"another platypus"})
		if res.Get("count").Int() != 1 {
			t.Fatalf("count = %d, want 1", res.Get("count").Int())
		}
		sameSet(t, "redacted word", bodies(e.search(alice, "sighting", nil, "")), nil)
	})
}

func TestSearchFilter(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		name := "Walrus talk"
		r1 := e.Room(alice, rooms.CreateRequest{Name: &name}, bob)
		r2 := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(r1, alice, "walrus one from alice")
		e.Text(r1, bob, "walrus two from bob")
		e.Text(r2, alice, "walrus three from alice")
		img := e.Send(r2, bob, "m.room.message", map[string]any{"msgtype": "m.image", "body": "walrus.png", "url": "mxc://test.local/abc"})
		_ = img

		f := func(filter map[string]any) []string {
			return bodies(e.search(alice, "walrus", map[string]any{"filter": filter}, ""))
		}
		sameSet(t, "rooms", f(map[string]any{"rooms": []string{string(r2)}}), []string{"walrus three from alice", "walrus.png"})
		sameSet(t, "not_rooms", f(map[string]any{"not_rooms": []string{string(r2)}}), []string{name, "walrus one from alice", "walrus two from bob"})
		sameSet(t, "senders", f(map[string]any{"senders": []string{string(bob)}}), []string{"walrus two from bob", "walrus.png"})
		sameSet(t, "not_senders", f(map[string]any{"not_senders": []string{string(alice)}}), []string{"walrus two from bob", "walrus.png"})
		sameSet(t, "types", f(map[string]any{"types": []string{"m.room.name"}}), []string{name})
		sameSet(t, "not_types", f(map[string]any{"not_types": []string{"m.room.message"}}), []string{name})
		sameSet(t, "contains_url", f(map[string]any{"contains_url": true}), []string{"walrus.png"})
		sameSet(t, "limit", f(map[string]any{"limit": 1, "rooms": []string{string(r1)}, "types": []string{"m.room.name"}}), []string{name})
		sameSet(t, "room not joined", f(map[string]any{"rooms": []string{"!elsewhere:test.local"}}), nil)
	})
}

func TestSearchOrder(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		long := "an apple hidden in a rather long sentence with many other words around it"
		e.Text(room, alice, long)
		e.Text(room, alice, "apple apple apple")
		e.Text(room, alice, "one apple among a few words")
		recent := e.search(alice, "apple", map[string]any{"order_by": "recent"}, "")
		if got := bodies(recent); strings.Join(got, "|") != "one apple among a few words|apple apple apple|"+long {
			t.Fatalf("recent order: %q", got)
		}
		rank := e.search(alice, "apple", map[string]any{"order_by": "rank"}, "")
		got := bodies(rank)
		if len(got) != 3 || got[0] != "apple apple apple" || got[2] != long {
			t.Fatalf("rank order: %q", got)
		}
		ranks := rank.Get("results.#.rank").Array()
		if !(ranks[0].Float() > ranks[1].Float() && ranks[1].Float() > ranks[2].Float()) {
			t.Fatalf("ranks not decreasing: %s", rank.Get("results.#.rank").Raw)
		}
		if def := bodies(e.search(alice, "apple", nil, "")); strings.Join(def, "|") != strings.Join(got, "|") {
			t.Fatalf("default order is not rank: %q", def)
		}
	})
}

func TestSearchContextAndState(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		e.Profiles.SetName(alice, "Alice A")
		e.Profiles.SetName(bob, "Bob B")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(room, alice, "first")
		e.Text(room, bob, "second")
		e.Text(room, alice, "the narwhal")
		e.Text(room, bob, "third")
		e.Text(room, alice, "fourth")
		res := e.search(alice, "narwhal", map[string]any{
			"event_context": map[string]any{"before_limit": 2, "after_limit": 1, "include_profile": true},
			"include_state": true,
		}, "")
		c := res.Get("results.0.context")
		before, after := c.Get("events_before.#.content.body").Array(), c.Get("events_after.#.content.body").Array()
		if len(before) != 2 || before[0].Str != "second" || before[1].Str != "first" || len(after) != 1 || after[0].Str != "third" {
			t.Fatalf("context = %s", c.Raw)
		}
		if c.Get("start").Str == "" || c.Get("end").Str == "" {
			t.Fatalf("context tokens missing: %s", c.Raw)
		}
		// The end token continues /messages after the context.
		msgs := e.do("GET", syncPath("/rooms/%s/messages", string(room))+"?dir=f&from="+c.Get("end").Str, alice, nil).ok(t)
		if got := msgs.Get("chunk.#.content.body").Array(); len(got) != 1 || got[0].Str != "fourth" {
			t.Fatalf("messages after end: %s", msgs.Get("chunk").Raw)
		}
		if c.Get("profile_info."+syncKey(string(alice))+".displayname").Str != "Alice A" ||
			c.Get("profile_info."+syncKey(string(bob))+".displayname").Str != "Bob B" {
			t.Fatalf("profile_info = %s", c.Get("profile_info").Raw)
		}
		state := res.Get("state." + syncKey(string(room)))
		types := map[string]bool{}
		for _, ev := range state.Array() {
			types[ev.Get("type").Str] = true
		}
		if !types["m.room.create"] || !types["m.room.member"] || !types["m.room.power_levels"] {
			t.Fatalf("state = %s", state.Raw)
		}
		plain := e.search(alice, "narwhal", nil, "")
		if plain.Get("results.0.context").Exists() || plain.Get("state").Exists() {
			t.Fatalf("context or state not asked for: %s", plain.Raw)
		}
	})
}

func TestSearchPagination(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		var want []string // latecomers are added after each order's pages
		for i := range 7 {
			body := "koala " + strings.Repeat("word ", i)
			e.Text(room, alice, body)
			want = append(want, body)
		}
		for _, order := range []string{"recent", "rank"} {
			t.Run(order, func(t *testing.T) {
				crit := map[string]any{"order_by": order, "filter": map[string]any{"limit": 3}}
				var got []string
				next := ""
				for page := 0; ; page++ {
					res := e.search(alice, "koala", crit, next)
					if res.Get("count").Int() != int64(len(want)) {
						t.Fatalf("page %d count = %d", page, res.Get("count").Int())
					}
					got = append(got, bodies(res)...)
					if page == 0 {
						// Events sent after the first page do not shift the pages.
						e.Text(room, alice, "koala latecomer")
					}
					next = res.Get("next_batch").Str
					if next == "" {
						break
					}
					if page > 5 {
						t.Fatal("too many pages")
					}
				}
				sameSet(t, "all pages", got, want)
				want = append(want, "koala latecomer")
			})
		}
		// A next_batch only works with the order it was made for.
		res := e.search(alice, "koala", map[string]any{"order_by": "recent", "filter": map[string]any{"limit": 1}}, "")
		e.do("POST", "/_matrix/client/v3/search?next_batch="+url.QueryEscape(res.Get("next_batch").Str), alice,
			map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "koala", "order_by": "rank"}}}).
			fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
	})
}

func TestSearchGroupings(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		r1 := e.Room(alice, rooms.CreateRequest{}, bob)
		r2 := e.Room(alice, rooms.CreateRequest{}, bob)
		a := e.Text(r1, alice, "lemur one")
		b := e.Text(r1, bob, "lemur two")
		c := e.Text(r2, alice, "lemur three")
		res := e.search(alice, "lemur", map[string]any{"order_by": "recent",
			"groupings": map[string]any{"group_by": []map[string]string{{"key": "room_id"}, {"key": "sender"}}}}, "")
		byRoom := res.Get("groups.room_id")
		sameSet(t, "room 1", ids(byRoom.Get(syncKey(string(r1))+".results")), []string{string(a.ID), string(b.ID)})
		sameSet(t, "room 2", ids(byRoom.Get(syncKey(string(r2))+".results")), []string{string(c.ID)})
		// Results are newest first: room 2's lemur three leads.
		if byRoom.Get(syncKey(string(r2))+".order").Int() != 1 || byRoom.Get(syncKey(string(r1))+".order").Int() != 2 {
			t.Fatalf("group order: %s", byRoom.Raw)
		}
		bySender := res.Get("groups.sender")
		sameSet(t, "alice", ids(bySender.Get(syncKey(string(alice))+".results")), []string{string(a.ID), string(c.ID)})
		sameSet(t, "bob", ids(bySender.Get(syncKey(string(bob))+".results")), []string{string(b.ID)})

		// A group's next_batch pages within its room.
		page := e.search(alice, "lemur", map[string]any{"order_by": "recent", "filter": map[string]any{"limit": 1},
			"groupings": map[string]any{"group_by": []map[string]string{{"key": "room_id"}}}}, "")
		sameSet(t, "first page", eventIDs(page), []string{string(c.ID)})
		next := page.Get("groups.room_id." + syncKey(string(r2)) + ".next_batch").Str
		if next == "" {
			t.Fatalf("no group next_batch: %s", page.Raw)
		}
		rest := e.search(alice, "lemur", map[string]any{"order_by": "recent"}, next)
		sameSet(t, "rest of room 2", eventIDs(rest), nil)
		if rest.Get("next_batch").Exists() {
			t.Fatalf("room 2 has no more: %s", rest.Raw)
		}
		global := e.search(alice, "lemur", map[string]any{"order_by": "recent"}, page.Get("next_batch").Str)
		sameSet(t, "rest overall", eventIDs(global), []string{string(a.ID), string(b.ID)})
	})
}

func ids(list gjson.Result) []string {
	var out []string
	for _, v := range list.Array() {
		out = append(out, v.Str)
	}
	return out
}

func TestSearchBadInput(t *testing.T) {
	forEachSearchDB(t, func(t *testing.T, e *searchEnv) {
		alice := e.User("alice")
		e.Room(alice, rooms.CreateRequest{})
		post := func(body any, query string) syncResp {
			return e.do("POST", "/_matrix/client/v3/search"+query, alice, body)
		}
		crit := func(c map[string]any) map[string]any {
			return map[string]any{"search_categories": map[string]any{"room_events": c}}
		}
		post(map[string]any{}, "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(map[string]any{"search_categories": nil}, "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(map[string]any{"search_categories": "x"}, "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": 5}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "keys": "content.body"}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "order_by": 1}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "filter": "nope"}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "filter": map[string]any{"senders": "nope"}}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "event_context": map[string]any{"before_limit": "2"}}), "").fails(t, http.StatusBadRequest, "M_BAD_JSON")
		post(crit(map[string]any{"search_term": "x", "order_by": "oldest"}), "").fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		post(crit(map[string]any{"search_term": "x", "keys": []string{"content.url"}}), "").fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		post(crit(map[string]any{"search_term": "x", "groupings": map[string]any{"group_by": []map[string]string{{"key": "type"}}}}), "").
			fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		post(crit(map[string]any{"search_term": "x", "event_context": map[string]any{"after_limit": -1}}), "").
			fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		for _, tok := range []string{"garbage!", "MXwxfDJ8M3w0fHw", "eA", strings.Repeat("A", 2000)} {
			post(crit(map[string]any{"search_term": "x"}), "?next_batch="+url.QueryEscape(tok)).fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		e.do("POST", "/_matrix/client/v3/search", alice, "{not json").fails(t, http.StatusBadRequest, "M_NOT_JSON")
		e.do("POST", "/_matrix/client/v3/search", "", crit(map[string]any{"search_term": "x"})).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
		// Only room_events exists; other categories are ignored.
		other := post(map[string]any{"search_categories": map[string]any{"other": map[string]any{}}}, "").ok(t)
		if other.Get("search_categories").Raw != "{}" {
			t.Fatalf("unknown category: %s", other.Raw)
		}
		// Query syntax never fails, whatever the term.
		for _, term := range []string{`"`, `-`, `OR`, `a OR`, `"unclosed phrase`, `*`, `'; DROP TABLE events; --`, `NEAR(a b)`, `a:*`, `\`, `é`, "\x00"} {
			post(crit(map[string]any{"search_term": term}), "").ok(t)
		}
	})
}
