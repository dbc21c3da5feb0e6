package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// paginate sends 30 messages and reads the room backwards 7 events at a
// time until the server says there is nothing older.
func (j *journey) paginate(t *testing.T) {
	var ids []id.EventID
	for i := range 30 {
		r, err := j.alice.SendMessageEvent(t.Context(), j.room, event.EventMessage,
			map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("page %02d", i)})
		if err != nil {
			t.Fatalf("send page %d: %v", i, err)
		}
		ids = append(ids, r.EventID)
	}
	j.bob.syncUntil(t, "the 30th message", func(r *mautrix.RespSync) bool { return byID(timeline(r, j.room), ids[29]) != nil })

	from := j.bob.since
	var all []*event.Event
	seen := map[id.EventID]bool{}
	firstEnd := ""
	for page := 0; ; page++ {
		if page == 60 {
			t.Fatalf("/messages still has an end token after 60 pages (%d events)", len(all))
		}
		resp, err := j.bob.Messages(t.Context(), j.room, from, "", mautrix.DirectionBackward, nil, 7)
		if err != nil {
			t.Fatalf("/messages page %d: %v", page, err)
		}
		if resp.Start != from {
			t.Errorf("page %d: start %q, want the from token %q", page, resp.Start, from)
		}
		if len(resp.Chunk) > 7 {
			t.Errorf("page %d: %d events with limit 7", page, len(resp.Chunk))
		}
		for _, ev := range resp.Chunk {
			if seen[ev.ID] {
				t.Errorf("page %d: %s (%s) returned twice", page, ev.ID, ev.Type.Type)
			}
			seen[ev.ID] = true
			all = append(all, ev)
		}
		if page == 0 {
			firstEnd = resp.End
		}
		if resp.End == "" {
			break
		}
		if len(resp.Chunk) == 0 {
			t.Errorf("page %d: empty chunk with end %q: the end of history must omit end", page, resp.End)
			break
		}
		from = resp.End
	}
	if len(all) < 30 {
		t.Fatalf("backwards pagination returned %d events, want at least the 30 pages", len(all))
	}
	for i := range 30 {
		want := fmt.Sprintf("page %02d", 29-i)
		if all[i].ID != ids[29-i] || str(all[i], "body") != want {
			t.Errorf("event %d backwards is %s %q, want %s %q", i, all[i].ID, str(all[i], "body"), ids[29-i], want)
		}
	}
	if last := all[len(all)-1]; last.Type.Type != "m.room.create" {
		t.Errorf("history ends with %s, want m.room.create", last.Type.Type)
	}
	if byID(all, j.msgID) == nil {
		t.Errorf("history lacks the first message %s", j.msgID)
	}

	// Tokens sit between events: forwards from the first page's end
	// gives that page's seven events again, oldest first.
	fwd, err := j.bob.Messages(t.Context(), j.room, firstEnd, "", mautrix.DirectionForward, nil, 7)
	if err != nil {
		t.Fatalf("/messages dir=f: %v", err)
	}
	if len(fwd.Chunk) != 7 {
		t.Fatalf("dir=f from the first page's end gave %d events, want 7", len(fwd.Chunk))
	}
	for i, ev := range fwd.Chunk {
		if ev.ID != ids[23+i] {
			t.Errorf("dir=f event %d is %q, want %q", i, str(ev, "body"), fmt.Sprintf("page %02d", 23+i))
		}
	}
}

// displayName checks a profile change reaches the room as a new member event.
func (j *journey) displayName(t *testing.T) {
	if err := j.bob.SetDisplayName(t.Context(), "Bobby Tables"); err != nil {
		t.Fatalf("set displayname: %v", err)
	}
	j.alice.syncUntil(t, "bob's new displayname in the room", func(r *mautrix.RespSync) bool {
		me := memberEvent(timeline(r, j.room), j.bob.UserID)
		if me == nil {
			return false
		}
		if str(me, "membership") != "join" || me.Sender != j.bob.UserID {
			t.Errorf("profile change arrived as %s from %s", me.Content.VeryRaw, me.Sender)
		}
		return str(me, "displayname") == "Bobby Tables"
	})
	got, err := j.alice.GetDisplayName(t.Context(), j.bob.UserID)
	if err != nil || got.DisplayName != "Bobby Tables" {
		t.Errorf("GET profile displayname = %+v, %v", got, err)
	}
}

// media uploads a PNG as alice and downloads it as bob through the
// authenticated v1 endpoint.
func (j *journey) media(t *testing.T) {
	data := testPNG(t)
	up, err := j.alice.UploadBytesWithName(t.Context(), data, "image/png", "dots.png")
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if up.ContentURI.Homeserver != ServerName || up.ContentURI.FileID == "" {
		t.Fatalf("upload returned %q", up.ContentURI)
	}
	resp, err := j.bob.Download(t.Context(), up.ContentURI)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("download body: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("downloaded %d bytes differ from the %d uploaded", len(got), len(data))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("download Content-Type %q, want image/png", ct)
	}
	path := "/_matrix/client/v1/media/download/" + up.ContentURI.Homeserver + "/" + up.ContentURI.FileID
	j.s.raw(t, http.MethodGet, path, "", nil).wantError(t, "download without a token", 401, "M_MISSING_TOKEN")
	j.s.raw(t, http.MethodGet, path+"nope", j.bob.AccessToken, nil).wantError(t, "download of unknown media", 404, "M_NOT_FOUND")
}

// testPNG encodes a small gradient, so the server gets a real image it
// could thumbnail but must store byte for byte.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for y := range 32 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(x * 5), G: uint8(y * 7), B: uint8(x ^ y), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// redact checks a redaction reaches bob and strips the original's content
// from /event and /messages.
func (j *journey) redact(t *testing.T) {
	secret, err := j.alice.SendText(t.Context(), j.room, "the secret plans")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	red, err := j.alice.RedactEvent(t.Context(), j.room, secret.EventID, mautrix.ReqRedact{Reason: "oops"})
	if err != nil {
		t.Fatalf("redact: %v", err)
	}
	var seen []*event.Event
	j.bob.syncUntil(t, "the redaction", func(r *mautrix.RespSync) bool {
		seen = append(seen, timeline(r, j.room)...)
		return byID(seen, red.EventID) != nil
	})
	ev := byID(seen, red.EventID)
	// Room v11 moved redacts into content; older versions keep it top-level.
	if ev.Type.Type != "m.room.redaction" || ev.Sender != j.alice.UserID ||
		(ev.Redacts != secret.EventID && str(ev, "redacts") != string(secret.EventID)) || str(ev, "reason") != "oops" {
		t.Errorf("redaction arrived as %s redacts=%s %s", ev.Type.Type, ev.Redacts, ev.Content.VeryRaw)
	}

	orig, err := j.bob.GetEvent(t.Context(), j.room, secret.EventID)
	if err != nil {
		t.Fatalf("GET /event: %v", err)
	}
	checkRedacted(t, "GET /event", orig, red.EventID)
	msgs, err := j.bob.Messages(t.Context(), j.room, j.bob.since, "", mautrix.DirectionBackward, nil, 10)
	if err != nil {
		t.Fatalf("/messages: %v", err)
	}
	if ev := byID(msgs.Chunk, secret.EventID); ev == nil {
		t.Errorf("/messages lacks the redacted event")
	} else {
		checkRedacted(t, "/messages", ev, red.EventID)
	}
}

func checkRedacted(t *testing.T, where string, ev *event.Event, by id.EventID) {
	t.Helper()
	if len(ev.Content.Raw) != 0 {
		t.Errorf("%s: redacted event still has content %s", where, ev.Content.VeryRaw)
	}
	if ev.Type.Type != "m.room.message" {
		t.Errorf("%s: redacted event lost its type: %q", where, ev.Type.Type)
	}
	if rb := ev.Unsigned.RedactedBecause; rb == nil || rb.ID != by {
		t.Errorf("%s: unsigned.redacted_because = %v, want the redaction %s", where, rb, by)
	}
}
