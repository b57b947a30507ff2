//! Hit snippets: the words around the first match, with the matched words marked, and the
//! time of that match so the UI can start playback there. Snippets are text pieces with a
//! flag, never markup: the UI renders them as text, so a transcript cannot inject HTML.

use std::collections::BTreeSet;

use serde::Serialize;

use super::fields::tokens;

/// Words shown before the first match...
const WORDS_BEFORE: usize = 8;
/// ...and from it on: about two lines of text.
const WORDS_AFTER: usize = 24;

/// A piece of a snippet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Piece {
    pub text: String,
    /// True for a matched word.
    pub hit: bool,
}

/// What the words matched against.
pub struct Matcher {
    pub terms: BTreeSet<String>,
    pub prefix: Option<String>,
}

impl Matcher {
    fn matches(&self, word: &str) -> bool {
        tokens(word)
            .iter()
            .any(|t| self.terms.contains(t) || self.prefix.as_ref().is_some_and(|p| t.starts_with(p.as_str())))
    }
}

/// A snippet of `text` (words separated by single spaces) around its first match, and the
/// index of the matched word; none when no word matches.
pub fn snippet(text: &str, matcher: &Matcher) -> Option<(Vec<Piece>, usize)> {
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let first = words.iter().position(|w| matcher.matches(w))?;
    let start = first.saturating_sub(WORDS_BEFORE);
    let end = (first + WORDS_AFTER).min(words.len());
    let mut pieces: Vec<Piece> = Vec::new();
    let mut push = |text: &str, hit: bool| {
        // The space before a word goes with the plain text around the hits.
        if !pieces.is_empty() {
            match pieces.last_mut() {
                Some(last) if !last.hit => last.text.push(' '),
                _ => pieces.push(Piece { text: " ".into(), hit: false }),
            }
        }
        match pieces.last_mut() {
            Some(last) if !last.hit && !hit => last.text.push_str(text),
            _ => pieces.push(Piece { text: text.to_string(), hit }),
        }
    };
    if start > 0 {
        push("…", false);
    }
    for word in &words[start..end] {
        push(word, matcher.matches(word));
    }
    if end < words.len() {
        push("…", false);
    }
    Some((pieces, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(terms: &[&str], prefix: Option<&str>) -> Matcher {
        Matcher { terms: terms.iter().map(|t| t.to_string()).collect(), prefix: prefix.map(String::from) }
    }

    fn render(pieces: &[Piece]) -> String {
        pieces.iter().map(|p| if p.hit { format!("[{}]", p.text) } else { p.text.clone() }).collect()
    }

    #[test]
    fn snippets_mark_matches_around_the_first() {
        let text = "We met. The Budget, as agreed, is frozen until June; budgets matter.";
        let (pieces, first) = snippet(text, &matcher(&["budget"], None)).expect("match");
        assert_eq!(first, 3);
        assert_eq!(render(&pieces), "We met. The [Budget,] as agreed, is frozen until June; budgets matter.");
        let (pieces, _) = snippet(text, &matcher(&[], Some("budg"))).expect("prefix");
        assert_eq!(render(&pieces), "We met. The [Budget,] as agreed, is frozen until June; [budgets] matter.");
        assert!(snippet(text, &matcher(&["nothing"], None)).is_none());

        let long: String = (0..100).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let (pieces, first) = snippet(&long, &matcher(&["w50"], None)).expect("match");
        assert_eq!(first, 50);
        let shown = render(&pieces);
        assert!(shown.starts_with("… w42 ") && shown.contains(" [w50] ") && shown.ends_with(" w73 …"), "{shown}");
    }
}
