-- Server-side search (POST /search, see core/search): one row per event
-- with searchable text, keyed by the event's stream position. field is the
-- key searched ('content.body' of m.room.message, 'content.name' of
-- m.room.name, 'content.topic' of m.room.topic); room_id and sender let a
-- search filter rows without reading events. core/search's background
-- indexer inserts rows after events are stored, off the send path, and a
-- redaction deletes its target's row in its own transaction.
--
-- SQLite: an FTS5 table whose rowid is the stream position. unicode61 folds
-- case and diacritics. columnsize=0 skips the per-row size table (one
-- b-tree write less per event); only bm25() would need it, and core/search
-- ranks without it.
-- PostgreSQL: a tsvector of the 'simple' configuration (lower-cased words,
-- no stemming, no stop words: nothing assumes a language) with a GIN index.
-- Punctuation becomes spaces first, so "example.com" and "foo-bar" are two
-- words each, as FTS5 and core/search's query parser split them.
CREATE VIRTUAL TABLE event_search USING fts5( -- only: sqlite
    text, room_id UNINDEXED, sender UNINDEXED, field UNINDEXED, -- only: sqlite
    columnsize = 0, tokenize = 'unicode61 remove_diacritics 2' -- only: sqlite
); -- only: sqlite
CREATE TABLE event_search ( -- only: postgres
    stream_pos BIGINT PRIMARY KEY, -- only: postgres
    room_id    TEXT NOT NULL, -- only: postgres
    sender     TEXT NOT NULL, -- only: postgres
    field      TEXT NOT NULL, -- only: postgres
    text       TEXT NOT NULL, -- only: postgres
    vector     tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(text, '[[:punct:]]+', ' ', 'g'))) STORED -- only: postgres
); -- only: postgres
CREATE INDEX event_search_vector ON event_search USING GIN (vector); -- only: postgres

-- search_index_state holds the indexer's durable cursor (one row): every
-- event at or below indexed_upto is indexed. It only moves forward, in the
-- transaction that indexes the events it passes.
CREATE TABLE search_index_state (indexed_upto BIGINT NOT NULL);
INSERT INTO search_index_state (indexed_upto) SELECT COALESCE(MAX(stream_pos), 0) FROM events;

-- Backfill the events stored before this migration, up to the cursor, as
-- core/search's indexer would have indexed them: non-empty strings only,
-- nothing redacted. PostgreSQL reads client as json (not jsonb, which rejects
-- \u0000) and skips the rare event whose JSON holds \u0000, which text
-- columns cannot store.
INSERT INTO event_search (rowid, room_id, sender, field, text) -- only: sqlite
SELECT stream_pos, room_id, sender, 'content.body', json_extract(client, '$.content.body') FROM events -- only: sqlite
WHERE type = 'm.room.message' AND redacted_by IS NULL AND json_valid(client) -- only: sqlite
    AND json_type(client, '$.content.body') = 'text' AND json_extract(client, '$.content.body') <> ''; -- only: sqlite
INSERT INTO event_search (rowid, room_id, sender, field, text) -- only: sqlite
SELECT stream_pos, room_id, sender, 'content.name', json_extract(client, '$.content.name') FROM events -- only: sqlite
WHERE type = 'm.room.name' AND state_key = '' AND redacted_by IS NULL AND json_valid(client) -- only: sqlite
    AND json_type(client, '$.content.name') = 'text' AND json_extract(client, '$.content.name') <> ''; -- only: sqlite
INSERT INTO event_search (rowid, room_id, sender, field, text) -- only: sqlite
SELECT stream_pos, room_id, sender, 'content.topic', json_extract(client, '$.content.topic') FROM events -- only: sqlite
WHERE type = 'm.room.topic' AND state_key = '' AND redacted_by IS NULL AND json_valid(client) -- only: sqlite
    AND json_type(client, '$.content.topic') = 'text' AND json_extract(client, '$.content.topic') <> ''; -- only: sqlite

INSERT INTO event_search (stream_pos, room_id, sender, field, text) -- only: postgres
SELECT stream_pos, room_id, sender, field, c ->> key FROM ( -- only: postgres
    SELECT stream_pos, room_id, sender, -- only: postgres
        CASE type WHEN 'm.room.message' THEN 'content.body' WHEN 'm.room.name' THEN 'content.name' ELSE 'content.topic' END AS field, -- only: postgres
        CASE type WHEN 'm.room.message' THEN 'body' WHEN 'm.room.name' THEN 'name' ELSE 'topic' END AS key, -- only: postgres
        client::json -> 'content' AS c -- only: postgres
    FROM events -- only: postgres
    WHERE redacted_by IS NULL AND strpos(client, '\u0000') = 0 -- only: postgres
        AND (type = 'm.room.message' OR (type IN ('m.room.name', 'm.room.topic') AND state_key = '')) -- only: postgres
) e -- only: postgres
WHERE json_typeof(c -> key) = 'string' AND (c -> key)::text <> '""'; -- only: postgres
