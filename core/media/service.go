// Package media owns the media repository: content uploaded by local users,
// stored as files under media_store_path with metadata in the database,
// thumbnails made from it, and URL previews.
//
// Layout on disk (as Synapse's, so an admin's habits carry over):
//
//	local_content/ab/cd/efghijklmnopqrstuvwx      the upload with ID abcdefgh...
//	local_thumbnails/ab/cd/efgh.../96-96-crop     a cached thumbnail
//	tmp/                                          uploads being received
//
// An upload is written to tmp/, fsynced, renamed into place and its
// directory fsynced before its row is inserted, so a 200 answered to the
// client survives kill -9 and power loss. A crash in between leaves at
// worst an orphan file, never a row without content.
//
// The package knows nothing of HTTP: core/api/media maps its errors to
// Matrix errcodes. It does not fetch remote media itself; that goes
// through a RemoteFetcher supplied by the caller.
package media

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Errors returned by the Service; core/api/media maps each to an errcode.
var (
	ErrNotFound         = errors.New("media not found")
	ErrTooLarge         = errors.New("media exceeds the upload size limit")
	ErrNotYetUploaded   = errors.New("media has not been uploaded yet")
	ErrCannotOverwrite  = errors.New("media has already been uploaded")
	ErrNotOwner         = errors.New("media ID was reserved by another user")
	ErrTooManyPending   = errors.New("too many pending uploads")
	ErrNotThumbnailable = errors.New("content is not an image that can be thumbnailed")
	ErrImageTooLarge    = errors.New("image has too many pixels to thumbnail")
	ErrBadRequestBody   = errors.New("failed to read the request body")
)

// Service is the media repository. It is safe for concurrent use.
type Service struct {
	db            *storage.DB
	root          string
	serverName    string
	maxUploadSize int64
	log           zerolog.Logger

	mu        sync.Mutex
	uploading map[string]bool    // media IDs with a PUT in progress
	waiters   map[string]*waiter // pending uploads being waited for

	thumbSlots chan struct{} // bounds concurrent image decodes (memory)
	now        func() time.Time
}

// New opens the media store at storePath, creating its directories.
// maxUploadSize is the largest upload accepted, in bytes.
func New(db *storage.DB, storePath string, serverName string, maxUploadSize int64, log zerolog.Logger) (*Service, error) {
	if maxUploadSize <= 0 {
		return nil, fmt.Errorf("media: max upload size must be positive, got %d", maxUploadSize)
	}
	root, err := filepath.Abs(storePath)
	if err != nil {
		return nil, fmt.Errorf("media: store path %q: %w", storePath, err)
	}
	for _, dir := range []string{"local_content", "local_thumbnails", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o750); err != nil {
			return nil, fmt.Errorf("media: create store: %w", err)
		}
	}
	s := &Service{
		db: db, root: root, serverName: serverName, maxUploadSize: maxUploadSize,
		log:        log.With().Str("component", "media").Logger(),
		uploading:  map[string]bool{},
		waiters:    map[string]*waiter{},
		thumbSlots: make(chan struct{}, 2),
		now:        time.Now,
	}
	s.cleanTmp()
	return s, nil
}

// ServerName is the origin of media uploaded here.
func (s *Service) ServerName() string { return s.serverName }

// MaxUploadSize is the largest upload accepted, in bytes.
func (s *Service) MaxUploadSize() int64 { return s.maxUploadSize }

// Media is one item's metadata.
type Media struct {
	Origin      string
	MediaID     string
	UserID      string // uploader; empty for remote media
	ContentType string
	UploadName  string
	Size        int64
	SHA256      string // hex
	CreatedTS   int64
	// UploadedTS is zero while an async upload is pending.
	UploadedTS  int64
	ExpiresTS   int64
	Quarantined bool
}

// MXC returns the item's content URI.
func (m *Media) MXC() string { return MXC(m.Origin, m.MediaID) }

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newMediaID returns 24 random alphanumerics (~143 bits): unguessable,
// since legacy endpoints serve media to anyone who knows its ID.
func newMediaID() string {
	b := make([]byte, 24)
	buf := make([]byte, 48)
	for n := 0; n < len(b); {
		_, _ = rand.Read(buf) // never fails on supported platforms
		for _, c := range buf {
			// 248 = 4*62: rejecting above it keeps the draw uniform.
			if c < 248 && n < len(b) {
				b[n] = idAlphabet[c%62]
				n++
			}
		}
	}
	return string(b)
}

// shard splits an ID into Synapse's aa/bb/rest form. IDs shorter than 5
// characters (possible from other servers) get a single level.
func shard(id string) string {
	if len(id) < 5 {
		return filepath.Join("_", id)
	}
	return filepath.Join(id[:2], id[2:4], id[4:])
}

// contentPath is where the local upload id lives; id must have passed
// ValidMediaID.
func (s *Service) contentPath(id string) string {
	return filepath.Join(s.root, "local_content", shard(id))
}

func (s *Service) thumbnailPath(id string, width, height int, method string) string {
	return filepath.Join(s.root, "local_thumbnails", shard(id), fmt.Sprintf("%d-%d-%s", width, height, method))
}

// cleanTmp removes partial uploads left by a crash. Only old files go, in
// case another process shares the store while starting up.
func (s *Service) cleanTmp() {
	dir := filepath.Join(s.root, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
