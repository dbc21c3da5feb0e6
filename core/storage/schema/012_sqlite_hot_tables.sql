-- SQLite only: fewer b-trees on the tables every message send writes, so each
-- commit appends fewer pages to the WAL (a message into a room of eight local
-- members went from 12 to 9.6 pages). PostgreSQL keeps its layout.
--
-- events: "BIGINT PRIMARY KEY" is not a rowid alias in SQLite, so the table
-- kept a hidden rowid plus a separate index on stream_pos. "INTEGER PRIMARY
-- KEY" makes stream_pos the rowid itself.
--
-- event_txns, forward_extremities, notification_counts, current_state:
-- small rows keyed by a composite primary key are WITHOUT ROWID, so a row
-- lives in its key's b-tree instead of in a rowid table plus an index.
--
-- Each table is rebuilt (SQLite cannot change a primary key in place) and
-- its indexes are recreated as the earlier migrations made them: an index
-- that a lower-numbered migration adds to one of these tables must be
-- recreated here too (storage's TestMigrationsKeepIndexes fails otherwise).
SELECT 1; -- only: postgres
CREATE TABLE events_012 ( -- only: sqlite
    stream_pos  INTEGER PRIMARY KEY, -- only: sqlite
    event_id    TEXT NOT NULL UNIQUE, -- only: sqlite
    room_id     TEXT NOT NULL, -- only: sqlite
    type        TEXT NOT NULL, -- only: sqlite
    state_key   TEXT, -- only: sqlite
    sender      TEXT NOT NULL, -- only: sqlite
    depth       BIGINT NOT NULL, -- only: sqlite
    origin_ts   BIGINT NOT NULL, -- only: sqlite
    membership  TEXT, -- only: sqlite
    relates_to  TEXT, -- only: sqlite
    rel_type    TEXT, -- only: sqlite
    pdu         TEXT NOT NULL, -- only: sqlite
    client      TEXT NOT NULL, -- only: sqlite
    redacted_by TEXT -- only: sqlite
); -- only: sqlite
INSERT INTO events_012 SELECT stream_pos, event_id, room_id, type, state_key, sender, depth, origin_ts, -- only: sqlite
    membership, relates_to, rel_type, pdu, client, redacted_by FROM events ORDER BY stream_pos; -- only: sqlite
DROP TABLE events; -- only: sqlite
ALTER TABLE events_012 RENAME TO events; -- only: sqlite
CREATE INDEX events_room_pos ON events (room_id, stream_pos); -- only: sqlite
CREATE INDEX events_room_state ON events (room_id, type, state_key, stream_pos) WHERE state_key IS NOT NULL; -- only: sqlite
CREATE INDEX events_relates ON events (relates_to, rel_type) WHERE relates_to IS NOT NULL; -- only: sqlite
CREATE INDEX events_thread_replies ON events (relates_to, room_id, sender, stream_pos) WHERE rel_type = 'm.thread'; -- only: sqlite

CREATE TABLE event_txns_012 ( -- only: sqlite
    user_id   TEXT NOT NULL, -- only: sqlite
    device_id TEXT NOT NULL, -- only: sqlite
    txn_id    TEXT NOT NULL, -- only: sqlite
    event_id  TEXT NOT NULL, -- only: sqlite
    PRIMARY KEY (user_id, device_id, txn_id) -- only: sqlite
) WITHOUT ROWID; -- only: sqlite
INSERT INTO event_txns_012 SELECT user_id, device_id, txn_id, event_id FROM event_txns; -- only: sqlite
DROP TABLE event_txns; -- only: sqlite
ALTER TABLE event_txns_012 RENAME TO event_txns; -- only: sqlite
CREATE INDEX event_txns_event ON event_txns (event_id); -- only: sqlite

CREATE TABLE forward_extremities_012 ( -- only: sqlite
    room_id  TEXT NOT NULL, -- only: sqlite
    event_id TEXT NOT NULL, -- only: sqlite
    PRIMARY KEY (room_id, event_id) -- only: sqlite
) WITHOUT ROWID; -- only: sqlite
INSERT INTO forward_extremities_012 SELECT room_id, event_id FROM forward_extremities; -- only: sqlite
DROP TABLE forward_extremities; -- only: sqlite
ALTER TABLE forward_extremities_012 RENAME TO forward_extremities; -- only: sqlite

CREATE TABLE notification_counts_012 ( -- only: sqlite
    room_id    TEXT NOT NULL, -- only: sqlite
    user_id    TEXT NOT NULL, -- only: sqlite
    notifs     BIGINT NOT NULL, -- only: sqlite
    highlights BIGINT NOT NULL, -- only: sqlite
    last_pos   BIGINT NOT NULL, -- only: sqlite
    PRIMARY KEY (room_id, user_id) -- only: sqlite
) WITHOUT ROWID; -- only: sqlite
INSERT INTO notification_counts_012 SELECT room_id, user_id, notifs, highlights, last_pos FROM notification_counts; -- only: sqlite
DROP TABLE notification_counts; -- only: sqlite
ALTER TABLE notification_counts_012 RENAME TO notification_counts; -- only: sqlite

CREATE TABLE current_state_012 ( -- only: sqlite
    room_id    TEXT NOT NULL, -- only: sqlite
    type       TEXT NOT NULL, -- only: sqlite
    state_key  TEXT NOT NULL, -- only: sqlite
    event_id   TEXT NOT NULL, -- only: sqlite
    stream_pos BIGINT NOT NULL, -- only: sqlite
    membership TEXT, -- only: sqlite
    PRIMARY KEY (room_id, type, state_key) -- only: sqlite
) WITHOUT ROWID; -- only: sqlite
INSERT INTO current_state_012 SELECT room_id, type, state_key, event_id, stream_pos, membership FROM current_state; -- only: sqlite
DROP TABLE current_state; -- only: sqlite
ALTER TABLE current_state_012 RENAME TO current_state; -- only: sqlite
CREATE INDEX current_state_user ON current_state (state_key, membership) WHERE type = 'm.room.member'; -- only: sqlite
