-- Rooms a server admin blocked (PUT /_synapse/admin/v1/rooms/{roomId}/block,
-- or DELETE /_synapse/admin/v1/rooms/{roomId} with "block": true): local
-- users may no longer join, be invited to or knock on them (core/rooms).
-- A room may be blocked before this server knows it, as in Synapse.
CREATE TABLE blocked_rooms (
    room_id    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    blocked_ts BIGINT NOT NULL
);
