package media

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
)

// Synapse's bounds on timeout_ms, the wait for a pending async upload.
const (
	defaultWait = 20 * time.Second
	maxWait     = 60 * time.Second
)

// mediaPath reads and validates {serverName}/{mediaId}. A bad server name
// is M_INVALID_PARAM (Synapse's parse_and_validate_server_name); a media
// ID outside the spec's grammar cannot exist, so it is M_NOT_FOUND.
func mediaPath(r *http.Request) (serverName, mediaID string, err error) {
	serverName, mediaID = r.PathValue("serverName"), r.PathValue("mediaId")
	if !repo.ValidServerName(serverName) {
		return "", "", httpx.InvalidParam("Invalid server name %q", serverName)
	}
	if !repo.ValidMediaID(mediaID) {
		return "", "", httpx.NotFound("Media not found")
	}
	return serverName, mediaID, nil
}

// waitParam reads timeout_ms: how long to wait for a pending upload.
func waitParam(r *http.Request) (time.Duration, error) {
	ms, err := httpx.QueryInt(r, "timeout_ms", defaultWait.Milliseconds())
	if err != nil {
		return 0, err
	}
	return min(max(time.Duration(ms)*time.Millisecond, 0), maxWait), nil
}

// mapErr turns core/media errors into Matrix errors; anything else stays
// an internal error (logged, 500).
func (a *api) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, repo.ErrNotFound):
		return httpx.NotFound("Media not found")
	case errors.Is(err, repo.ErrTooLarge):
		return httpx.TooLarge("Upload exceeds the limit of %d bytes", a.svc.MaxUploadSize())
	case errors.Is(err, repo.ErrBadRequestBody):
		return httpx.BadRequest("Failed to read the upload: the connection broke off")
	case errors.Is(err, repo.ErrNotYetUploaded):
		return httpx.NewError(http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED", "Media has not been uploaded yet")
	case errors.Is(err, repo.ErrCannotOverwrite):
		return httpx.NewError(http.StatusConflict, "M_CANNOT_OVERWRITE_MEDIA", "Media has already been uploaded")
	case errors.Is(err, repo.ErrNotOwner):
		return httpx.Forbidden("This media ID was created by another user")
	case errors.Is(err, repo.ErrTooManyPending):
		return httpx.NewError(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED",
			"You have %d uploads pending; finish or abandon one first", repo.MaxPendingPerUser)
	case errors.Is(err, repo.ErrImageTooLarge):
		return httpx.TooLarge("The content is too large to thumbnail: %v", err)
	case errors.Is(err, repo.ErrNotThumbnailable):
		return httpx.NotFound("The content is not an image that can be thumbnailed")
	case errors.Is(err, repo.ErrInvalidURL):
		return httpx.InvalidParam("url must be an absolute http or https URL")
	case errors.Is(err, repo.ErrBlockedAddress):
		return httpx.Forbidden("IP address blocked by IP blacklist entry")
	case errors.Is(err, repo.ErrPreviewFailed), errors.Is(err, context.DeadlineExceeded):
		return httpx.NewError(http.StatusBadGateway, "M_UNKNOWN", "Failed to download the content to preview")
	}
	return err
}
