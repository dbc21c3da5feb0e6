package accounts

import (
	"context"
	"database/sql"
	"strings"

	"maunium.net/go/mautrix/id"
)

// DirectoryEntry is one user directory search result.
type DirectoryEntry struct {
	UserID      id.UserID
	DisplayName string
	AvatarURL   string
}

// MaxDirectoryLimit caps user directory results per search.
const MaxDirectoryLimit = 50

// SearchUsers finds active local users whose user ID or display name
// contains term, case-insensitively. limited is true when more matched than
// limit. As with Synapse's search_all_users: true, every local user is
// searchable, not only those sharing a room with the searcher; the spec
// names the latter only as the minimum.
func (s *Service) SearchUsers(ctx context.Context, term string, limit int) (results []DirectoryEntry, limited bool, err error) {
	if limit <= 0 || limit > MaxDirectoryLimit {
		limit = MaxDirectoryLimit
	}
	pattern := "%" + escapeLike(strings.ToLower(term)) + "%"
	rows, err := s.db.Query(ctx, `SELECT user_id, displayname, avatar_url FROM users
		WHERE NOT deactivated AND NOT is_guest
		  AND (LOWER(user_id) LIKE $1 ESCAPE '\' OR LOWER(displayname) LIKE $1 ESCAPE '\')
		ORDER BY user_id LIMIT $2`, pattern, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	results = []DirectoryEntry{}
	for rows.Next() {
		var (
			e               DirectoryEntry
			display, avatar sql.NullString
		)
		if err := rows.Scan(&e.UserID, &display, &avatar); err != nil {
			return nil, false, err
		}
		e.DisplayName, e.AvatarURL = display.String, avatar.String
		results = append(results, e)
	}
	if len(results) > limit {
		results, limited = results[:limit], true
	}
	return results, limited, rows.Err()
}

// escapeLike makes term match literally inside a LIKE pattern.
func escapeLike(term string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(term)
}
