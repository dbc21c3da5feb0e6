package media

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on asynchronous uploads, Synapse's defaults
// (max_pending_media_uploads, unused_expiration_time).
const (
	MaxPendingPerUser = 5
	PendingLifetime   = 24 * time.Hour
)

// UploadParams describes content arriving from a client.
type UploadParams struct {
	UserID      string
	ContentType string // the request's Content-Type header; normalised here
	FileName    string // the ?filename= parameter; may be empty
	Body        io.Reader
	// DeclaredSize is the request's Content-Length, or -1. It is used only
	// to refuse an oversized upload before reading it; the limit is
	// enforced on the bytes actually read.
	DeclaredSize int64
}

// Upload stores new content and returns its metadata. It returns
// ErrTooLarge when the body exceeds the limit and ErrBadRequestBody when
// reading it fails.
func (s *Service) Upload(ctx context.Context, p UploadParams) (*Media, error) {
	if p.DeclaredSize > s.maxUploadSize {
		return nil, ErrTooLarge
	}
	rc, err := s.receive(p.Body, s.maxUploadSize)
	if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	m := &Media{
		Origin: s.serverName, MediaID: newMediaID(), UserID: p.UserID,
		ContentType: NormalizeContentType(p.ContentType), UploadName: CleanFileName(p.FileName),
		Size: rc.size, SHA256: rc.sha256, CreatedTS: now, UploadedTS: now,
	}
	final := s.contentPath(m.MediaID)
	if err := s.commitFile(rc.path, final); err != nil {
		rc.discard()
		return nil, err
	}
	if err := s.insertMedia(ctx, m); err != nil {
		_ = os.Remove(final)
		return nil, fmt.Errorf("record upload: %w", err)
	}
	return m, nil
}

// Create reserves a media ID for an asynchronous upload (MSC2246): the
// client gets the mxc URI at once and PUTs the content later.
func (s *Service) Create(ctx context.Context, userID string) (*Media, error) {
	now := s.now()
	n, err := s.countPending(ctx, userID, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	if n >= MaxPendingPerUser {
		return nil, ErrTooManyPending
	}
	m := &Media{
		Origin: s.serverName, MediaID: newMediaID(), UserID: userID,
		ContentType: "application/octet-stream", CreatedTS: now.UnixMilli(),
		ExpiresTS: now.Add(PendingLifetime).UnixMilli(),
	}
	if err := s.insertMedia(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// UploadPending stores the content for an ID reserved by Create. Only the
// user who reserved it may upload, and only once.
func (s *Service) UploadPending(ctx context.Context, mediaID string, p UploadParams) error {
	m, err := s.Get(ctx, s.serverName, mediaID)
	if err != nil {
		return err
	}
	switch {
	case m.UserID != p.UserID:
		return ErrNotOwner
	case m.UploadedTS != 0:
		return ErrCannotOverwrite
	case m.ExpiresTS <= s.now().UnixMilli():
		return ErrNotFound
	case p.DeclaredSize > s.maxUploadSize:
		return ErrTooLarge
	}
	// Two concurrent PUTs would rename over each other's file; the
	// second is refused before it writes anything.
	if !s.claim(mediaID) {
		return ErrCannotOverwrite
	}
	defer s.release(mediaID)
	rc, err := s.receive(p.Body, s.maxUploadSize)
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	m.ContentType, m.UploadName = NormalizeContentType(p.ContentType), CleanFileName(p.FileName)
	m.Size, m.SHA256, m.UploadedTS = rc.size, rc.sha256, now
	final := s.contentPath(mediaID)
	if err := s.commitFile(rc.path, final); err != nil {
		rc.discard()
		return err
	}
	ok, err := s.completePending(ctx, m)
	if err != nil || !ok {
		_ = os.Remove(final)
		if err != nil {
			return fmt.Errorf("record upload: %w", err)
		}
		return ErrCannotOverwrite
	}
	s.notifyUploaded(mediaID)
	return nil
}

func (s *Service) claim(mediaID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploading[mediaID] {
		return false
	}
	s.uploading[mediaID] = true
	return true
}

func (s *Service) release(mediaID string) {
	s.mu.Lock()
	delete(s.uploading, mediaID)
	s.mu.Unlock()
}

// NormalizeContentType returns a clean "type/subtype; params" form of a
// Content-Type header, or application/octet-stream for anything that does
// not parse (clients send odd things; we must not serve them back as-is).
func NormalizeContentType(ct string) string {
	const fallback = "application/octet-stream"
	if ct == "" || len(ct) > 255 {
		return fallback
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return fallback
	}
	out := mime.FormatMediaType(mt, params)
	if out == "" {
		return fallback
	}
	return out
}

// CleanFileName drops control characters and invalid UTF-8 from a client's
// file name and bounds it to 255 bytes; it is only ever displayed.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}
