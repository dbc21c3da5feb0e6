package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func upload(t *testing.T, s *Service, user, ct, name string, data []byte) *Media {
	t.Helper()
	m, err := s.Upload(context.Background(), UploadParams{
		UserID: user, ContentType: ct, FileName: name, Body: bytes.NewReader(data), DeclaredSize: -1,
	})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return m
}

func readContent(t *testing.T, c *Content) []byte {
	t.Helper()
	defer c.Body.Close()
	data, err := io.ReadAll(c.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func tmpEntries(t *testing.T, s *Service) int {
	entries, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestUploadAndOpen(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 1<<20)
		ctx := context.Background()
		data := []byte("the quick brown fox\x00\xff")
		m := upload(t, s, "@alice:example.org", "Text/Plain; Charset=UTF-8", "fox\x07 \u00e9t\u00e9.txt", data)
		sum := sha256.Sum256(data)
		if m.Size != int64(len(data)) || m.SHA256 != hex.EncodeToString(sum[:]) || len(m.MediaID) != 24 ||
			m.ContentType != "text/plain; charset=UTF-8" || m.UploadName != "fox \u00e9t\u00e9.txt" {
			t.Fatalf("upload = %+v", m)
		}
		if !strings.HasPrefix(m.MXC(), "mxc://example.org/") {
			t.Errorf("MXC = %s", m.MXC())
		}
		// Sharded as Synapse shards, with nothing left in tmp/.
		onDisk, err := os.ReadFile(filepath.Join(s.root, "local_content", m.MediaID[:2], m.MediaID[2:4], m.MediaID[4:]))
		if err != nil || !bytes.Equal(onDisk, data) {
			t.Fatalf("file on disk = %q, %v", onDisk, err)
		}
		if n := tmpEntries(t, s); n != 0 {
			t.Errorf("%d files left in tmp", n)
		}
		got, c, err := s.Open(ctx, "example.org", m.MediaID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *m {
			t.Errorf("Open metadata = %+v, want %+v", got, m)
		}
		if b := readContent(t, c); !bytes.Equal(b, data) || c.Size != int64(len(data)) {
			t.Errorf("content = %q", b)
		}
		for _, id := range []string{"nope", "../../etc/passwd", ""} {
			if _, _, err := s.Open(ctx, "example.org", id, 0); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open(%q) err = %v", id, err)
			}
		}
		if _, _, err := s.Open(ctx, "other.org", m.MediaID, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("remote origin err = %v", err)
		}
	})
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	f.n--
	return copy(p, "xxxx"), nil
}

func TestUploadLimits(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 100)
		ctx := context.Background()
		cases := map[string]UploadParams{
			"declared too large": {Body: bytes.NewReader(nil), DeclaredSize: 101},
			"lying length":       {Body: bytes.NewReader(make([]byte, 101)), DeclaredSize: 10},
			"unknown length":     {Body: bytes.NewReader(make([]byte, 5000)), DeclaredSize: -1},
		}
		for name, p := range cases {
			if _, err := s.Upload(ctx, p); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s: err = %v, want ErrTooLarge", name, err)
			}
		}
		if _, err := s.Upload(ctx, UploadParams{Body: &failingReader{n: 3}, DeclaredSize: -1}); !errors.Is(err, ErrBadRequestBody) {
			t.Errorf("broken body: err = %v", err)
		}
		exact := upload(t, s, "@a:example.org", "", "", make([]byte, 100))
		if exact.Size != 100 || exact.ContentType != "application/octet-stream" {
			t.Errorf("upload at the limit = %+v", exact)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM media`).Scan(&n); err != nil || n != 1 {
			t.Errorf("rows = %d, %v; refused uploads must leave none", n, err)
		}
		if n := tmpEntries(t, s); n != 0 {
			t.Errorf("%d files left in tmp", n)
		}
	})
}

func TestAsyncUpload(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 1<<20)
		ctx := context.Background()
		const alice, bob = "@alice:example.org", "@bob:example.org"
		m, err := s.Create(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if m.ExpiresTS <= time.Now().UnixMilli() {
			t.Errorf("expires %d", m.ExpiresTS)
		}
		if _, _, err := s.Open(ctx, "example.org", m.MediaID, 20*time.Millisecond); !errors.Is(err, ErrNotYetUploaded) {
			t.Fatalf("pending Open err = %v", err)
		}
		type result struct {
			data []byte
			err  error
		}
		waited := make(chan result, 1)
		go func() {
			_, c, err := s.Open(ctx, "example.org", m.MediaID, 10*time.Second)
			if err != nil {
				waited <- result{err: err}
				return
			}
			b, err := io.ReadAll(c.Body)
			c.Body.Close()
			waited <- result{b, err}
		}()
		time.Sleep(50 * time.Millisecond)
		put := func(user, body string) error {
			return s.UploadPending(ctx, m.MediaID, UploadParams{
				UserID: user, ContentType: "text/plain", FileName: "a.txt", Body: strings.NewReader(body), DeclaredSize: -1,
			})
		}
		if err := put(bob, "bob's"); !errors.Is(err, ErrNotOwner) {
			t.Errorf("other user's PUT err = %v", err)
		}
		if err := put(alice, "hello"); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-waited:
			if r.err != nil || string(r.data) != "hello" {
				t.Errorf("waiting download = %q, %v", r.data, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiting download never woke")
		}
		if err := put(alice, "again"); !errors.Is(err, ErrCannotOverwrite) {
			t.Errorf("second PUT err = %v", err)
		}
		got, _ := s.Get(ctx, "example.org", m.MediaID)
		if got.Size != 5 || got.UploadName != "a.txt" || got.ContentType != "text/plain" || got.ExpiresTS != 0 {
			t.Errorf("after PUT = %+v", got)
		}
		if len(s.waiters) != 0 || len(s.uploading) != 0 {
			t.Errorf("leaked waiters %v / claims %v", s.waiters, s.uploading)
		}
	})
}

func TestAsyncUploadLimits(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 1<<20)
		ctx := context.Background()
		var first *Media
		for i := 0; i < MaxPendingPerUser; i++ {
			m, err := s.Create(ctx, "@alice:example.org")
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = m
			}
		}
		if _, err := s.Create(ctx, "@alice:example.org"); !errors.Is(err, ErrTooManyPending) {
			t.Errorf("6th create err = %v", err)
		}
		if _, err := s.Create(ctx, "@bob:example.org"); err != nil {
			t.Errorf("another user's create: %v", err)
		}
		// A day later the reservations have lapsed.
		s.now = func() time.Time { return time.Now().Add(PendingLifetime + time.Minute) }
		if _, err := s.Create(ctx, "@alice:example.org"); err != nil {
			t.Errorf("create after expiry: %v", err)
		}
		err := s.UploadPending(ctx, first.MediaID, UploadParams{UserID: "@alice:example.org", Body: strings.NewReader("x")})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("PUT to lapsed ID err = %v", err)
		}
		if _, _, err := s.Open(ctx, "example.org", first.MediaID, time.Second); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open lapsed err = %v", err)
		}
	})
}

func TestQuarantine(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 1<<20)
		ctx := context.Background()
		m := upload(t, s, "@a:example.org", "image/png", "", pngBytes(t, testImage(20, 20, false)))
		if err := s.SetQuarantined(ctx, "example.org", m.MediaID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Open(ctx, "example.org", m.MediaID, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open err = %v", err)
		}
		req := ThumbnailRequest{Width: 10, Height: 10, Method: MethodCrop}
		if _, err := s.Thumbnail(ctx, "example.org", m.MediaID, req, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Thumbnail err = %v", err)
		}
		if err := s.SetQuarantined(ctx, "example.org", "unknown", true); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown err = %v", err)
		}
	})
}
