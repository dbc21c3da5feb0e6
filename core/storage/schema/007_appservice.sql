-- Appservice delivery state (see appservice/). One row per registered
-- appservice: the last transaction ID handed out (so a restart never reuses
-- one), and a fingerprint of its user namespaces (so a changed regex
-- rebuilds appservice_room_members).
CREATE TABLE appservice_state (
    as_id     TEXT PRIMARY KEY,
    last_txn  BIGINT NOT NULL DEFAULT 0,
    ns_hash   TEXT NOT NULL DEFAULT ''
);

-- The durable, ordered outbox of each appservice. Rows are written in the
-- same transaction as what they announce (an event, a to-device message), so
-- nothing is lost between commit and enqueue. pos is the stream position and
-- seq orders rows that share one (several to-device messages of one send).
-- kind: 1 room event (data NULL: the event is read from events at send time),
-- 2 ephemeral event, 3 to-device message, 4 device list changed, 5 device list
-- left, 6 one-time key count changed. txn_id is set when the row is assigned
-- to a transaction; that transaction is resent with exactly these rows until
-- the appservice accepts it, then they are deleted.
CREATE TABLE appservice_queue (
    as_id  TEXT NOT NULL,
    pos    BIGINT NOT NULL,
    seq    BIGINT NOT NULL,
    kind   SMALLINT NOT NULL,
    data   TEXT,
    txn_id BIGINT,
    PRIMARY KEY (as_id, pos, seq)
);
CREATE INDEX appservice_queue_txn ON appservice_queue (as_id, txn_id) WHERE txn_id IS NOT NULL;

-- Which of an appservice's users are joined to which rooms, maintained in the
-- commit transaction of every membership event, so "a room where one of its
-- users is joined" is one indexed lookup on the commit path.
CREATE TABLE appservice_room_members (
    room_id TEXT NOT NULL,
    as_id   TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (room_id, as_id, user_id)
);
CREATE INDEX appservice_room_members_as ON appservice_room_members (as_id);
