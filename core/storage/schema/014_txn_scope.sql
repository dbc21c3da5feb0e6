-- Transaction IDs are scoped to one device AND one endpoint (spec
-- "Transaction identifiers"): the same txnId sent to PUT /send in another
-- room, or to PUT /redact, is a different request. scope is the endpoint and
-- the room, e.g. "send !room:server" or "redact !room:server". Existing rows
-- get theirs from the stored event, so a retry across the upgrade still
-- finds its event.
ALTER TABLE event_txns ADD COLUMN scope TEXT NOT NULL DEFAULT ''; -- only: postgres
UPDATE event_txns SET scope = COALESCE((SELECT CASE WHEN e.type = 'm.room.redaction' THEN 'redact ' ELSE 'send ' END || e.room_id FROM events e WHERE e.event_id = event_txns.event_id), ''); -- only: postgres
ALTER TABLE event_txns DROP CONSTRAINT event_txns_pkey; -- only: postgres
ALTER TABLE event_txns ADD PRIMARY KEY (user_id, device_id, scope, txn_id); -- only: postgres

CREATE TABLE event_txns_014 ( -- only: sqlite
    user_id   TEXT NOT NULL, -- only: sqlite
    device_id TEXT NOT NULL, -- only: sqlite
    scope     TEXT NOT NULL, -- only: sqlite
    txn_id    TEXT NOT NULL, -- only: sqlite
    event_id  TEXT NOT NULL, -- only: sqlite
    PRIMARY KEY (user_id, device_id, scope, txn_id) -- only: sqlite
) WITHOUT ROWID; -- only: sqlite
INSERT INTO event_txns_014 SELECT t.user_id, t.device_id, COALESCE((SELECT CASE WHEN e.type = 'm.room.redaction' THEN 'redact ' ELSE 'send ' END || e.room_id FROM events e WHERE e.event_id = t.event_id), ''), t.txn_id, t.event_id FROM event_txns t; -- only: sqlite
DROP TABLE event_txns; -- only: sqlite
ALTER TABLE event_txns_014 RENAME TO event_txns; -- only: sqlite
CREATE INDEX event_txns_event ON event_txns (event_id); -- only: sqlite
