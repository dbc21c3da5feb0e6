package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"os"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestThumbnailCache(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 10<<20)
		ctx := context.Background()
		m := upload(t, s, "@a:example.org", "image/png", "p.png", pngBytes(t, testImage(800, 600, true)))
		req := ThumbnailRequest{Width: 96, Height: 96, Method: MethodCrop}

		first, err := s.Thumbnail(ctx, "example.org", m.MediaID, req, 0)
		if err != nil {
			t.Fatal(err)
		}
		data := readContent(t, first)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "png" || cfg.Width != 96 || cfg.Height != 96 || first.ContentType != "image/png" {
			t.Fatalf("thumbnail %s %dx%d (%s), %v", format, cfg.Width, cfg.Height, first.ContentType, err)
		}
		row, err := s.getThumbnail(ctx, m.MediaID, 96, 96, MethodCrop)
		if err != nil || row.size != int64(len(data)) || row.contentType != "image/png" {
			t.Fatalf("cache row = %+v, %v", row, err)
		}
		second, err := s.Thumbnail(ctx, "example.org", m.MediaID, req, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, fromDisk := second.Body.(*os.File); !fromDisk {
			t.Errorf("second request was regenerated, not served from the cache")
		}
		if again := readContent(t, second); !bytes.Equal(again, data) {
			t.Errorf("cached thumbnail differs")
		}

		// A lost cache file is regenerated.
		if err := os.Remove(s.thumbnailPath(m.MediaID, 96, 96, MethodCrop)); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Thumbnail(ctx, "example.org", m.MediaID, req, 0); err != nil || !bytes.Equal(readContent(t, c), data) {
			t.Errorf("regeneration: %v", err)
		}

		// Many sizes are served but only maxCachedThumbnails are kept.
		for w := 10; w < 10+maxCachedThumbnails+5; w++ {
			c, err := s.Thumbnail(ctx, "example.org", m.MediaID, ThumbnailRequest{Width: w, Height: 10, Method: MethodScale}, 0)
			if err != nil {
				t.Fatal(err)
			}
			readContent(t, c)
		}
		if n, _ := s.countThumbnails(ctx, m.MediaID); n != maxCachedThumbnails {
			t.Errorf("%d thumbnails cached, want %d", n, maxCachedThumbnails)
		}
	})
}

func TestThumbnailContentKinds(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db, 10<<20)
		ctx := context.Background()
		scale := ThumbnailRequest{Width: 320, Height: 240, Method: MethodScale}

		text := upload(t, s, "@a:example.org", "text/plain", "", []byte("not an image"))
		if _, err := s.Thumbnail(ctx, "example.org", text.MediaID, scale, 0); !errors.Is(err, ErrNotThumbnailable) {
			t.Errorf("text: err = %v", err)
		}
		bomb := upload(t, s, "@a:example.org", "image/png", "", bombPNG(100000, 100000))
		if _, err := s.Thumbnail(ctx, "example.org", bomb.MediaID, scale, 0); !errors.Is(err, ErrImageTooLarge) {
			t.Errorf("bomb: err = %v", err)
		}

		// An animated GIF that already fits is served as is when animation
		// is wanted, and as a still otherwise.
		gifData := gifBytes(t, 64, 48, 3)
		anim := upload(t, s, "@a:example.org", "image/gif", "a.gif", gifData)
		c, err := s.Thumbnail(ctx, "example.org", anim.MediaID, ThumbnailRequest{Width: 96, Height: 96, Method: MethodScale, Animated: true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := readContent(t, c); c.ContentType != "image/gif" || !bytes.Equal(got, gifData) {
			t.Errorf("animated request got %s, %d bytes", c.ContentType, len(got))
		}
		c, err = s.Thumbnail(ctx, "example.org", anim.MediaID, ThumbnailRequest{Width: 32, Height: 32, Method: MethodCrop, Animated: true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if readContent(t, c); c.ContentType != "image/jpeg" {
			t.Errorf("animated request needing scaling got %s", c.ContentType)
		}
	})
}
