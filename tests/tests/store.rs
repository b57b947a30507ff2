//! The library stores through their real components, one suite for both: sessions, words,
//! speakers, summaries, audio files, pagination, cascade delete, the change sequence, and
//! survival across a restart. Each test runs on sqlite-store (its own data dir) and on
//! postgres-store (a database of its own on the throwaway cluster).

use scribe_tests::Setup;
use scribe_tests::postgres::TestDatabase;
use scribed::clients::library::{
    ActionItem, AudioFile, Library, NewSession, SessionFilter, SessionKind, SessionPatch, SessionStatus,
    Paragraph, Sentence, StoredSummary, Summary, TranscriptStructure, Utterance, Word,
};

fn new_session(id: &str, kind: SessionKind, created_ms: i64) -> NewSession {
    NewSession {
        id: id.into(),
        kind,
        status: SessionStatus::Queued,
        source: format!("{id}.wav"),
        title: format!("Session {id}"),
        created_ms,
        provider: None,
    }
}

fn word(i: u64) -> Word {
    Word {
        text: format!("w{i}"),
        punctuated: format!("W{i}."),
        start_ms: i * 300,
        end_ms: i * 300 + 250,
        confidence: 0.5 + (i % 50) as f32 / 100.0,
        speaker: if i.is_multiple_of(3) { None } else { Some((i % 2) as u32) },
    }
}

fn no_filter() -> SessionFilter {
    SessionFilter { kind: None, status: None, created_from_ms: None, created_before_ms: None }
}

async fn all_ids(library: &Library, filter: SessionFilter, page: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let result = library.list_sessions(filter, cursor.clone(), page).await.expect("list");
        ids.extend(result.sessions.into_iter().map(|s| s.id));
        match result.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    /// A setup for this store, with a fresh database for PostgreSQL (kept by the caller, so a
    /// restart finds it again).
    async fn database(self) -> Option<TestDatabase> {
        match self {
            Store::Sqlite => None,
            Store::Postgres => Some(TestDatabase::create().await.expect("a test database")),
        }
    }
}

fn setup(db: &Option<TestDatabase>) -> Setup {
    match db {
        None => Setup::new(),
        Some(db) => Setup::new().with_postgres_store(db),
    }
}

/// Runs each named suite function once per store, as its own test.
macro_rules! on_both_stores {
    ($($suite:ident),* $(,)?) => {
        mod sqlite_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $suite() { super::$suite(super::Store::Sqlite).await })*
        }
        mod postgres_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $suite() { super::$suite(super::Store::Postgres).await })*
        }
    };
}

on_both_stores!(
    sessions_round_trip_paginate_and_cascade,
    library_survives_a_restart,
    every_change_of_a_session_moves_it_to_the_end_of_the_change_sequence,
);

async fn sessions_round_trip_paginate_and_cascade(store: Store) {
    let db = store.database().await;
    let daemon = setup(&db).start().await.expect("daemon starts");
    let library = daemon.daemon.library().expect("library").clone();

    // 25 sessions, some sharing a timestamp to exercise the cursor's tie-break.
    for i in 0..25i64 {
        let kind = if i % 2 == 0 { SessionKind::File } else { SessionKind::Live };
        library.create_session(new_session(&format!("s{i:02}"), kind, 1_000 + i / 2)).await.expect("create");
    }
    let duplicate = library.create_session(new_session("s00", SessionKind::File, 1)).await;
    assert!(matches!(duplicate, Err(scribed::clients::library::LibraryError::Conflict(_))), "{duplicate:?}");

    let ids = all_ids(&library, no_filter(), 7).await;
    assert_eq!(ids.len(), 25, "every session exactly once across pages: {ids:?}");
    let mut expected: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
    expected.reverse();
    assert_eq!(ids, expected, "newest first, ties by id");
    let first = library.list_sessions(no_filter(), None, 7).await.expect("list");
    assert_eq!(first.total, 25);

    let live = SessionFilter { kind: Some(SessionKind::Live), ..no_filter() };
    assert_eq!(all_ids(&library, live, 5).await.len(), 12);
    let window = SessionFilter { created_from_ms: Some(1_002), created_before_ms: Some(1_004), ..no_filter() };
    assert_eq!(all_ids(&library, window, 100).await, vec!["s07", "s06", "s05", "s04"]);
    assert!(matches!(library.list_sessions(no_filter(), Some("garbage".into()), 5).await, Err(scribed::clients::library::LibraryError::Invalid(_))));

    let updated = library
        .update_session(
            "s03".into(),
            SessionPatch { status: Some(SessionStatus::Error), title: Some("Renamed".into()), duration_ms: Some(61_000), provider: Some("deepgram-batch".into()), error: Some("provider said no".into()) },
        )
        .await
        .expect("update");
    assert_eq!(updated.title, "Renamed");
    assert_eq!(updated.status, SessionStatus::Error);
    assert_eq!(updated.error.as_deref(), Some("provider said no"));
    let cleared = library
        .update_session("s03".into(), SessionPatch { status: Some(SessionStatus::Complete), title: None, duration_ms: None, provider: None, error: None })
        .await
        .expect("update");
    assert_eq!(cleared.error, None, "a non-error status clears the error");
    assert_eq!(cleared.duration_ms, Some(61_000));

    // 10,000 words in batches of 1,000, read back in pages.
    let version = library.create_version("s03".into(), "deepgram-batch".into(), 5).await.expect("version");
    for batch in 0..10u64 {
        let words: Vec<Word> = (batch * 1000..(batch + 1) * 1000).map(word).collect();
        let total = library.append_words(version.id, words).await.expect("append");
        assert_eq!(total, (batch + 1) * 1000);
    }
    let mut read = Vec::new();
    while read.len() < 10_000 {
        let page = library.get_words(version.id, read.len() as u64, 3_000).await.expect("words");
        assert!(!page.is_empty());
        read.extend(page);
    }
    assert_eq!(read.len(), 10_000);
    for (i, w) in read.iter().enumerate() {
        let want = word(i as u64);
        assert_eq!((&w.text, &w.punctuated, w.start_ms, w.end_ms, w.speaker), (&want.text, &want.punctuated, want.start_ms, want.end_ms, want.speaker));
        assert!((w.confidence - want.confidence).abs() < 1e-6);
    }
    let second = library.create_version("s03".into(), "whisper-local".into(), 6).await.expect("version");
    let versions = library.list_versions("s03".into()).await.expect("versions");
    assert_eq!(versions.iter().map(|v| (v.id, v.word_count)).collect::<Vec<_>>(), vec![(version.id, 10_000), (second.id, 0)]);

    library.set_speaker_name("s03".into(), 1, "Ada".into()).await.expect("speaker");
    library.set_speaker_name("s03".into(), 1, "Ada L.".into()).await.expect("rename");
    let speakers = library.list_speakers("s03".into()).await.expect("speakers");
    assert_eq!(speakers.len(), 1);
    assert_eq!(speakers[0].name, "Ada L.");

    let summary = StoredSummary {
        summary: Summary {
            title: Some("Weekly sync".into()),
            overview: "We met.".into(),
            key_points: vec!["one".into(), "two".into()],
            action_items: vec![ActionItem { text: "Ship it".into(), owner: Some("Ada".into()), at_ms: Some(900) }],
            decisions: vec!["Go".into()],
        },
        model: "claude-test".into(),
        template: None,
        created_ms: 7,
        input_tokens: Some(1200),
        output_tokens: Some(80),
    };
    library.put_summary("s03".into(), summary).await.expect("summary");
    let stored = library.get_summary("s03".into()).await.expect("get").expect("present");
    assert_eq!(stored.summary.key_points, vec!["one", "two"]);
    assert_eq!(stored.summary.action_items[0].owner.as_deref(), Some("Ada"));
    assert_eq!(stored.summary.action_items[0].at_ms, Some(900));
    assert_eq!(stored.input_tokens, Some(1200));

    let audio = AudioFile { sha256: "ab".repeat(32), mime: "audio/wav".into(), size_bytes: 44_100, created_ms: 8, peaks: vec![0, 7, 255] };
    library.put_audio_file("s03".into(), audio).await.expect("audio");
    let stored = library.get_audio_file("s03".into()).await.expect("get").expect("present");
    assert_eq!((stored.size_bytes, stored.peaks), (44_100, vec![0, 7, 255]));

    let structure = TranscriptStructure {
        paragraphs: vec![
            Paragraph {
                sentences: vec![
                    Sentence { text: "Hello.".into(), start_ms: 0, end_ms: 400 },
                    Sentence { text: "Again.".into(), start_ms: 500, end_ms: 900 },
                ],
                start_ms: 0,
                end_ms: 900,
                speaker: Some(0),
            },
            Paragraph { sentences: vec![Sentence { text: "Bye.".into(), start_ms: 1_000, end_ms: 1_200 }], start_ms: 1_000, end_ms: 1_200, speaker: None },
        ],
        utterances: vec![Utterance { text: "Hello. Again.".into(), start_ms: 0, end_ms: 900, confidence: 0.5, speaker: Some(0) }],
    };
    library.put_structure(version.id, structure.clone()).await.expect("structure");
    // The generated records have no PartialEq; their Debug output covers every field.
    assert_eq!(format!("{:?}", library.get_structure(version.id).await.expect("get")), format!("{structure:?}"));
    // Putting again replaces rather than appends.
    library.put_structure(version.id, structure.clone()).await.expect("structure again");
    assert_eq!(library.get_structure(version.id).await.expect("get").paragraphs.len(), 2);
    let missing = library.put_structure(999_999, structure).await;
    assert!(matches!(missing, Err(scribed::clients::library::LibraryError::NotFound(_))), "{missing:?}");

    // Deleting the session removes everything that belongs to it.
    assert!(library.delete_session("s03".into()).await.expect("delete"));
    assert!(!library.delete_session("s03".into()).await.expect("delete again"));
    assert!(library.get_session("s03".into()).await.expect("get").is_none());
    assert!(library.list_versions("s03".into()).await.expect("versions").is_empty());
    assert!(library.get_words(version.id, 0, 10).await.expect("words").is_empty());
    assert!(library.get_summary("s03".into()).await.expect("summary").is_none());
    assert!(library.list_speakers("s03".into()).await.expect("speakers").is_empty());
    assert!(library.get_audio_file("s03".into()).await.expect("audio").is_none());
    let gone = library.get_structure(version.id).await.expect("structure");
    assert!(gone.paragraphs.is_empty() && gone.utterances.is_empty());
    let missing = library.append_words(version.id, vec![word(0)]).await;
    assert!(matches!(missing, Err(scribed::clients::library::LibraryError::NotFound(_))), "{missing:?}");
}

async fn library_survives_a_restart(store: Store) {
    let data = tempfile::tempdir().expect("tempdir");
    let db = store.database().await;
    let setup = || Setup { data_dir: Some(data.path().to_path_buf()), ..setup(&db) };
    let first = setup().start().await.expect("first start");
    let library = first.daemon.library().expect("library").clone();
    library.create_session(new_session("kept", SessionKind::Live, 42)).await.expect("create");
    let version = library.create_version("kept".into(), "deepgram-live".into(), 43).await.expect("version");
    library.append_words(version.id, (0..100).map(word).collect()).await.expect("words");
    drop(library);
    first.daemon.shutdown().await.expect("shutdown");

    let second = setup().start().await.expect("second start");
    let library = second.daemon.library().expect("library");
    let session = library.get_session("kept".into()).await.expect("get").expect("still there");
    assert_eq!(session.created_ms, 42);
    let words = library.get_words(version.id, 0, 1000).await.expect("words");
    assert_eq!(words.len(), 100);
    assert_eq!(words[99].text, "w99");
}

async fn every_change_of_a_session_moves_it_to_the_end_of_the_change_sequence(store: Store) {
    let db = store.database().await;
    let daemon = setup(&db).start().await.expect("daemon starts");
    let library = daemon.daemon.library().expect("library").clone();
    let order = |changes: Vec<scribed::clients::library::Change>| changes.into_iter().map(|c| c.session_id).collect::<Vec<_>>();
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        library.create_session(new_session(id, SessionKind::File, i as i64)).await.expect("create");
    }
    assert_eq!(order(library.changes_since(0, 100).await.expect("changes")), ["a", "b", "c"]);
    let last = library.changes_since(0, 100).await.expect("changes").last().map(|c| c.seq).expect("seq");

    // Words (through the version's count), speaker names (insert and update), summaries,
    // renames and deletion each count; each session appears once, at its latest change.
    let version = library.create_version("a".into(), "p".into(), 1).await.expect("version");
    library.set_speaker_name("c".into(), 0, "Ada".into()).await.expect("speaker");
    library.set_speaker_name("c".into(), 0, "Ada L.".into()).await.expect("speaker again");
    library.append_words(version.id, vec![word(0)]).await.expect("words");
    let patch = SessionPatch { status: None, title: Some("B".into()), duration_ms: None, provider: None, error: None };
    library.update_session("b".into(), patch).await.expect("rename");
    assert_eq!(order(library.changes_since(last, 100).await.expect("changes")), ["c", "a", "b"]);
    assert!(library.delete_session("c".into()).await.expect("delete"));
    let after_delete = library.changes_since(last, 100).await.expect("changes");
    assert_eq!(order(after_delete.clone()), ["a", "b", "c"], "a deletion is a change too");
    assert_eq!(order(library.changes_since(after_delete[1].seq, 1).await.expect("changes")), ["c"]);
    // The newest session changing again still gets a new, higher number.
    let newest = after_delete[2].seq;
    library.set_speaker_name("b".into(), 1, "Bo".into()).await.expect("speaker");
    library.set_speaker_name("b".into(), 1, "Bob".into()).await.expect("speaker");
    let again = library.changes_since(newest, 100).await.expect("changes");
    assert_eq!(order(again.clone()), ["b"]);
    library.set_speaker_name("b".into(), 1, "Bobby".into()).await.expect("speaker");
    assert_eq!(order(library.changes_since(again[0].seq, 100).await.expect("changes")), ["b"], "the latest session changing again");
}
