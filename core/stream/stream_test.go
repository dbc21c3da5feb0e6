package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

func insert(key string) stream.ApplyFunc {
	return func(ctx context.Context, tx *storage.Tx, pos int64) error {
		_, err := tx.Exec(ctx, `INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, 'x')`, key, fmt.Sprint(pos))
		return err
	}
}

func TestWriterOrdersAndIsolatesFailures(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seen []int64
		w.Subscribe(func(cs []stream.Change) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cs {
				seen = append(seen, c.Pos)
			}
		})
		// Many concurrent writes, one of which fails (duplicate key).
		if _, err := w.Submit(ctx, stream.Change{Kind: stream.KindOther}, insert("#dup:x")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 100)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := "#k" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":x"
				if i == 50 {
					key = "#dup:x"
				}
				_, errs[i] = w.Submit(ctx, stream.Change{Kind: stream.KindOther}, insert(key))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if (i == 50) != (err != nil) {
				t.Fatalf("write %d: err = %v", i, err)
			}
		}
		var rows int
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM room_aliases`).Scan(&rows)
		if rows != 100 {
			t.Fatalf("%d rows committed, want 100", rows)
		}
		// Positions are published gap-free and in order.
		mu.Lock()
		for i := 1; i < len(seen); i++ {
			if seen[i] != seen[i-1]+1 {
				t.Fatalf("positions not consecutive: %v", seen)
			}
		}
		mu.Unlock()
		if w.Pos() != 100 {
			t.Fatalf("pos = %d, want 100", w.Pos())
		}
		w.Close()
		if _, err := w.Submit(ctx, stream.Change{}, nil); !errors.Is(err, stream.ErrClosed) {
			t.Fatalf("submit after close: %v", err)
		}
		// A new writer resumes from the stored head.
		w2, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		if pos, _ := w2.Submit(ctx, stream.Change{}, nil); pos != 101 {
			t.Fatalf("resumed at %d, want 101", pos)
		}
	})
}

func TestNotifierWakesOnlyInterested(t *testing.T) {
	n := stream.NewNotifier(10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	woke := make(chan int64, 1)
	go func() { woke <- n.Wait(ctx, "@a:x", []string{"!r1:x"}, 10) }()
	time.Sleep(20 * time.Millisecond)
	n.OnCommit([]stream.Change{{Pos: 11, RoomID: "!other:x"}})
	select {
	case <-woke:
		t.Fatal("woke for a room it is not in")
	case <-time.After(50 * time.Millisecond):
	}
	n.OnCommit([]stream.Change{{Pos: 12, RoomID: "!r1:x"}})
	select {
	case pos := <-woke:
		if pos != 12 {
			t.Fatalf("woke at %d", pos)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("did not wake")
	}
	// A change that committed before Wait registered still counts.
	if pos := n.Wait(ctx, "@a:x", nil, 11); pos != 12 {
		t.Fatalf("missed change for user: %d", pos)
	}
	n.OnCommit([]stream.Change{{Pos: 13, UserIDs: []string{"@a:x"}}})
	if pos := n.Wait(ctx, "@a:x", nil, 12); pos != 13 {
		t.Fatalf("user change: %d", pos)
	}
	short, c2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer c2()
	if pos := n.Wait(short, "@b:x", []string{"!r2:x"}, 13); pos != 13 {
		t.Fatalf("timeout returned %d", pos)
	}
}

func TestFailedEventFailsLaterEventsOfItsRoom(t *testing.T) {
	db := storagetest.NewSQLite(t)
	ctx := context.Background()
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Submit(ctx, stream.Change{Kind: stream.KindOther}, insert("#dup:x")); err != nil {
		t.Fatal(err)
	}
	// A slow write keeps the writer busy so the next three queue up and
	// share one batch: the first fails, the second (same room) must fail
	// with it, the third (another room) must commit.
	slow := w.Enqueue(ctx, stream.Change{Kind: stream.KindOther}, func(context.Context, *storage.Tx, int64) error {
		time.Sleep(200 * time.Millisecond)
		return nil
	})
	time.Sleep(20 * time.Millisecond)
	p1 := w.Enqueue(ctx, stream.Change{Kind: stream.KindEvent, RoomID: "!a:x"}, insert("#dup:x"))
	p2 := w.Enqueue(ctx, stream.Change{Kind: stream.KindEvent, RoomID: "!a:x"}, insert("#a2:x"))
	p3 := w.Enqueue(ctx, stream.Change{Kind: stream.KindEvent, RoomID: "!b:x"}, insert("#b1:x"))
	if _, err := slow.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Wait(); err == nil {
		t.Fatal("duplicate committed")
	}
	_, err2 := p2.Wait()
	_, err3 := p3.Wait()
	if err3 != nil {
		t.Fatalf("other room's event failed: %v", err3)
	}
	var n int
	_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM room_aliases WHERE alias = '#a2:x'`).Scan(&n)
	if !errors.Is(err2, stream.ErrPredecessorFailed) || n != 0 {
		t.Fatalf("second event: err=%v, %d rows; want ErrPredecessorFailed and nothing stored", err2, n)
	}
}

// A batch that ends with an event leaves stream_head behind; a new writer
// must still resume after the event, or positions would be handed out twice.
func TestWriterResumesAfterNewestEvent(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, stream.Change{Kind: stream.KindOther}, insert("#a:x")); err != nil {
			t.Fatal(err)
		}
		pos, err := w.Submit(ctx, stream.Change{Kind: stream.KindEvent, RoomID: "!r:x"}, func(ctx context.Context, tx *storage.Tx, pos int64) error {
			_, err := tx.Exec(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, sender, depth, origin_ts, pdu, client)
				VALUES ($1, $2, '!r:x', 'm.room.message', '@a:x', 1, 1, '{}', '{}')`, pos, fmt.Sprintf("$e%d", pos))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		var head int64
		_ = db.QueryRow(ctx, `SELECT pos FROM stream_head WHERE id = 1`).Scan(&head)
		if head >= pos {
			t.Fatalf("stream_head = %d was written for a batch ending in an event at %d", head, pos)
		}
		w2, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		if next, _ := w2.Submit(ctx, stream.Change{}, nil); next != pos+1 {
			t.Fatalf("resumed at %d, want %d", next, pos+1)
		}
	})
}
