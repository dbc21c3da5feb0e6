-- The stream head: the last committed stream position (see core/stream).
CREATE TABLE stream_head (
    id  INTEGER PRIMARY KEY,
    pos BIGINT NOT NULL
);
INSERT INTO stream_head (id, pos) VALUES (1, 0);

CREATE TABLE rooms (
    room_id      TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator      TEXT NOT NULL,
    -- visibility in the public room directory: 'public' or 'private'
    visibility   TEXT NOT NULL DEFAULT 'private',
    created_ts   BIGINT NOT NULL
);

-- Every event, local or remote, in stream order. pdu is the signed federation
-- form; client is the client-server form without "unsigned" (replaced by the
-- redacted form once redacted), so /sync serves it without re-encoding.
CREATE TABLE events (
    stream_pos  BIGINT PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    room_id     TEXT NOT NULL,
    type        TEXT NOT NULL,
    state_key   TEXT,
    sender      TEXT NOT NULL,
    depth       BIGINT NOT NULL,
    origin_ts   BIGINT NOT NULL,
    membership  TEXT,
    relates_to  TEXT,
    rel_type    TEXT,
    pdu         TEXT NOT NULL,
    client      TEXT NOT NULL,
    redacted_by TEXT
);
CREATE INDEX events_room_pos ON events (room_id, stream_pos);
CREATE INDEX events_room_state ON events (room_id, type, state_key, stream_pos) WHERE state_key IS NOT NULL;
CREATE INDEX events_relates ON events (relates_to, rel_type) WHERE relates_to IS NOT NULL;

-- The current state of each room, one row per (type, state_key).
CREATE TABLE current_state (
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_user ON current_state (state_key, membership) WHERE type = 'm.room.member';

CREATE TABLE forward_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- Client transaction IDs, so a retried PUT /send returns the same event.
CREATE TABLE event_txns (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE room_aliases (
    alias   TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms a user forgot: hidden from /sync leave sections.
CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

CREATE TABLE event_reports (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    reason     TEXT,
    score      BIGINT,
    created_ts BIGINT NOT NULL
);
