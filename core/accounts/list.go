package accounts

import (
	"context"
	"strconv"
	"strings"
)

// ListUsersParams filters ListUsers, after Synapse's admin user list.
type ListUsersParams struct {
	From, Limit int
	// Name matches user IDs and display names containing it.
	Name               string
	IncludeGuests      bool
	IncludeDeactivated bool
}

// ListUsers returns a page of accounts ordered by user ID, and how many
// match in total.
func (s *Service) ListUsers(ctx context.Context, p ListUsersParams) ([]User, int, error) {
	where := []string{"1 = 1"}
	args := []any{}
	if p.Name != "" {
		args = append(args, "%"+escapeLike(strings.ToLower(p.Name))+"%")
		where = append(where, `(LOWER(user_id) LIKE $1 ESCAPE '\' OR LOWER(displayname) LIKE $1 ESCAPE '\')`)
	}
	if !p.IncludeGuests {
		where = append(where, "NOT is_guest")
	}
	if !p.IncludeDeactivated {
		where = append(where, "NOT deactivated")
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	n := len(args)
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond+
		` ORDER BY user_id LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, p.Limit, p.From)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *u)
	}
	return out, total, rows.Err()
}
