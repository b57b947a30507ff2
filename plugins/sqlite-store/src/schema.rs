//! The library schema and its migrations.
//!
//! Migrations are append-only: a released step is never edited, a change is a new step. Each
//! step runs in one transaction together with the row that records it, so a crash leaves the
//! database either before or after the step.

/// Schema steps, in order; the schema version is the number of steps applied.
pub const MIGRATIONS: &[&str] = &[
    // 1: sessions, transcript versions and words, speakers, summaries, audio files.
    r#"
    CREATE TABLE sessions (
        id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
        kind        TEXT NOT NULL CHECK (kind IN ('live', 'file')),
        status      TEXT NOT NULL,
        source      TEXT NOT NULL,
        title       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        duration_ms INTEGER,
        provider    TEXT,
        error       TEXT
    );
    CREATE INDEX sessions_by_created ON sessions (created_ms DESC, id DESC);

    CREATE TABLE transcript_versions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        provider    TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        word_count  INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX versions_by_session ON transcript_versions (session_id, id);

    CREATE TABLE words (
        version_id  INTEGER NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        text        TEXT NOT NULL,
        punctuated  TEXT NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        confidence  REAL NOT NULL,
        speaker     INTEGER,
        PRIMARY KEY (version_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE speakers (
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        speaker     INTEGER NOT NULL,
        name        TEXT NOT NULL,
        PRIMARY KEY (session_id, speaker)
    );

    CREATE TABLE summaries (
        session_id    TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        title         TEXT,
        overview      TEXT NOT NULL,
        model         TEXT NOT NULL,
        template      TEXT,
        created_ms    INTEGER NOT NULL,
        input_tokens  INTEGER,
        output_tokens INTEGER
    );

    -- Key points, decisions and action items of a summary, in order.
    CREATE TABLE summary_items (
        session_id  TEXT NOT NULL REFERENCES summaries (session_id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN ('key-point', 'decision', 'action')),
        seq         INTEGER NOT NULL,
        text        TEXT NOT NULL,
        owner       TEXT,
        at_ms       INTEGER,
        PRIMARY KEY (session_id, kind, seq)
    );

    CREATE TABLE audio_files (
        session_id  TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        sha256      TEXT NOT NULL,
        mime        TEXT NOT NULL,
        size_bytes  INTEGER NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX audio_files_by_hash ON audio_files (sha256);
    "#,
    // 2: waveform peaks with the audio file; paragraphs, their sentences and utterances.
    r#"
    ALTER TABLE audio_files ADD COLUMN peaks BLOB NOT NULL DEFAULT x'';

    CREATE TABLE paragraphs (
        version_id  INTEGER NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        speaker     INTEGER,
        PRIMARY KEY (version_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE sentences (
        version_id  INTEGER NOT NULL,
        paragraph   INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        text        TEXT NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        PRIMARY KEY (version_id, paragraph, seq),
        FOREIGN KEY (version_id, paragraph) REFERENCES paragraphs (version_id, seq) ON DELETE CASCADE
    ) WITHOUT ROWID;

    CREATE TABLE utterances (
        version_id  INTEGER NOT NULL REFERENCES transcript_versions (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        text        TEXT NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL,
        confidence  REAL NOT NULL,
        speaker     INTEGER,
        PRIMARY KEY (version_id, seq)
    ) WITHOUT ROWID;
    "#,
    // 2: the change sequence that derived data (the search index) follows. Triggers record
    // every change of a session in the transaction that makes it (words count through their
    // version's word count), so an index that remembers the last sequence number it saw can
    // always catch up, even after a crash between the two. Existing sessions start in
    // creation order. (Update, else insert: an `OR REPLACE` inside a trigger gives way to the
    // conflict handling of the statement that fired it, an upsert's among them; and the new
    // number is taken before the row moves, so it always exceeds every earlier one.)
    r#"
    CREATE TABLE changes (
        session_id  TEXT PRIMARY KEY NOT NULL,
        seq         INTEGER NOT NULL
    );
    CREATE INDEX changes_by_seq ON changes (seq);
    INSERT INTO changes (session_id, seq)
        SELECT id, ROW_NUMBER() OVER (ORDER BY created_ms, id) FROM sessions;
    CREATE TRIGGER change_sessions_insert AFTER INSERT ON sessions BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.id;
        INSERT INTO changes (session_id, seq) SELECT NEW.id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.id);
    END;
    CREATE TRIGGER change_sessions_update AFTER UPDATE ON sessions BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.id;
        INSERT INTO changes (session_id, seq) SELECT NEW.id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.id);
    END;
    CREATE TRIGGER change_sessions_delete AFTER DELETE ON sessions BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = OLD.id;
        INSERT INTO changes (session_id, seq) SELECT OLD.id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = OLD.id);
    END;
    CREATE TRIGGER change_transcript_versions_insert AFTER INSERT ON transcript_versions BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_transcript_versions_update AFTER UPDATE ON transcript_versions BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_speakers_insert AFTER INSERT ON speakers BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_speakers_update AFTER UPDATE ON speakers BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_summaries_insert AFTER INSERT ON summaries BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_summaries_update AFTER UPDATE ON summaries BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = NEW.session_id;
        INSERT INTO changes (session_id, seq) SELECT NEW.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = NEW.session_id);
    END;
    CREATE TRIGGER change_summaries_delete AFTER DELETE ON summaries BEGIN
        UPDATE changes SET seq = (SELECT MAX(seq) + 1 FROM changes) WHERE session_id = OLD.session_id;
        INSERT INTO changes (session_id, seq) SELECT OLD.session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)
            WHERE NOT EXISTS (SELECT 1 FROM changes WHERE session_id = OLD.session_id);
    END;
    "#,
];

/// Bookkeeping table; created before any step runs.
pub const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL)";
