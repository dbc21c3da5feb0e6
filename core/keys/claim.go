package keys

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// claimTarget is one (user, device, algorithm) a claim asks for.
type claimTarget struct {
	user, device, alg string
}

type claimed struct {
	claimTarget
	keyID, json string
}

// maxClaimTargets bounds one claim; 3 parameters per target.
const (
	maxClaimTargets = 10000
	claimChunk      = 300
	maxClaimRounds  = 100
)

// Claim answers POST /keys/claim: for each requested device it atomically
// takes one one-time key of the algorithm, or else hands out (and marks
// used) the device's fallback key. Unknown users and devices, and devices
// with no keys left, are simply absent from the answer.
func (s *Service) Claim(ctx context.Context, req map[id.UserID]map[id.DeviceID]string) (json.RawMessage, error) {
	var targets []claimTarget
	failures := map[string]bool{}
	for u, devices := range req {
		if !s.isLocal(u) {
			if _, server, err := u.Parse(); err == nil && server != "" {
				failures[server] = true
				continue
			}
			return nil, httpx.InvalidParam("Invalid user ID %q", truncate(string(u)))
		}
		for d, alg := range devices {
			if alg == "" || d == "" {
				return nil, httpx.InvalidParam("Claims need a device ID and an algorithm")
			}
			targets = append(targets, claimTarget{string(u), string(d), alg})
		}
	}
	if len(targets) > maxClaimTargets {
		return nil, httpx.InvalidParam("Cannot claim more than %d keys at once", maxClaimTargets)
	}
	var got []claimed
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		got = got[:0]
		for start := 0; start < len(targets); start += claimChunk {
			chunk := targets[start:min(start+claimChunk, len(targets))]
			res, err := claimChunkTx(ctx, tx, chunk)
			if err != nil {
				return err
			}
			got = append(got, res...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return renderClaim(got, failures), nil
}

// claimChunkTx claims one-time keys for targets, then fallback keys for
// those left without. On PostgreSQL concurrent claims may pick the same
// key; the losers' DELETE finds it gone, so targets that still have keys
// are retried. Every round one contender wins, so the bound on rounds only
// matters for dozens of simultaneous claims on one device.
func claimChunkTx(ctx context.Context, tx *storage.Tx, targets []claimTarget) ([]claimed, error) {
	var out []claimed
	pending := targets
	for attempt := 0; attempt < maxClaimRounds && len(pending) > 0; attempt++ {
		values, args := claimValues(pending)
		// The correlated MIN walks the primary key once per target.
		res, err := scanClaimed(tx.Query(ctx, `DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, algorithm, key_id) IN (
			SELECT v.column1, v.column2, v.column3, (SELECT MIN(k.key_id) FROM e2e_one_time_keys k
			WHERE k.user_id = v.column1 AND k.device_id = v.column2 AND k.algorithm = v.column3) FROM (`+values+`) AS v)
			RETURNING user_id, device_id, algorithm, key_id, key_json`, args...))
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
		pending = without(pending, res)
		if len(pending) == 0 {
			break
		}
		values, args = claimValues(pending)
		rows, err := tx.Query(ctx, `SELECT DISTINCT user_id, device_id, algorithm FROM e2e_one_time_keys
			WHERE (user_id, device_id, algorithm) IN (`+values+`)`, args...)
		if err != nil {
			return nil, err
		}
		var again []claimTarget
		for rows.Next() {
			var t claimTarget
			if err := rows.Scan(&t.user, &t.device, &t.alg); err != nil {
				rows.Close()
				return nil, err
			}
			again = append(again, t)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		fallback := without(pending, again)
		if len(fallback) > 0 {
			values, args = claimValues(fallback)
			res, err := scanClaimed(tx.Query(ctx, `UPDATE e2e_fallback_keys SET used = TRUE
				WHERE (user_id, device_id, algorithm) IN (`+values+`)
				RETURNING user_id, device_id, algorithm, key_id, key_json`, args...))
			if err != nil {
				return nil, err
			}
			out = append(out, res...)
		}
		pending = again
	}
	return out, nil
}

// claimValues renders targets as a VALUES list of row values.
func claimValues(targets []claimTarget) (string, []any) {
	var b strings.Builder
	b.WriteString("VALUES ")
	args := make([]any, 0, len(targets)*3)
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + storage.Placeholders(len(args)+1, 3) + ")")
		args = append(args, t.user, t.device, t.alg)
	}
	return b.String(), args
}

func scanClaimed(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, err error) ([]claimed, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.user, &c.device, &c.alg, &c.keyID, &c.json); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// without returns targets not in done.
func without[T interface{ target() claimTarget }](targets []claimTarget, done []T) []claimTarget {
	if len(done) == 0 {
		return targets
	}
	seen := make(map[claimTarget]bool, len(done))
	for _, d := range done {
		seen[d.target()] = true
	}
	var out []claimTarget
	for _, t := range targets {
		if !seen[t] {
			out = append(out, t)
		}
	}
	return out
}

func (t claimTarget) target() claimTarget { return t }

func renderClaim(got []claimed, failures map[string]bool) json.RawMessage {
	slices.SortFunc(got, func(a, b claimed) int {
		return strings.Compare(a.user+"\x00"+a.device, b.user+"\x00"+b.device)
	})
	b := make([]byte, 0, 64+len(got)*400)
	b = append(b, `{"one_time_keys":{`...)
	for i, c := range got {
		newUser := i == 0 || got[i-1].user != c.user
		if newUser {
			if i > 0 {
				b = append(b, "},"...)
			}
			b = appendString(b, c.user)
			b = append(b, ":{"...)
		} else {
			b = append(b, ',')
		}
		b = appendString(b, c.device)
		b = append(b, ":{"...)
		b = appendString(b, c.alg+":"+c.keyID)
		b = append(b, ':')
		b = append(b, c.json...)
		b = append(b, '}')
	}
	if len(got) > 0 {
		b = append(b, '}')
	}
	b = append(b, `},"failures":{`...)
	servers := make([]string, 0, len(failures))
	for srv := range failures {
		servers = append(servers, srv)
	}
	sort.Strings(servers)
	for i, srv := range servers {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, srv)
		b = append(b, `:{"errcode":"M_UNRECOGNIZED","error":"Federation is not supported by this server"}`...)
	}
	return append(b, "}}"...)
}
