// Package backup owns server-side key backup (/room_keys): backup versions
// with their algorithm and auth_data, and the encrypted megolm session keys
// stored in them. The server cannot read the keys; it keeps, per session,
// the best copy by the spec's rules (verified beats unverified, then the
// lower first_message_index, then the lower forwarded_count), and counts
// changes in an etag so clients notice others' uploads.
//
// Nothing here is seen by /sync, so writes go straight to the database
// rather than through the stream writer.
package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Service stores key backups.
type Service struct {
	db *storage.DB
}

// New returns a Service on db.
func New(db *storage.DB) *Service { return &Service{db: db} }

// Version describes one backup version.
type Version struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	ETag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// errUnknownVersion is the spec's 404 for a missing or deleted version.
func errUnknownVersion() *httpx.Error { return httpx.NotFound("Unknown backup version") }

// WrongVersion is M_WRONG_ROOM_KEYS_VERSION: keys may only be stored in the
// current version.
func WrongVersion(current string) *httpx.Error {
	return httpx.NewError(http.StatusForbidden, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.").
		With("current_version", current)
}

// parseVersion turns a version string into its number; anything else
// names no version.
func parseVersion(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == v
}

func checkVersionBody(algorithm string, authData json.RawMessage) error {
	if algorithm == "" || len(algorithm) > 255 {
		return httpx.MissingParam("Missing algorithm")
	}
	if d := bytes.TrimSpace(authData); len(d) == 0 || d[0] != '{' {
		return httpx.BadJSON("auth_data must be a JSON object")
	}
	return nil
}

func compactJSON(raw json.RawMessage) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", httpx.BadJSON("Invalid JSON: %v", err)
	}
	return b.String(), nil
}

// CreateVersion starts a new backup version, which becomes the current one.
func (s *Service) CreateVersion(ctx context.Context, user id.UserID, algorithm string, authData json.RawMessage) (string, error) {
	if err := checkVersionBody(algorithm, authData); err != nil {
		return "", err
	}
	auth, err := compactJSON(authData)
	if err != nil {
		return "", err
	}
	var version int64
	for attempt := 0; attempt < 3; attempt++ {
		err = s.db.InTx(ctx, func(tx *storage.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM e2e_backup_versions WHERE user_id = $1`,
				user).Scan(&version); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO e2e_backup_versions (user_id, version, algorithm, auth_data) VALUES ($1, $2, $3, $4)`,
				user, version, algorithm, auth)
			return err
		})
		// Two concurrent creations on PostgreSQL may pick the same number.
		if err == nil || !s.db.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(version, 10), nil
}

// current returns the user's current (newest undeleted) version number, or 0.
func (s *Service) current(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) *sql.Row
}, user id.UserID) (int64, error) {
	var v sql.NullInt64
	err := q.QueryRow(ctx, `SELECT MAX(version) FROM e2e_backup_versions WHERE user_id = $1 AND deleted = FALSE`, user).Scan(&v)
	return v.Int64, err
}

// GetVersion returns a version, or the current one when version is "".
func (s *Service) GetVersion(ctx context.Context, user id.UserID, version string) (*Version, error) {
	var n int64
	if version == "" {
		cur, err := s.current(ctx, s.db, user)
		if err != nil {
			return nil, err
		}
		if cur == 0 {
			return nil, httpx.NotFound("No current backup version")
		}
		n = cur
	} else {
		var ok bool
		if n, ok = parseVersion(version); !ok {
			return nil, errUnknownVersion()
		}
	}
	var v Version
	var auth string
	var etag int64
	err := s.db.QueryRow(ctx, `SELECT algorithm, auth_data, etag,
		(SELECT COUNT(*) FROM e2e_backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version)
		FROM e2e_backup_versions v WHERE user_id = $1 AND version = $2 AND deleted = FALSE`, user, n).
		Scan(&v.Algorithm, &auth, &etag, &v.Count)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnknownVersion()
	} else if err != nil {
		return nil, err
	}
	v.AuthData, v.ETag, v.Version = json.RawMessage(auth), strconv.FormatInt(etag, 10), strconv.FormatInt(n, 10)
	return &v, nil
}

// UpdateVersion replaces a version's auth_data. The algorithm cannot
// change, and a version in the body must be the one in the path.
func (s *Service) UpdateVersion(ctx context.Context, user id.UserID, version, algorithm string, authData json.RawMessage, bodyVersion string) error {
	if err := checkVersionBody(algorithm, authData); err != nil {
		return err
	}
	if bodyVersion != "" && bodyVersion != version {
		return httpx.InvalidParam("The version in the body does not match the version in the path")
	}
	n, ok := parseVersion(version)
	if !ok {
		return errUnknownVersion()
	}
	auth, err := compactJSON(authData)
	if err != nil {
		return err
	}
	var stored string
	err = s.db.QueryRow(ctx, `SELECT algorithm FROM e2e_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = FALSE`,
		user, n).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return errUnknownVersion()
	} else if err != nil {
		return err
	}
	if stored != algorithm {
		return httpx.InvalidParam("Algorithm does not match")
	}
	_, err = s.db.Exec(ctx, `UPDATE e2e_backup_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2`, user, n, auth)
	return err
}

// DeleteVersion deletes a version and its keys. Deleting a deleted
// version succeeds, as the spec asks.
func (s *Service) DeleteVersion(ctx context.Context, user id.UserID, version string) error {
	n, ok := parseVersion(version)
	if !ok {
		return errUnknownVersion()
	}
	return s.db.InTx(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE e2e_backup_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2`, user, n)
		if err != nil {
			return err
		}
		if rows, _ := res.RowsAffected(); rows == 0 {
			return errUnknownVersion()
		}
		_, err = tx.Exec(ctx, `DELETE FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`, user, n)
		return err
	})
}
