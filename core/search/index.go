package search

import (
	"context"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// The index is the event_search table (schema/018_search.sql): an FTS5
// table on SQLite, a tsvector column with a GIN index on PostgreSQL. The
// statements below and the indexer's (indexer.go) are the only ones that
// differ by dialect; each is built once from a template.

// dialectSQL holds the dialect's fragments and the statements built from
// them.
type dialectSQL struct {
	delete string
	// pageRank, pageRecent and countRows return candidate rows; countAll
	// counts them.
	pageRank, pageRecent, countRows, countAll string
}

func newDialectSQL(d storage.Dialect) *dialectSQL {
	// f: pos is the stream position column, match the full-text
	// condition on $1, rank the rank expression (an integer, higher is
	// better), list(p) a subquery listing the strings of the JSON array p,
	// hasURL whether e.client has a content.url string.
	var f struct{ pos, match, rank, hasURL string }
	var list func(p string) string
	if d == storage.Postgres {
		f.pos = "stream_pos"
		f.match = "vector @@ to_tsquery('simple', $1)"
		// ts_rank with normalization 1 (divide by 1 + log of the
		// length) depends on the row alone, so pages stay stable.
		f.rank = "CAST(ts_rank(vector, to_tsquery('simple', $1), 1) * 1000000 AS BIGINT)"
		f.hasURL = "COALESCE(json_typeof(CAST(e.client AS json) -> 'content' -> 'url') = 'string', false)"
		list = func(p string) string { return "SELECT json_array_elements_text(CAST(" + p + " AS json))" }
	} else {
		f.pos = "rowid"
		f.match = "event_search MATCH $1"
		// bm25() weighs words by how rare they are in the whole table,
		// so a row's rank would change as events arrive and next_batch
		// pages could repeat or skip rows. This rank depends on the row
		// alone: matched words (marked by highlight()) over 1 + ln(words).
		hl := "highlight(event_search, 0, char(1), '')"
		f.rank = "CAST((length(" + hl + ") - length(replace(" + hl + ", char(1), ''))) * 1000000.0 / " +
			"(1 + ln(1 + length(text) - length(replace(text, ' ', '')))) AS INTEGER)"
		f.hasURL = "COALESCE(json_type(e.client, '$.content.url') = 'text', 0)"
		list = func(p string) string { return "SELECT value FROM json_each(" + p + ")" }
	}
	// $1 query, $2 rooms, $3 fields, $4 upto, $5 senders or NULL,
	// $6 not_senders or NULL.
	where := f.match + ` AND room_id IN (` + list("$2") + `) AND field IN (` + list("$3") + `) AND ` + f.pos + ` <= $4
		AND (CAST($5 AS TEXT) IS NULL OR sender IN (` + list("$5") + `))
		AND (CAST($6 AS TEXT) IS NULL OR sender NOT IN (` + list("$6") + `))`
	// ranked returns the newest matches (and cond) up to limit with their
	// rank, computed for those rows only: FTS5 walks its index newest
	// first and stops at the limit; PostgreSQL sorts the matches and
	// ranks the rows kept.
	ranked := func(cond, limit string) string {
		if d == storage.Postgres {
			return `SELECT pos, room_id, sender, field, ` + f.rank + ` AS rk FROM (
				SELECT stream_pos AS pos, room_id, sender, field, vector FROM event_search WHERE ` + where + cond + `
				ORDER BY stream_pos DESC LIMIT ` + limit + `) AS w`
		}
		return `SELECT rowid AS pos, room_id, sender, field, ` + f.rank + ` AS rk FROM event_search WHERE ` + where + cond + `
			ORDER BY rowid DESC LIMIT ` + limit
	}
	return &dialectSQL{
		delete:    `DELETE FROM event_search WHERE ` + f.pos + ` = (SELECT stream_pos FROM events WHERE event_id = $1)`,
		countRows: `SELECT ` + f.pos + `, room_id, sender, field FROM event_search WHERE ` + where + ` LIMIT $7`,
		countAll:  `SELECT COUNT(*) FROM (SELECT 1 FROM event_search WHERE ` + where + ` LIMIT $7) AS c`,
		// Rank order ranks the newest $10 matches (rankWindow); $7, $8
		// are the cursor, $9 the page size. events is joined for the
		// page only.
		pageRank: `SELECT t.pos, t.room_id, t.sender, t.field, t.rk, ` + f.hasURL + ` FROM (
			SELECT * FROM (` + ranked("", "$10") + `) AS m
			WHERE m.rk < $7 OR (m.rk = $7 AND m.pos < $8)
			ORDER BY m.rk DESC, m.pos DESC LIMIT $9
		) AS t JOIN events e ON e.stream_pos = t.pos ORDER BY t.rk DESC, t.pos DESC`,
		// Recent order: $7 is the cursor, $8 the page size.
		pageRecent: `SELECT t.pos, t.room_id, t.sender, t.field, t.rk, ` + f.hasURL + ` FROM (` + ranked(` AND `+f.pos+` < $7`, "$8") + `) AS t
			JOIN events e ON e.stream_pos = t.pos ORDER BY t.pos DESC`,
	}
}

// PersistHook removes a redacted event from the index in the transaction
// that stores the redaction (register it with rooms.Service.AddPersistHook).
// It costs one DELETE for a redaction (on PostgreSQL after taking the
// indexer's lock shared, see indexer.go) and nothing for any other event:
// the background indexer adds events to the index, off the send path.
func (s *Service) PersistHook(ctx context.Context, tx *storage.Tx, ev *rooms.Event) error {
	p := ev.PDU
	if p.Type != "m.room.redaction" || p.Redacts == nil {
		return nil
	}
	if s.isql.redactionLock != "" {
		if _, err := tx.Exec(ctx, s.isql.redactionLock, indexLockKey); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, s.sql.delete, string(*p.Redacts))
	return err
}
