-- End-to-end encryption: device identity keys, one-time and fallback keys,
-- cross-signing keys and signatures (core/keys), device list changes that
-- /sync reports, the to-device queue (core/todevice), server-side key backup
-- (core/backup) and dehydrated devices (MSC3814). Key material is stored as
-- the JSON the client uploaded, so responses splice it without re-encoding.

-- A device's identity keys as uploaded (without "unsigned"); signatures by
-- the owner's self-signing key are merged in when uploaded. ed25519 is the
-- device's signing key, kept apart for signature checks.
CREATE TABLE e2e_device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    ed25519   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Unclaimed one-time keys; a claim deletes its row.
CREATE TABLE e2e_one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- At most one fallback key per device and algorithm, handed out when the
-- one-time keys run out and marked used until the device replaces it.
CREATE TABLE e2e_fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys: key_type is 'master', 'self_signing' or
-- 'user_signing'; public_key is the unpadded base64 ed25519 key.
CREATE TABLE e2e_cross_signing_keys (
    user_id    TEXT NOT NULL,
    key_type   TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures only their signer may see: a user's user-signing key over
-- another user's master key. target_key is the master public key.
CREATE TABLE e2e_signatures (
    target_user TEXT NOT NULL,
    target_key  TEXT NOT NULL,
    signer_user TEXT NOT NULL,
    signer_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (target_user, target_key, signer_user, signer_key)
);

-- One row per change to a user's devices or keys, at its stream position.
-- viewer is '' when every user sharing a room with user_id must hear of it,
-- or the only user who must (a signature only its signer sees).
CREATE TABLE device_list_changes (
    stream_pos BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    viewer     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (stream_pos, user_id, viewer)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_pos);

-- The to-device queue, per target device, in stream order (seq orders the
-- messages of one send). event is the ready /sync JSON. delivered_in is the
-- next_batch position of the first /sync that carried the message; a later
-- /sync whose since is at or past it acknowledges (deletes) the message.
CREATE TABLE to_device_messages (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    seq          INTEGER NOT NULL,
    event        TEXT NOT NULL,
    delivered_in BIGINT,
    PRIMARY KEY (user_id, device_id, stream_pos, seq)
);

-- Transaction IDs of PUT /sendToDevice, so a retried request is not queued
-- twice; rows older than a day are pruned.
CREATE TABLE to_device_txns (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side key backup versions. version counts up per user; a deleted
-- version keeps its row (deleting it again succeeds) but loses its keys.
-- etag counts the changes to the version's keys.
CREATE TABLE e2e_backup_versions (
    user_id   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag      BIGINT NOT NULL DEFAULT 0,
    deleted   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_backup_keys (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BOOLEAN NOT NULL,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

-- MSC3814: each user's one dehydrated device and its opaque device_data.
CREATE TABLE dehydrated_devices (
    user_id     TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    device_data TEXT NOT NULL
);
