package media

import "context"

// RemoteFetcher gets media held by other homeservers (over federation's
// /_matrix/federation/v1/media/download and .../thumbnail). core/api/media
// calls it for mxc URIs whose server name is not ours; cmd/gatehouse
// supplies it once federation exists, and until then remote media answers
// M_NOT_FOUND.
type RemoteFetcher interface {
	// Download is called on each request for remote content. It blocks on
	// the network and must honour ctx; it returns ErrNotFound when the
	// remote server has no such media and ErrTooLarge rather than more
	// than maxSize bytes. The caller closes the Content's Body.
	Download(ctx context.Context, serverName, mediaID string, maxSize int64) (*Media, *Content, error)
	// Thumbnail is Download for a thumbnail, with the same rules.
	Thumbnail(ctx context.Context, serverName, mediaID string, req ThumbnailRequest, maxSize int64) (*Content, error)
}
