-- Badge updates (core/pushers): when a read receipt changes a user's unread
-- count, each of their HTTP pushers owes the gateway a counts-only
-- notification, so a phone's badge clears after reading on the laptop, as
-- Synapse does. One pending row per pusher: only the newest count matters.
-- stream_pos is the receipt's position; delivery deletes the row only if it
-- is still the one it sent.
CREATE TABLE pusher_badges (
    pusher_id  BIGINT PRIMARY KEY,
    stream_pos BIGINT NOT NULL,
    queued_ts  BIGINT NOT NULL
) WITHOUT ROWID; -- only: sqlite
); -- only: postgres
