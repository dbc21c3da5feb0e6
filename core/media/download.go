package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Content is a body ready to serve: an upload or a thumbnail.
type Content struct {
	ContentType string
	Size        int64
	// Body is an io.ReadSeeker for local content, so HTTP range requests
	// (video scrubbing) work; remote content may only stream.
	Body    io.ReadCloser
	ModTime time.Time
}

// Open returns a local item's metadata and content. A pending async upload
// is waited for up to wait, then ErrNotYetUploaded. Unknown, lapsed and
// quarantined media are ErrNotFound. The caller closes Content.Body.
func (s *Service) Open(ctx context.Context, origin, mediaID string, wait time.Duration) (*Media, *Content, error) {
	m, err := s.uploaded(ctx, origin, mediaID, wait)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.contentPath(mediaID))
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Error().Str("media_id", mediaID).Msg("Media row has no file on disk")
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open media: %w", err)
	}
	return m, &Content{
		ContentType: m.ContentType, Size: m.Size, Body: f,
		ModTime: time.UnixMilli(m.UploadedTS),
	}, nil
}

// uploaded returns the metadata of a local item whose content is present,
// waiting for a pending upload if need be.
func (s *Service) uploaded(ctx context.Context, origin, mediaID string, wait time.Duration) (*Media, error) {
	if origin != s.serverName {
		return nil, ErrNotFound
	}
	m, err := s.Get(ctx, origin, mediaID)
	if err != nil {
		return nil, err
	}
	if m.UploadedTS == 0 {
		if m.ExpiresTS <= s.now().UnixMilli() {
			return nil, ErrNotFound
		}
		if m, err = s.awaitUpload(ctx, mediaID, wait); err != nil {
			return nil, err
		}
	}
	if m.Quarantined {
		return nil, ErrNotFound
	}
	return m, nil
}

type waiter struct {
	ch chan struct{}
	n  int
}

// awaitUpload blocks until the pending mediaID is uploaded, wait passes or
// ctx ends, and returns the fresh metadata.
func (s *Service) awaitUpload(ctx context.Context, mediaID string, wait time.Duration) (*Media, error) {
	s.mu.Lock()
	w := s.waiters[mediaID]
	if w == nil {
		w = &waiter{ch: make(chan struct{})}
		s.waiters[mediaID] = w
	}
	w.n++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if w.n--; w.n == 0 && s.waiters[mediaID] == w {
			delete(s.waiters, mediaID)
		}
		s.mu.Unlock()
	}()
	// The upload may have landed between the caller's read and our
	// registration; look again now that we cannot miss the signal.
	if m, err := s.Get(ctx, s.serverName, mediaID); err != nil || m.UploadedTS != 0 {
		return m, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ch:
		return s.Get(ctx, s.serverName, mediaID)
	case <-t.C:
		return nil, ErrNotYetUploaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) notifyUploaded(mediaID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.waiters[mediaID]; w != nil {
		close(w.ch)
		delete(s.waiters, mediaID)
	}
}
