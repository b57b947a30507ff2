//! Reading a JSON document that is still arriving (`input_json_delta` pieces), so the user
//! sees the summary being written: the prefix is closed (open string, arrays and objects)
//! and, when it ends mid-key or mid-literal, cut back to its last complete member.

use serde_json::Value;

/// What the scan knows at a cut point: where it is and which containers are open.
#[derive(Clone)]
struct Cut {
    at: usize,
    open: Vec<u8>,
}

/// The value of `prefix` as far as it goes, or none when nothing is readable yet.
pub fn parse_prefix(prefix: &str) -> Option<Value> {
    let bytes = prefix.as_bytes();
    let mut open: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    // Start of a `\uXXXX` escape still being read, and how many digits it has.
    let mut unicode: Option<(usize, usize)> = None;
    // Before each comma outside strings the prefix ends after a complete member.
    let mut last_comma: Option<Cut> = None;
    for (index, &byte) in bytes.iter().enumerate() {
        if in_string {
            if let Some((start, digits)) = unicode {
                unicode = (byte.is_ascii_hexdigit() && digits < 3).then_some((start, digits + 1));
                if byte.is_ascii_hexdigit() {
                    continue;
                }
            }
            match byte {
                b'u' if escaped => {
                    escaped = false;
                    unicode = Some((index - 1, 0));
                }
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => open.push(byte),
            b'}' | b']' => {
                open.pop();
            }
            b',' => last_comma = Some(Cut { at: index, open: open.clone() }),
            _ => {}
        }
    }
    let mut text = prefix.to_string();
    if in_string {
        // An escape cut short (`\` or `\u12`) is dropped before the string is closed.
        if escaped {
            text.pop();
        } else if let Some((start, _)) = unicode {
            text.truncate(start);
        }
        text.push('"');
    }
    if let Some(value) = close(&text, &open) {
        return Some(value);
    }
    let cut = last_comma?;
    close(&prefix[..cut.at], &cut.open)
}

fn close(text: &str, open: &[u8]) -> Option<Value> {
    let mut text = text.trim_end().trim_end_matches(',').to_string();
    for &container in open.iter().rev() {
        text.push(if container == b'{' { '}' } else { ']' });
    }
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes_read_as_far_as_they_go() {
        let cases = [
            ("", None),
            ("{", Some(json!({}))),
            ("{\"overview\": \"We agr", Some(json!({"overview": "We agr"}))),
            ("{\"overview\": \"done\", \"key_po", Some(json!({"overview": "done"}))),
            ("{\"overview\": \"done\", \"key_points\": [\"a\", \"b", Some(json!({"overview": "done", "key_points": ["a", "b"]}))),
            ("{\"a\": \"x\\", Some(json!({"a": "x"}))),
            ("{\"a\": \"x\\u00", Some(json!({"a": "x"}))),
            ("{\"a\": \"x\\\"y", Some(json!({"a": "x\"y"}))),
            ("{\"a\": \"x\", \"b\": nu", Some(json!({"a": "x"}))),
            ("{\"items\": [{\"text\": \"t\", \"time\": \"00:0", Some(json!({"items": [{"text": "t", "time": "00:0"}]}))),
        ];
        for (prefix, want) in cases {
            assert_eq!(parse_prefix(prefix), want, "{prefix}");
        }
    }

    #[test]
    fn every_prefix_of_a_document_reads_without_panicking() {
        let doc = r#"{"title":"T","overview":"Caf\u00e9 \"quoted\", more","key_points":["a","b"],"action_items":[{"text":"x","owner":null,"time":"00:00:01"}],"decisions":[]}"#;
        let mut last_overview_len = 0;
        for cut in 0..=doc.len() {
            if !doc.is_char_boundary(cut) {
                continue;
            }
            if let Some(value) = parse_prefix(&doc[..cut]) {
                let overview = value.get("overview").and_then(Value::as_str).unwrap_or("");
                assert!(overview.len() >= last_overview_len || overview.is_empty(), "text only grows: {cut}");
                last_overview_len = last_overview_len.max(overview.len());
            }
        }
        assert_eq!(parse_prefix(doc), serde_json::from_str(doc).ok());
    }
}
