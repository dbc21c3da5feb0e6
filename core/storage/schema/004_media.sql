-- The media repository (core/media). Content lives on disk under
-- media_store_path; these rows hold what the files do not: who uploaded
-- them, their declared type and name, and their hash.
--
-- origin is the server name in the mxc:// URI. Only local media exists
-- today; remote media cached later shares the table under its own origin.
CREATE TABLE media (
    origin       TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    -- The uploader; NULL for media cached from another server.
    user_id      TEXT,
    content_type TEXT NOT NULL DEFAULT 'application/octet-stream',
    upload_name  TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    -- Hex SHA-256 of the content; empty while an async upload is pending.
    sha256       TEXT NOT NULL DEFAULT '',
    created_ts   BIGINT NOT NULL,
    -- NULL while the ID was reserved by POST /_matrix/media/v1/create and
    -- no content has been PUT yet.
    uploaded_ts  BIGINT,
    -- When a reserved, never uploaded ID lapses; NULL once uploaded.
    expires_ts   BIGINT,
    quarantined  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_user ON media (user_id, created_ts);
CREATE INDEX media_pending ON media (user_id, expires_ts) WHERE uploaded_ts IS NULL;
CREATE INDEX media_sha256 ON media (sha256);

-- Generated thumbnails, keyed by what the client asked for; width and
-- height here are the requested box, the file's own size may be smaller.
CREATE TABLE media_thumbnails (
    origin       TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    method       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_ts   BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method)
);
