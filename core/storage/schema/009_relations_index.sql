-- Thread summaries (core/relations/bundle, bundled into /sync, /messages,
-- /context, /event and /threads): a root's reply count, its latest reply
-- and whether the viewer replied are read from this index alone, so a
-- thread of thousands of replies costs one index range instead of a table
-- lookup per reply. Redaction clears rel_type, so redacted replies drop out.
CREATE INDEX events_thread_replies ON events (relates_to, room_id, sender, stream_pos) WHERE rel_type = 'm.thread';
