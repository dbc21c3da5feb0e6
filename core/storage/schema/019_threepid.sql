-- Email addresses (third-party identifiers, "3PIDs") and the sessions that
-- prove a user controls one (core/accounts/threepid.go).
--
-- A validation session is what requestToken creates: one per (client_secret,
-- medium, address), as in Synapse, so a client retrying with the same
-- client_secret keeps its session ID. The emailed token is stored only as its
-- hex SHA-256; a newer send_attempt replaces it. validated_ts is set once the
-- link in the email was opened; a session is deleted when it is used (a
-- password reset, or binding the address to an account).
CREATE TABLE threepid_validation_sessions (
    session_id        TEXT PRIMARY KEY,
    client_secret     TEXT NOT NULL,
    medium            TEXT NOT NULL,
    address           TEXT NOT NULL,
    last_send_attempt BIGINT NOT NULL,
    next_link         TEXT,
    token_hash        TEXT NOT NULL,
    -- milliseconds; the token is refused after token_expires_ts
    token_expires_ts  BIGINT NOT NULL,
    created_ts        BIGINT NOT NULL,
    validated_ts      BIGINT,
    UNIQUE (client_secret, medium, address)
);

-- Addresses bound to local accounts; an address belongs to one account at
-- most. Addresses are stored lower-cased.
CREATE TABLE user_threepids (
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    medium       TEXT NOT NULL,
    address      TEXT NOT NULL,
    validated_ts BIGINT NOT NULL,
    added_ts     BIGINT NOT NULL,
    PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);
