package media

import (
	"context"
	"database/sql"
	"errors"
)

const mediaColumns = `origin, media_id, user_id, content_type, upload_name, size, sha256,
	created_ts, uploaded_ts, expires_ts, quarantined`

func scanMedia(row interface{ Scan(...any) error }) (*Media, error) {
	var (
		m                    Media
		userID, name         sql.NullString
		uploadedTS, expireTS sql.NullInt64
	)
	err := row.Scan(&m.Origin, &m.MediaID, &userID, &m.ContentType, &name, &m.Size, &m.SHA256,
		&m.CreatedTS, &uploadedTS, &expireTS, &m.Quarantined)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m.UserID, m.UploadName = userID.String, name.String
	m.UploadedTS, m.ExpiresTS = uploadedTS.Int64, expireTS.Int64
	return &m, nil
}

// Get returns an item's metadata, pending or not; ErrNotFound if unknown.
func (s *Service) Get(ctx context.Context, origin, mediaID string) (*Media, error) {
	if !ValidMediaID(mediaID) {
		return nil, ErrNotFound
	}
	return scanMedia(s.db.QueryRow(ctx,
		`SELECT `+mediaColumns+` FROM media WHERE origin = $1 AND media_id = $2`, origin, mediaID))
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
func nullInt(n int64) sql.NullInt64      { return sql.NullInt64{Int64: n, Valid: n != 0} }

func (s *Service) insertMedia(ctx context.Context, m *Media) error {
	_, err := s.db.Exec(ctx, `INSERT INTO media (`+mediaColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		m.Origin, m.MediaID, nullString(m.UserID), m.ContentType, nullString(m.UploadName), m.Size, m.SHA256,
		m.CreatedTS, nullInt(m.UploadedTS), nullInt(m.ExpiresTS), m.Quarantined)
	return err
}

// completePending fills in a reserved row; it reports false when the row
// is no longer pending or belongs to someone else, so the caller can say
// which.
func (s *Service) completePending(ctx context.Context, m *Media) (bool, error) {
	res, err := s.db.Exec(ctx, `UPDATE media
		SET content_type = $1, upload_name = $2, size = $3, sha256 = $4, uploaded_ts = $5, expires_ts = NULL
		WHERE origin = $6 AND media_id = $7 AND user_id = $8 AND uploaded_ts IS NULL`,
		m.ContentType, nullString(m.UploadName), m.Size, m.SHA256, m.UploadedTS,
		m.Origin, m.MediaID, m.UserID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// countPending counts a user's reserved IDs that have not lapsed.
func (s *Service) countPending(ctx context.Context, userID string, now int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM media
		WHERE user_id = $1 AND uploaded_ts IS NULL AND expires_ts > $2`, userID, now).Scan(&n)
	return n, err
}

// SetQuarantined hides (or restores) an item: quarantined media answers
// M_NOT_FOUND everywhere, as in Synapse. For the admin API.
func (s *Service) SetQuarantined(ctx context.Context, origin, mediaID string, quarantined bool) error {
	res, err := s.db.Exec(ctx, `UPDATE media SET quarantined = $1 WHERE origin = $2 AND media_id = $3`,
		quarantined, origin, mediaID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

type thumbRow struct {
	contentType string
	size        int64
}

func (s *Service) getThumbnail(ctx context.Context, mediaID string, w, h int, method string) (*thumbRow, error) {
	var t thumbRow
	err := s.db.QueryRow(ctx, `SELECT content_type, size FROM media_thumbnails
		WHERE origin = $1 AND media_id = $2 AND width = $3 AND height = $4 AND method = $5`,
		s.serverName, mediaID, w, h, method).Scan(&t.contentType, &t.size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &t, err
}

func (s *Service) countThumbnails(ctx context.Context, mediaID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM media_thumbnails WHERE origin = $1 AND media_id = $2`,
		s.serverName, mediaID).Scan(&n)
	return n, err
}

func (s *Service) putThumbnail(ctx context.Context, mediaID string, w, h int, method string, t *thumbRow) error {
	_, err := s.db.Exec(ctx, `INSERT INTO media_thumbnails
		(origin, media_id, width, height, method, content_type, size, created_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (origin, media_id, width, height, method)
		DO UPDATE SET content_type = EXCLUDED.content_type, size = EXCLUDED.size, created_ts = EXCLUDED.created_ts`,
		s.serverName, mediaID, w, h, method, t.contentType, t.size, s.now().UnixMilli())
	return err
}
