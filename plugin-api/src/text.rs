//! Provider text quoted in errors.

/// `text` trimmed and cut to `max` characters (with `…` when cut): an error quotes a
/// provider's message, never a whole HTML error page.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_on_characters() {
        assert_eq!(super::truncate("  héllo  ", 10), "héllo");
        assert_eq!(super::truncate("héllo", 2), "hé…");
    }
}
