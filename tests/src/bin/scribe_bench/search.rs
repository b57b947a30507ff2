//! `--search`: search latency over a generated library of 10,000 sessions of about 3,000
//! words each, through the daemon's tantivy index (`SearchIndex::search`: query, ranking,
//! grouping by session, snippets and times for a page of 20) and, side by side, SQLite FTS5
//! holding the same documents and answering the same queries (BM25 rank, `snippet()`, the same
//! grouping). Also the time to build each, and their size on disk.
//!
//! Words follow a Zipf distribution over a generated vocabulary, so queries meet the mix of
//! very common and rare words of real speech.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use scribed::sinks::search::query::Filters;
use scribed::sinks::search::{SearchIndex, SegmentDoc, SessionDoc};

const SESSIONS: usize = 10_000;
const WORDS_PER_SESSION: usize = 3_000;
/// Words per segment: about half a minute of speech.
const WORDS_PER_SEGMENT: usize = 60;
const VOCABULARY: usize = 20_000;
/// Sessions indexed between commits while building.
const SESSIONS_PER_COMMIT: usize = 1_000;
/// Each query is run this many times, after one warm-up pass.
const ROUNDS: usize = 5;
/// The page the UI asks for.
const PAGE: usize = 20;
/// Documents ranked before grouping, as the daemon does.
const CANDIDATES: usize = 1_000;
/// Writer memory of the build, as the daemon's default.
const WRITER_MEMORY: usize = 64 << 20;

/// A small deterministic generator (xorshift64*), so both engines get the same library.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYLLABLES: &[&str] = &["ka", "to", "mi", "ren", "sa", "lo", "ve", "dan", "pri", "su", "mo", "ta", "ler", "ni", "go", "bas", "fi", "el", "ru", "wen"];

fn vocabulary() -> Vec<String> {
    (0..VOCABULARY)
        .map(|i| {
            let mut n = i;
            let mut word = String::new();
            loop {
                word.push_str(SYLLABLES[n % SYLLABLES.len()]);
                n /= SYLLABLES.len();
                if n == 0 {
                    break;
                }
            }
            word
        })
        .collect()
}

/// Zipf(1) sampling by inverting the cumulative weights.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect::<Vec<_>>();
        let cumulative = cumulative.iter().map(|c| c / total).collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cumulative.partition_point(|c| *c < u).min(self.cumulative.len() - 1)
    }
}

fn library(words: &[String]) -> Vec<SessionDoc> {
    let zipf = Zipf::new(words.len());
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    (0..SESSIONS)
        .map(|s| {
            let mut pick = || words[zipf.sample(&mut rng)].clone();
            let title = format!("{} {} {}", pick(), pick(), pick());
            let summary = (0..40).map(|_| pick()).collect::<Vec<_>>().join(" ");
            let segments = (0..WORDS_PER_SESSION / WORDS_PER_SEGMENT)
                .map(|g| SegmentDoc {
                    speaker: Some(format!("Speaker {}", g % 2 + 1)),
                    words: (0..WORDS_PER_SEGMENT).map(|i| (pick(), ((g * WORDS_PER_SEGMENT + i) * 400) as u64)).collect(),
                })
                .collect();
            SessionDoc {
                id: format!("s{s:05}"),
                kind: if s % 3 == 0 { "live".into() } else { "file".into() },
                status: "complete".into(),
                created_ms: s as i64 * 60_000,
                title,
                summary: Some(summary),
                segments,
            }
        })
        .collect()
}

/// The queries, by kind, in the daemon's syntax and FTS5's.
fn queries(words: &[String]) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for i in 0..10 {
        let common = &words[i * 3];
        let middle = &words[200 + i * 37];
        let rare = &words[5_000 + i * 997];
        out.push(("common word", format!("{common} "), common.clone()));
        out.push(("mid word", format!("{middle} "), middle.clone()));
        out.push(("rare word", format!("{rare} "), rare.clone()));
        out.push(("two words", format!("{common} {middle} "), format!("{common} {middle}")));
        out.push(("phrase", format!("\"{} {}\"", words[i], words[i + 1]), format!("\"{} {}\"", words[i], words[i + 1])));
        let prefix: String = middle.chars().take(4).collect();
        out.push(("prefix (typing)", prefix.clone(), format!("{prefix}*")));
    }
    out
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.metadata().map(|m| if m.is_dir() { dir_size(&e.path()) } else { m.len() }).unwrap_or(0)).sum())
        .unwrap_or(0)
}

fn build_fts(path: &Path, docs: &[SessionDoc]) -> Result<rusqlite::Connection> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE VIRTUAL TABLE docs USING fts5(session_id UNINDEXED, title, summary, text, times UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO docs (session_id, title, summary, text, times) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for doc in docs {
            insert.execute(rusqlite::params![doc.id, doc.title, doc.summary, Option::<String>::None, Option::<Vec<u8>>::None])?;
            for segment in &doc.segments {
                let text: Vec<&str> = segment.words.iter().map(|(w, _)| w.as_str()).collect();
                let times: Vec<u8> = segment.words.iter().flat_map(|(_, t)| (*t as u32).to_le_bytes()).collect();
                insert.execute(rusqlite::params![doc.id, Option::<String>::None, Option::<String>::None, text.join(" "), times])?;
            }
        }
    }
    tx.commit()?;
    Ok(conn)
}

/// The FTS5 side of a search: the same candidates, grouping, page and snippets.
fn fts_search(conn: &rusqlite::Connection, query: &str) -> Result<usize> {
    let mut statement = conn.prepare_cached(
        "SELECT session_id, snippet(docs, 3, '[', ']', '…', 32), bm25(docs, 0.0, 3.0, 1.5, 1.0, 0.0) AS score \
         FROM docs WHERE docs MATCH ?1 ORDER BY score LIMIT ?2",
    )?;
    let mut groups: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let rows = statement.query_map(rusqlite::params![query, CANDIDATES as i64], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)))?;
    for row in rows {
        let (session, snippet) = row?;
        let index = *slot.entry(session.clone()).or_insert_with(|| {
            groups.push((session, Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(snippet);
    }
    Ok(groups.len().min(PAGE))
}

pub fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let words = vocabulary();
    let started = Instant::now();
    let docs = library(&words);
    let segments: usize = docs.iter().map(|d| d.segments.len()).sum();
    println!("generated {SESSIONS} sessions × {WORDS_PER_SESSION} words ({segments} segments) in {:.1?}", started.elapsed());

    let index_dir = dir.path().join("tantivy");
    let index = SearchIndex::open(&index_dir, WRITER_MEMORY)?;
    let started = Instant::now();
    for (batch, chunk) in docs.chunks(SESSIONS_PER_COMMIT).enumerate() {
        index.stage(chunk.iter().map(|d| (d.id.clone(), Some(d.clone()))).collect())?;
        index.commit(((batch + 1) * SESSIONS_PER_COMMIT) as u64)?;
    }
    let tantivy_build = started.elapsed();
    println!("tantivy: built in {tantivy_build:.1?}, {} documents, {} MiB on disk", index.documents(), dir_size(&index_dir) >> 20);

    let fts_path = dir.path().join("fts.sqlite3");
    let started = Instant::now();
    let conn = build_fts(&fts_path, &docs)?;
    let fts_build = started.elapsed();
    drop(docs);
    let fts_size = std::fs::metadata(&fts_path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(fts_path.with_extension("sqlite3-wal")).map(|m| m.len()).unwrap_or(0);
    println!("FTS5:    built in {fts_build:.1?}, {} MiB on disk", fts_size >> 20);

    let queries = queries(&words);
    let filters = Filters::default();
    // Warm-up: both engines' files in the page cache, as on a daemon that has been running.
    for (_, ours, fts) in &queries {
        index.search(ours, &filters, 0, PAGE)?;
        fts_search(&conn, fts)?;
    }
    let mut by_kind: Vec<(&str, Vec<Duration>, Vec<Duration>)> = Vec::new();
    let mut all_ours = Vec::new();
    let mut all_fts = Vec::new();
    for _ in 0..ROUNDS {
        for (kind, ours, fts) in &queries {
            let t = Instant::now();
            let page = index.search(ours, &filters, 0, PAGE)?;
            let ours_time = t.elapsed();
            let t = Instant::now();
            let fts_sessions = fts_search(&conn, fts)?;
            let fts_time = t.elapsed();
            if page.sessions.is_empty() != (fts_sessions == 0) {
                println!("  note: {kind} {ours:?}: tantivy {} sessions, FTS5 {fts_sessions}", page.sessions.len());
            }
            match by_kind.iter_mut().find(|(k, _, _)| k == kind) {
                Some((_, a, b)) => {
                    a.push(ours_time);
                    b.push(fts_time);
                }
                None => by_kind.push((kind, vec![ours_time], vec![fts_time])),
            }
            all_ours.push(ours_time);
            all_fts.push(fts_time);
        }
    }
    println!("latency per query (page of {PAGE} sessions with snippets), tantivy vs FTS5:");
    for (kind, mut ours, mut fts) in by_kind {
        println!(
            "  {kind:<16} p50 {:>9.2?} / {:>9.2?}   p99 {:>9.2?} / {:>9.2?}",
            percentile(&mut ours, 0.5),
            percentile(&mut fts, 0.5),
            percentile(&mut ours, 0.99),
            percentile(&mut fts, 0.99)
        );
    }
    println!(
        "  {:<16} p50 {:>9.2?} / {:>9.2?}   p99 {:>9.2?} / {:>9.2?}   ({} queries each)",
        "all",
        percentile(&mut all_ours, 0.5),
        percentile(&mut all_fts, 0.5),
        percentile(&mut all_ours, 0.99),
        percentile(&mut all_fts, 0.99),
        all_ours.len()
    );
    Ok(())
}
