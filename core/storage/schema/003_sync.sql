-- Tables behind /sync and what it serves: filters, account data, receipts,
-- presence, push rules and per-user notification rows. Typing lives only in
-- memory. Every row /sync reads incrementally carries the stream position
-- of its last change.

-- Filters uploaded with POST /user/{userId}/filter; filter_id counts up per user.
CREATE TABLE sync_filters (
    user_id   TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter    TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- Account data: room_id is '' for global account data.
CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    content    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_pos ON account_data (user_id, stream_pos);

-- The newest receipt of each type per user, room and thread (thread_id is
-- '' for unthreaded receipts). event_pos is the receipted event's position,
-- so notification counts compare positions, not IDs.
CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_pos    BIGINT NOT NULL,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_pos ON receipts (room_id, stream_pos);

CREATE TABLE presence (
    user_id        TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    status_msg     TEXT,
    last_active_ts BIGINT NOT NULL,
    stream_pos     BIGINT NOT NULL
);
CREATE INDEX presence_pos ON presence (stream_pos);

-- A user's changes to the default push rules (JSON, see core/push); users
-- without a row have the defaults.
CREATE TABLE push_rules (
    user_id    TEXT PRIMARY KEY,
    rules      TEXT NOT NULL,
    stream_pos BIGINT NOT NULL
);

-- Unread notification counts per room and user, kept as running totals:
-- each event that notifies a user adds to theirs (one multi-row upsert per
-- event; a room's rows are adjacent), so neither the send path nor /sync
-- counts rows. last_pos is the newest notifying event: a read receipt at or
-- past it zeroes the counts, an earlier one recounts by evaluating the few
-- events after it (see core/push).
CREATE TABLE notification_counts (
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    notifs     BIGINT NOT NULL,
    highlights BIGINT NOT NULL,
    last_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- /sync echoes transaction_id on the sender's own events, looked up by event.
CREATE INDEX event_txns_event ON event_txns (event_id);
