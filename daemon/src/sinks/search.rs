//! Full-text search over the library (tantivy, in the daemon): titles, transcripts and
//! summaries, BM25-ranked, with phrase and prefix queries, filters, highlighted snippets and
//! the transcript time of each hit.
//!
//! The index is derived from the store and lives in `<data_dir>/index`. The [`indexer`]
//! follows the store's change sequence (`changes-since`): it rebuilds the documents of every
//! changed session, commits in batches, and records the last change it indexed in the commit
//! itself, so a crash between a store write and an index commit is repaired at the next start.
//! A deleted session's documents go with it. [`query`] turns what a person types into a query,
//! [`snippet`] marks the matches.

pub mod fields;
pub mod indexer;
pub mod query;
pub mod snippet;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::schema::{TantivyDocument, Value};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Term};

use fields::{Fields, META, SEGMENT, session_key};
use query::Filters;
use snippet::{Matcher, Piece, snippet};

/// Matching documents ranked before grouping by session: enough for many pages of
/// sessions, bounded so a query matching everything stays fast.
const MAX_CANDIDATES: usize = 1_000;
/// Hits shown per session.
const HITS_PER_SESSION: usize = 3;
/// Words of a summary shown when a session matched on its title alone.
const SUMMARY_PREVIEW_WORDS: usize = 30;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query has no words to search for")]
    EmptyQuery,
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// One session's text as indexed.
#[derive(Debug, Clone, Default)]
pub struct SessionDoc {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub created_ms: i64,
    pub title: String,
    /// The summary as one text (overview, key points, action items, decisions).
    pub summary: Option<String>,
    pub segments: Vec<SegmentDoc>,
}

/// A stretch of one speaker's words.
#[derive(Debug, Clone, Default)]
pub struct SegmentDoc {
    pub speaker: Option<String>,
    /// Each word as displayed, with its start time.
    pub words: Vec<(String, u64)>,
}

/// A page of results: sessions, best first.
#[derive(Debug, Serialize)]
pub struct SearchPage {
    pub sessions: Vec<SessionHit>,
    /// Sessions matched among the best [`MAX_CANDIDATES`] documents.
    pub total: usize,
    /// True when more documents matched than were ranked: refine the query to see them.
    pub truncated: bool,
}

/// A session and where it matched.
#[derive(Debug, Serialize)]
pub struct SessionHit {
    pub session_id: String,
    pub title: String,
    pub kind: String,
    pub status: String,
    pub created_ms: i64,
    pub score: Score,
    pub hits: Vec<Hit>,
}

/// One place a session matched.
#[derive(Debug, Serialize)]
pub struct Hit {
    /// `transcript`, `title` or `summary`.
    pub field: &'static str,
    /// Transcript time of the first matched word, ms.
    pub start_ms: Option<u64>,
    pub speaker: Option<String>,
    pub snippet: Vec<Piece>,
}

/// The index and its writer.
pub struct SearchIndex {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// The last store change searchers can see: set after the reader reloads, so whoever
    /// reads it finds those changes in results.
    watermark: AtomicU64,
}

fn text_of(doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<&str> {
    doc.get_first(field).and_then(|v| v.as_str())
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when missing. An index written with another
    /// schema is derived data: it is deleted and rebuilt from the store.
    pub fn open(dir: &Path, writer_memory_bytes: usize) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = Fields::schema();
        let directory = MmapDirectory::open(dir)?;
        let index = match Index::open_or_create(directory, schema.clone()) {
            Ok(index) => index,
            Err(tantivy::TantivyError::SchemaError(reason)) => {
                tracing::warn!(dir = %dir.display(), "rebuilding the search index: {reason}");
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
            Err(err) => return Err(err.into()),
        };
        fields::register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        // One indexing thread: the daemon indexes a session at a time and shares two cores.
        let writer = index.writer_with_num_threads(1, writer_memory_bytes)?;
        let watermark = index.load_metas()?.payload.and_then(|p| p.parse().ok()).unwrap_or(0);
        Ok(SearchIndex { fields, reader, writer: Mutex::new(writer), watermark: AtomicU64::new(watermark) })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last store change included in the index (0 for a new or cleared index).
    pub fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::Acquire)
    }

    /// Searchable documents (for status and tests).
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces the documents of these sessions (`None`: deleted) without committing.
    pub fn stage(&self, sessions: Vec<(String, Option<SessionDoc>)>) -> tantivy::Result<()> {
        let writer = self.writer();
        for (id, doc) in sessions {
            writer.delete_term(Term::from_field_text(self.fields.session_id, &id));
            if let Some(doc) = doc {
                for document in self.documents_of(&doc) {
                    writer.add_document(document)?;
                }
            }
        }
        Ok(())
    }

    /// Commits what was staged, recording `watermark`, and makes it searchable. Blocking.
    pub fn commit(&self, watermark: u64) -> tantivy::Result<()> {
        let mut writer = self.writer();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&watermark.to_string());
        prepared.commit()?;
        drop(writer);
        self.reader.reload()?;
        self.watermark.store(watermark, Ordering::Release);
        Ok(())
    }

    /// Removes every document and resets the watermark, so the indexer rebuilds from the
    /// store. Blocking.
    pub fn clear(&self) -> tantivy::Result<()> {
        self.writer().delete_all_documents()?;
        self.commit(0)
    }

    fn documents_of(&self, doc: &SessionDoc) -> Vec<TantivyDocument> {
        let f = &self.fields;
        let base = || {
            let mut d = TantivyDocument::new();
            d.add_text(f.session_id, &doc.id);
            d.add_u64(f.session_key, session_key(&doc.id));
            d.add_text(f.kind, &doc.kind);
            d.add_text(f.status, &doc.status);
            d.add_i64(f.created_ms, doc.created_ms);
            d.add_text(f.display_title, &doc.title);
            d
        };
        let mut meta = base();
        meta.add_text(f.doc_type, META);
        meta.add_text(f.title, &doc.title);
        if let Some(summary) = &doc.summary {
            meta.add_text(f.summary, summary);
        }
        let mut out = vec![meta];
        for segment in doc.segments.iter().filter(|s| !s.words.is_empty()) {
            let mut d = base();
            d.add_text(f.doc_type, SEGMENT);
            let text = segment.words.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join(" ");
            d.add_text(f.pairs, fields::pairs_of(&text));
            d.add_text(f.text, text);
            let times: Vec<u8> = segment.words.iter().flat_map(|(_, t)| u32::try_from(*t).unwrap_or(u32::MAX).to_le_bytes()).collect();
            d.add_bytes(f.times, &times);
            d.add_u64(f.start_ms, segment.words[0].1);
            if let Some(speaker) = &segment.speaker {
                d.add_text(f.speaker, speaker.to_lowercase());
                d.add_text(f.speaker_name, speaker);
            }
            out.push(d);
        }
        out
    }

    /// Runs a search: sessions ranked by their best matching document, `limit` of them from
    /// `offset`, each with up to [`HITS_PER_SESSION`] hits. Blocking.
    pub fn search(&self, q: &str, filters: &Filters, offset: usize, limit: usize) -> Result<SearchPage, SearchError> {
        let parsed = query::parse(q);
        if parsed.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let query = query::build(&self.fields, &parsed, filters);
        let searcher = self.reader.searcher();
        let top: Vec<(Score, DocAddress)> = searcher.search(&query, &TopDocs::with_limit(MAX_CANDIDATES).order_by_score())?;
        let truncated = top.len() == MAX_CANDIDATES;
        // Group by session, in order of each session's best document.
        let mut columns = HashMap::new();
        let mut order: Vec<Vec<(Score, DocAddress)>> = Vec::new();
        let mut slot: HashMap<u64, usize> = HashMap::new();
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(searcher.segment_reader(address.segment_ord).fast_fields().u64("session_key")?)
                }
            };
            let key = column.first(address.doc_id).unwrap_or(0);
            let index = *slot.entry(key).or_insert_with(|| {
                order.push(Vec::new());
                order.len() - 1
            });
            order[index].push((score, address));
        }
        let total = order.len();
        let matcher = Matcher { terms: parsed.highlight_terms(), prefix: parsed.prefix.clone() };
        let mut sessions = Vec::new();
        for group in order.into_iter().skip(offset).take(limit) {
            sessions.push(self.session_hit(&searcher, &group, &matcher)?);
        }
        Ok(SearchPage { sessions, total, truncated })
    }

    fn session_hit(
        &self,
        searcher: &tantivy::Searcher,
        group: &[(Score, DocAddress)],
        matcher: &Matcher,
    ) -> Result<SessionHit, SearchError> {
        let f = &self.fields;
        let mut hit = SessionHit {
            session_id: String::new(),
            title: String::new(),
            kind: String::new(),
            status: String::new(),
            created_ms: 0,
            score: group.first().map_or(0.0, |(s, _)| *s),
            hits: Vec::new(),
        };
        for (index, (_, address)) in group.iter().take(HITS_PER_SESSION).enumerate() {
            let doc: TantivyDocument = searcher.doc(*address)?;
            if index == 0 {
                hit.session_id = text_of(&doc, f.session_id).unwrap_or_default().to_string();
                hit.title = text_of(&doc, f.display_title).unwrap_or_default().to_string();
                hit.kind = text_of(&doc, f.kind).unwrap_or_default().to_string();
                hit.status = text_of(&doc, f.status).unwrap_or_default().to_string();
                hit.created_ms = doc.get_first(f.created_ms).and_then(|v| v.as_i64()).unwrap_or(0);
            }
            if text_of(&doc, f.doc_type) == Some(SEGMENT) {
                let text = text_of(&doc, f.text).unwrap_or_default();
                let times = doc.get_first(f.times).and_then(|v| v.as_bytes()).unwrap_or_default();
                if let Some((pieces, word)) = snippet(text, matcher) {
                    let start_ms = times.chunks_exact(4).nth(word).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                    let speaker = text_of(&doc, f.speaker_name).map(String::from);
                    hit.hits.push(Hit { field: "transcript", start_ms, speaker, snippet: pieces });
                }
                continue;
            }
            let title = text_of(&doc, f.title).unwrap_or_default();
            if let Some((pieces, _)) = snippet(title, matcher) {
                hit.hits.push(Hit { field: "title", start_ms: None, speaker: None, snippet: pieces });
            }
            let summary = text_of(&doc, f.summary).unwrap_or_default();
            let summary_hit = snippet(summary, matcher).map(|(pieces, _)| pieces).or_else(|| {
                // Matched only through the title: show how the summary begins.
                (!summary.is_empty()).then(|| {
                    let preview: Vec<&str> = summary.split(' ').take(SUMMARY_PREVIEW_WORDS).collect();
                    vec![Piece { text: preview.join(" "), hit: false }]
                })
            });
            if let Some(pieces) = summary_hit {
                hit.hits.push(Hit { field: "summary", start_ms: None, speaker: None, snippet: pieces });
            }
        }
        Ok(hit)
    }
}
