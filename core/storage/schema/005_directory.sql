-- Reports against a whole room (POST /rooms/{roomId}/report), kept apart
-- from event_reports as in Synapse; server admins read both.
CREATE TABLE room_reports (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_reports_room ON room_reports (room_id);
