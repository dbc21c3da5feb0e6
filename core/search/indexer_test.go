package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/search"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// indexEnv is the sync stack with a search service whose background
// indexer the test starts (or not) itself.
type indexEnv struct {
	*synctest.Env
	svc *search.Service
}

// newIndexEnv wires search as serve does, except that it does not Start
// the background indexer.
func newIndexEnv(t *testing.T, db *storage.DB) *indexEnv {
	e := &indexEnv{Env: synctest.New(t, db)}
	e.svc = e.newService(t)
	e.Rooms.AddPersistHook(e.svc.PersistHook)
	return e
}

// newService returns a search service subscribed to commits, closed when
// the test ends.
func (e *indexEnv) newService(t *testing.T) *search.Service {
	svc := search.New(e.DB, e.Sync, zerolog.Nop())
	e.Writer.Subscribe(svc.OnCommit)
	t.Cleanup(svc.Close)
	return svc
}

// indexed reports whether event_search holds a row for the event at pos.
func (e *indexEnv) indexed(pos int64) bool {
	e.T.Helper()
	col := "rowid"
	if e.DB.Dialect == storage.Postgres {
		col = "stream_pos"
	}
	var n int
	if err := e.DB.QueryRow(e.Ctx, `SELECT COUNT(*) FROM event_search WHERE `+col+` = $1`, pos).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n > 0
}

// search returns the sorted texts (body, name or topic) of svc's results
// for term as user.
func (e *indexEnv) search(svc *search.Service, user id.UserID, term string) []string {
	e.T.Helper()
	res, err := svc.Search(e.Ctx, &search.Request{UserID: user, DeviceID: "DEV", Body: &search.Body{
		SearchCategories: &search.Categories{RoomEvents: &search.RoomEvents{SearchTerm: &term}}}})
	if err != nil {
		e.T.Fatalf("search %q: %v", term, err)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for _, r := range gjson.GetBytes(raw, "search_categories.room_events.results").Array() {
		c := r.Get("result.content")
		out = append(out, c.Get("body").Str+c.Get("name").Str+c.Get("topic").Str)
	}
	sort.Strings(out)
	return out
}

func (e *indexEnv) redact(room id.RoomID, sender id.UserID, target *rooms.Event) {
	e.T.Helper()
	if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: "m.room.redaction",
		Redacts: target.ID, Content: json.RawMessage(`{}`)}); err != nil {
		e.T.Fatal(err)
	}
}

func waitIndexed(t *testing.T, svc *search.Service, pos int64) {
	t.Helper()
	// The deadline only keeps a broken indexer from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.WaitIndexed(ctx, pos); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// TestSendDoesNotIndex checks that sending leaves the index alone: with
// no background indexer, the row appears only when a search asks.
func TestSendDoesNotIndex(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		ev := e.Text(room, alice, "a quokka smiled")
		if e.indexed(ev.Pos) {
			t.Fatal("the send wrote the index")
		}
		want(t, "search", e.search(e.svc, alice, "quokka"), "a quokka smiled")
		if !e.indexed(ev.Pos) {
			t.Fatal("the search did not index the message")
		}
	})
}

// TestIndexerCatchesUp checks that the background indexer indexes after
// commits without any search, and that events sent while no indexer ran
// are indexed when one starts again.
func TestIndexerCatchesUp(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		e.svc.Start()
		first := e.Text(room, alice, "narwhal one, while indexing")
		waitIndexed(t, e.svc, first.Pos)
		if !e.indexed(first.Pos) {
			t.Fatal("the background indexer did not index the message")
		}
		e.svc.Close()

		second := e.Text(room, alice, "narwhal two, while stopped")
		third := e.Text(room, alice, "narwhal three, while stopped")
		if e.indexed(second.Pos) || e.indexed(third.Pos) {
			t.Fatal("messages were indexed with the indexer stopped")
		}
		again := e.newService(t)
		again.Start()
		waitIndexed(t, again, third.Pos)
		if !e.indexed(second.Pos) || !e.indexed(third.Pos) {
			t.Fatal("the restarted indexer did not catch up")
		}
		want(t, "after restart", e.search(again, alice, "narwhal"),
			"narwhal one, while indexing", "narwhal two, while stopped", "narwhal three, while stopped")
	})
}

// TestIndexInBatches checks that catching up takes as many transactions
// as the backlog needs, and indexes room names and topics too.
func TestIndexInBatches(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		e.svc.SetBatchSize(3)
		alice := e.User("alice")
		name, topic := "Axolotl tank", "axolotl care"
		room := e.Room(alice, rooms.CreateRequest{Name: &name, Topic: &topic})
		texts := []string{name, topic}
		var last *rooms.Event
		for _, w := range []string{"one", "two", "three", "four", "five", "six", "seven"} {
			texts = append(texts, "axolotl "+w)
			last = e.Text(room, alice, "axolotl "+w)
		}
		want(t, "all", e.search(e.svc, alice, "axolotl"), texts...)
		var cursor int64
		if err := e.DB.QueryRow(e.Ctx, `SELECT indexed_upto FROM search_index_state`).Scan(&cursor); err != nil {
			t.Fatal(err)
		}
		if cursor != last.Pos {
			t.Fatalf("indexed_upto = %d, want %d (the last event)", cursor, last.Pos)
		}
		e.State(room, alice, "m.room.name", "", map[string]string{"name": "Axolotl pond"})
		want(t, "new name", e.search(e.svc, alice, "pond"), "Axolotl pond")
	})
}

// TestRedactionBeforeIndexing checks that an event redacted before the
// indexer reached it is never indexed.
func TestRedactionBeforeIndexing(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		gone := e.Text(room, alice, "wombat burrow secret")
		kept := e.Text(room, alice, "wombat burrow map")
		e.redact(room, alice, gone)
		want(t, "search", e.search(e.svc, alice, "wombat"), "wombat burrow map")
		want(t, "redacted word", e.search(e.svc, alice, "secret"))
		if e.indexed(gone.Pos) || !e.indexed(kept.Pos) {
			t.Fatalf("indexed: redacted %v, kept %v", e.indexed(gone.Pos), e.indexed(kept.Pos))
		}
	})
}

// TestRedactionAfterIndexing checks that redacting an indexed event
// removes its row in the redaction's own transaction.
func TestRedactionAfterIndexing(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		gone := e.Text(room, alice, "echidna spines secret")
		e.Text(room, alice, "echidna spines")
		want(t, "before", e.search(e.svc, alice, "echidna"), "echidna spines secret", "echidna spines")
		e.redact(room, alice, gone)
		if e.indexed(gone.Pos) {
			t.Fatal("the redaction left the row in the index")
		}
		want(t, "after", e.search(e.svc, alice, "echidna"), "echidna spines")
	})
}

// TestRedactionsWhileIndexing sends and redacts from several goroutines
// while the background indexer runs, so redactions land before, during
// and after the indexer's batches: no redacted message may stay in the
// index, and every other one must be in it.
func TestRedactionsWhileIndexing(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		e.svc.Start()
		alice := e.User("alice")
		const senders, perSender = 3, 20
		var wg sync.WaitGroup
		kept, gone := make([][]int64, senders), make([][]int64, senders)
		for s := range senders {
			room := e.Room(alice, rooms.CreateRequest{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perSender {
					ev, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
						Content: json.RawMessage(`{"msgtype":"m.text","body":"dugong sighting"}`)})
					if err != nil {
						t.Error(err)
						return
					}
					if i%2 == 1 {
						kept[s] = append(kept[s], ev.Pos)
						continue
					}
					gone[s] = append(gone[s], ev.Pos)
					if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.redaction",
						Redacts: ev.ID, Content: json.RawMessage(`{}`)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// The search indexes what the background indexer has not reached.
		if got := e.search(e.svc, alice, "dugong"); len(got) == 0 {
			t.Fatal("found nothing")
		}
		for s := range senders {
			for _, pos := range gone[s] {
				if e.indexed(pos) {
					t.Fatalf("redacted event at %d is in the index", pos)
				}
			}
			for _, pos := range kept[s] {
				if !e.indexed(pos) {
					t.Fatalf("event at %d is missing from the index", pos)
				}
			}
		}
	})
}

// TestTwoIndexers runs two services' catch-up on one database at once, as
// two processes sharing PostgreSQL would, in small batches so that they
// interleave: every message is indexed once and the cursor ends on the
// newest event.
func TestTwoIndexers(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newIndexEnv(t, db)
		other := e.newService(t)
		e.svc.SetBatchSize(2)
		other.SetBatchSize(3)
		alice := e.User("alice")
		room := e.Room(alice, rooms.CreateRequest{})
		var texts []string
		var last *rooms.Event
		for i := range 9 { // one page of results
			texts = append(texts, fmt.Sprintf("platypus %d", i))
			last = e.Text(room, alice, texts[i])
		}
		var wg sync.WaitGroup
		found := make([][]string, 2)
		for i, svc := range []*search.Service{e.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				found[i] = e.search(svc, alice, "platypus")
			}()
		}
		wg.Wait()
		want(t, "first service", found[0], texts...)
		want(t, "second service", found[1], texts...)
		var rows int
		if err := e.DB.QueryRow(e.Ctx, `SELECT COUNT(*) FROM event_search WHERE text LIKE 'platypus%'`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != len(texts) {
			t.Fatalf("%d index rows for %d messages", rows, len(texts))
		}
		var cursor int64
		if err := e.DB.QueryRow(e.Ctx, `SELECT indexed_upto FROM search_index_state`).Scan(&cursor); err != nil {
			t.Fatal(err)
		}
		if cursor != last.Pos {
			t.Fatalf("indexed_upto = %d, want %d (the last event)", cursor, last.Pos)
		}
	})
}
