//! The library schema in PostgreSQL's dialect, and its migrations.
//!
//! The tables are sqlite-store's, so the kit's queries run unchanged on both. Migrations are
//! append-only, as sqlite-store's are. Several daemons may start at once against one
//! database, so all steps run in one transaction that first takes an advisory lock: the
//! second daemon waits for the first to finish, then finds every step recorded and skips it.

/// The advisory lock key that migrations hold ("scribeMG" as a big-endian integer), so no
/// other application's lock on the same database collides with it by accident.
pub const MIGRATION_LOCK: i64 = 0x7363_7269_6265_4d47;
/// The lock every write that records a change holds until it commits ("scribeCH"): change
/// numbers are then given in commit order, so a reader that has seen number N never later
/// finds a smaller number committed (the search index follows them on every node).
pub const CHANGE_LOCK: i64 = 0x7363_7269_6265_4348;

/// Schema steps, in order; the schema version is the number of steps applied.
pub fn migrations() -> [String; 1] {
    [format!(
        r#"
    CREATE TABLE sessions (
        id          TEXT COLLATE "C" PRIMARY KEY CHECK (length(id) > 0),
        kind        TEXT NOT NULL CHECK (kind IN ('live', 'file')),
        status      TEXT NOT NULL,
        source      TEXT NOT NULL,
        title       TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        duration_ms BIGINT,
        provider    TEXT,
        error       TEXT
    );
    CREATE INDEX sessions_by_created ON sessions (created_ms DESC, id DESC);

    CREATE TABLE transcript_versions (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id  TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        provider    TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        word_count  BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX versions_by_session ON transcript_versions (session_id, id);

    CREATE TABLE words (
        version_id  BIGINT NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        text        TEXT NOT NULL,
        punctuated  TEXT NOT NULL,
        start_ms    BIGINT NOT NULL,
        end_ms      BIGINT NOT NULL,
        confidence  DOUBLE PRECISION NOT NULL,
        speaker     BIGINT,
        PRIMARY KEY (version_id, seq)
    );

    CREATE TABLE speakers (
        session_id  TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        speaker     BIGINT NOT NULL,
        name        TEXT NOT NULL,
        PRIMARY KEY (session_id, speaker)
    );

    CREATE TABLE summaries (
        session_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        title         TEXT,
        overview      TEXT NOT NULL,
        model         TEXT NOT NULL,
        template      TEXT,
        created_ms    BIGINT NOT NULL,
        input_tokens  BIGINT,
        output_tokens BIGINT
    );

    CREATE TABLE summary_items (
        session_id  TEXT COLLATE "C" NOT NULL REFERENCES summaries (session_id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN ('key-point', 'decision', 'action')),
        seq         BIGINT NOT NULL,
        text        TEXT NOT NULL,
        owner       TEXT,
        at_ms       BIGINT,
        PRIMARY KEY (session_id, kind, seq)
    );

    CREATE TABLE audio_files (
        session_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        sha256      TEXT NOT NULL,
        mime        TEXT NOT NULL,
        size_bytes  BIGINT NOT NULL,
        created_ms  BIGINT NOT NULL,
        peaks       BYTEA NOT NULL DEFAULT '\x'::bytea
    );
    CREATE INDEX audio_files_by_hash ON audio_files (sha256);

    CREATE TABLE paragraphs (
        version_id  BIGINT NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        start_ms    BIGINT NOT NULL,
        end_ms      BIGINT NOT NULL,
        speaker     BIGINT,
        PRIMARY KEY (version_id, seq)
    );

    CREATE TABLE sentences (
        version_id  BIGINT NOT NULL,
        paragraph   BIGINT NOT NULL,
        seq         BIGINT NOT NULL,
        text        TEXT NOT NULL,
        start_ms    BIGINT NOT NULL,
        end_ms      BIGINT NOT NULL,
        PRIMARY KEY (version_id, paragraph, seq),
        FOREIGN KEY (version_id, paragraph) REFERENCES paragraphs (version_id, seq) ON DELETE CASCADE
    );

    CREATE TABLE utterances (
        version_id  BIGINT NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        text        TEXT NOT NULL,
        start_ms    BIGINT NOT NULL,
        end_ms      BIGINT NOT NULL,
        confidence  DOUBLE PRECISION NOT NULL,
        speaker     BIGINT,
        PRIMARY KEY (version_id, seq)
    );

    -- The change sequence that derived data (each node's search index) follows: a trigger
    -- gives a session a new number in the transaction that changes it.
    CREATE SEQUENCE change_numbers;
    CREATE TABLE changes (
        session_id  TEXT COLLATE "C" PRIMARY KEY,
        seq         BIGINT NOT NULL
    );
    CREATE INDEX changes_by_seq ON changes (seq);
    CREATE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        changed JSONB := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    BEGIN
        PERFORM pg_advisory_xact_lock({CHANGE_LOCK});
        INSERT INTO changes (session_id, seq)
            VALUES (changed ->> TG_ARGV[0], nextval('change_numbers'))
            ON CONFLICT (session_id) DO UPDATE SET seq = EXCLUDED.seq;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
        FOR EACH ROW EXECUTE FUNCTION record_change('id');
    CREATE TRIGGER transcript_versions_changed AFTER INSERT OR UPDATE ON transcript_versions
        FOR EACH ROW EXECUTE FUNCTION record_change('session_id');
    CREATE TRIGGER speakers_changed AFTER INSERT OR UPDATE ON speakers
        FOR EACH ROW EXECUTE FUNCTION record_change('session_id');
    CREATE TRIGGER summaries_changed AFTER INSERT OR UPDATE OR DELETE ON summaries
        FOR EACH ROW EXECUTE FUNCTION record_change('session_id');
    "#
    )]
}

/// Bookkeeping table; created (under the lock) before any step runs.
pub const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)";

/// The one script that brings a database of any earlier version up to date: the lock, then
/// each step that is not yet recorded, with the row that records it.
pub fn script() -> String {
    let mut script = format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK});\n{MIGRATIONS_TABLE};\n");
    for (index, step) in migrations().iter().enumerate() {
        let version = index + 1;
        script.push_str(&format!(
            "DO $migration$ BEGIN\n\
             IF NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = {version}) THEN\n\
             {step}\n\
             INSERT INTO schema_migrations (version) VALUES ({version});\n\
             END IF;\n\
             END $migration$;\n"
        ));
    }
    script
}
