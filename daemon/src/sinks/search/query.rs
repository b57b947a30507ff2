//! What a person types, as a tantivy query: every word must occur (in the transcript, the
//! title or the summary, the title weighing most), `"quoted words"` must occur together, and
//! the last word matches as a prefix while it is being typed (no space after it yet), so
//! results follow each keystroke. Filters narrow by kind, status, creation time and speaker.

use std::collections::BTreeSet;
use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use super::fields::{Fields, pair, tokens};

/// How much a match in the title counts against one in the transcript: a title names what a
/// session is about.
const TITLE_BOOST: f32 = 3.0;
/// A summary is a condensed transcript: a match there says more than one in passing.
const SUMMARY_BOOST: f32 = 1.5;
/// Words a prefix may expand to; typing "a" should not OR together the whole vocabulary.
const MAX_PREFIX_EXPANSIONS: u32 = 50;

/// Filters, all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Inclusive.
    pub from_ms: Option<i64>,
    /// Exclusive.
    pub before_ms: Option<i64>,
    /// A speaker's display name, case-insensitive.
    pub speaker: Option<String>,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Single words that must occur.
    pub words: Vec<String>,
    /// Runs of words that must occur together.
    pub phrases: Vec<Vec<String>>,
    /// The word being typed, matched as a prefix.
    pub prefix: Option<String>,
}

impl Parsed {
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty() && self.prefix.is_none()
    }

    /// Every exact token of the query, for highlighting.
    pub fn highlight_terms(&self) -> BTreeSet<String> {
        self.words.iter().chain(self.phrases.iter().flatten()).cloned().collect()
    }
}

/// Parses `q`. A word that the analyzer splits (`e-mail`) counts as a phrase.
pub fn parse(q: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let typing = !q.ends_with(char::is_whitespace) && !q.ends_with('"');
    let pieces: Vec<&str> = q.split('"').collect();
    let last_piece = pieces.len() - 1;
    for (index, piece) in pieces.iter().enumerate() {
        let quoted = index % 2 == 1 && index != last_piece;
        if quoted {
            match tokens(piece).as_slice() {
                [] => {}
                [one] => parsed.words.push(one.clone()),
                many => parsed.phrases.push(many.to_vec()),
            }
            continue;
        }
        let words: Vec<&str> = piece.split_whitespace().collect();
        for (position, word) in words.iter().enumerate() {
            let mut word_tokens = tokens(word);
            let being_typed = typing && index == last_piece && position == words.len() - 1;
            if being_typed && let Some(last) = word_tokens.pop() {
                parsed.prefix = Some(last);
            }
            match word_tokens.as_slice() {
                [] => {}
                [one] => parsed.words.push(one.clone()),
                many => parsed.phrases.push(many.to_vec()),
            }
        }
    }
    parsed
}

fn searched(fields: &Fields) -> [(Field, f32); 3] {
    [(fields.text, 1.0), (fields.title, TITLE_BOOST), (fields.summary, SUMMARY_BOOST)]
}

/// One clause matching in any searched field.
fn any_field(fields: &Fields, make: impl Fn(Field) -> Box<dyn Query>) -> Box<dyn Query> {
    let clauses = searched(fields)
        .into_iter()
        .map(|(field, boost)| (Occur::Should, Box::new(BoostQuery::new(make(field), boost)) as Box<dyn Query>))
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

/// The tantivy query for `parsed` under `filters`.
pub fn build(fields: &Fields, parsed: &Parsed, filters: &Filters) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for word in &parsed.words {
        clauses.push((
            Occur::Must,
            any_field(fields, |field| Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs))),
        ));
    }
    for phrase in &parsed.phrases {
        clauses.push((
            Occur::Must,
            any_field(fields, |field| {
                let exact = Box::new(PhraseQuery::new(phrase.iter().map(|w| Term::from_field_text(field, w)).collect()));
                if field != fields.text {
                    return exact;
                }
                // In transcripts, each adjacent pair must be there (a cheap lookup), which
                // leaves few documents for the position check; two words are one pair.
                let pairs: Vec<(Occur, Box<dyn Query>)> = phrase
                    .windows(2)
                    .map(|w| {
                        let term = Term::from_field_text(fields.pairs, &pair(&w[0], &w[1]));
                        (Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as Box<dyn Query>)
                    })
                    .collect();
                match phrase.len() {
                    2 => pairs.into_iter().next().map_or(exact, |(_, query)| query),
                    _ => Box::new(BooleanQuery::new(pairs.into_iter().chain([(Occur::Must, exact as Box<dyn Query>)]).collect())),
                }
            }),
        ));
    }
    if let Some(prefix) = &parsed.prefix {
        clauses.push((
            Occur::Must,
            any_field(fields, |field| {
                let mut query = PhrasePrefixQuery::new(vec![Term::from_field_text(field, prefix)]);
                query.set_max_expansions(MAX_PREFIX_EXPANSIONS);
                Box::new(query)
            }),
        ));
    }
    let exact = |field: Field, value: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
    };
    if let Some(kind) = &filters.kind {
        clauses.push((Occur::Must, exact(fields.kind, kind)));
    }
    if let Some(status) = &filters.status {
        clauses.push((Occur::Must, exact(fields.status, status)));
    }
    if let Some(speaker) = &filters.speaker {
        clauses.push((Occur::Must, exact(fields.speaker, &speaker.to_lowercase())));
    }
    if filters.from_ms.is_some() || filters.before_ms.is_some() {
        let bound = |value: Option<i64>, inclusive: bool| match value {
            Some(v) if inclusive => Bound::Included(Term::from_field_i64(fields.created_ms, v)),
            Some(v) => Bound::Excluded(Term::from_field_i64(fields.created_ms, v)),
            None => Bound::Unbounded,
        };
        clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(filters.from_ms, true), bound(filters.before_ms, false)))));
    }
    Box::new(BooleanQuery::new(clauses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str], phrases: &[&[&str]], prefix: Option<&str>) -> Parsed {
        Parsed {
            words: words.iter().map(|w| w.to_string()).collect(),
            phrases: phrases.iter().map(|ph| ph.iter().map(|w| w.to_string()).collect()).collect(),
            prefix: prefix.map(String::from),
        }
    }

    #[test]
    fn parse_cases() {
        let cases = [
            ("budget", p(&[], &[], Some("budget"))),
            ("budget ", p(&["budget"], &[], None)),
            ("Budget revi", p(&["budget"], &[], Some("revi"))),
            ("\"freeze hiring\" june", p(&[], &[&["freeze", "hiring"]], Some("june"))),
            ("\"freeze hiring\"", p(&[], &[&["freeze", "hiring"]], None)),
            ("e-mail ", p(&[], &[&["e", "mail"]], None)),
            ("e-ma", p(&["e"], &[], Some("ma"))),
            ("\"unclosed quote", p(&["unclosed"], &[], Some("quote"))),
            ("Café", p(&[], &[], Some("cafe"))),
            ("  ", p(&[], &[], None)),
            ("<script>", p(&[], &[], Some("script"))),
        ];
        for (q, want) in cases {
            assert_eq!(parse(q), want, "{q:?}");
        }
        assert!(parse(" !? ").is_empty());
    }
}
