-- Local user accounts. A deactivated account keeps its row so its user ID is
-- never handed out again (rooms still reference it).
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    localpart     TEXT NOT NULL UNIQUE,
    -- bcrypt hash; NULL for accounts that cannot log in with a password
    -- (appservice users, deactivated accounts)
    password_hash TEXT,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    is_guest      BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated   BOOLEAN NOT NULL DEFAULT FALSE,
    -- the appservice that registered the user, if any
    appservice_id TEXT,
    displayname   TEXT,
    avatar_url    TEXT,
    created_ts    BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    device_id    TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    user_agent   TEXT,
    created_ts   BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Access tokens are stored only as the hex SHA-256 of the token, so a leaked
-- database does not leak sessions. Every token belongs to a device; deleting
-- the device deletes its tokens.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

-- Tokens that allow registration when registration_requires_token is set
-- (Synapse's registration_tokens; NULL uses_allowed means unlimited, NULL
-- expiry_time means never; expiry_time is in milliseconds).
CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    uses_allowed INTEGER,
    pending      INTEGER NOT NULL DEFAULT 0,
    completed    INTEGER NOT NULL DEFAULT 0,
    expiry_time  BIGINT
);
