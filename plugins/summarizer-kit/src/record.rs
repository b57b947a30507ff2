//! The model's answer (a tool call's input or a JSON reply, as [`crate::prompt::schema`]
//! describes it) as our summary record, read leniently: a missing list is empty and a
//! malformed action item time is dropped, since the rest of a summary is still worth keeping.
//! Also reads an unfinished answer, for progress.

use serde_json::Value;

use scribe_plugin_api::summarizer::types::{ActionItem, Summary};

/// The summary in a complete answer. Fails when there is no overview: then the model did not
/// do what it was asked.
pub fn from_input(input: &Value) -> Result<Summary, String> {
    let summary = lenient(input);
    if summary.overview.trim().is_empty() {
        return Err("the summary has no overview".into());
    }
    Ok(summary)
}

/// Checks a complete answer against [`crate::prompt::schema`], naming the first thing wrong
/// the way a model can act on (`action_items[1].time is missing`). Servers that cannot
/// enforce the schema themselves leave this to the plugin.
pub fn validate(answer: &Value) -> Result<(), String> {
    let Some(object) = answer.as_object() else { return Err("the answer is not a JSON object".into()) };
    let string = |value: Option<&Value>, name: &str| match value {
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(format!("{name} must be a string")),
        None => Err(format!("{name} is missing")),
    };
    let strings = |name: &str| match object.get(name) {
        Some(Value::Array(items)) => match items.iter().position(|i| !i.is_string()) {
            Some(at) => Err(format!("{name}[{at}] must be a string")),
            None => Ok(()),
        },
        Some(_) => Err(format!("{name} must be an array of strings")),
        None => Err(format!("{name} is missing")),
    };
    string(object.get("title"), "title")?;
    string(object.get("overview"), "overview")?;
    if object.get("overview").and_then(Value::as_str).is_some_and(|o| o.trim().is_empty()) {
        return Err("overview is empty".into());
    }
    strings("key_points")?;
    strings("decisions")?;
    let Some(items) = object.get("action_items") else { return Err("action_items is missing".into()) };
    let Some(items) = items.as_array() else { return Err("action_items must be an array of objects".into()) };
    for (at, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(format!("action_items[{at}] must be an object"));
        }
        string(item.get("text"), &format!("action_items[{at}].text"))?;
        string(item.get("time"), &format!("action_items[{at}].time"))?;
        if !matches!(item.get("owner"), None | Some(Value::Null | Value::String(_))) {
            return Err(format!("action_items[{at}].owner must be a string or null"));
        }
    }
    Ok(())
}

/// Whatever the (possibly partial) input holds.
pub fn lenient(input: &Value) -> Summary {
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let list = |key: &str| -> Vec<String> {
        input
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    };
    let action_items = input
        .get("action_items")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(action_item).collect())
        .unwrap_or_default();
    Summary {
        title: text("title"),
        overview: text("overview").unwrap_or_default(),
        key_points: list("key_points"),
        action_items,
        decisions: list("decisions"),
    }
}

fn action_item(item: &Value) -> Option<ActionItem> {
    let text = item.get("text")?.as_str()?.trim();
    if text.is_empty() {
        return None;
    }
    let owner = item.get("owner").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let at_ms = item.get("time").and_then(Value::as_str).and_then(parse_clock);
    Some(ActionItem { text: text.to_string(), owner, at_ms })
}

/// `hh:mm:ss`, `mm:ss` or `ss`, optionally bracketed and with a fraction, as ms.
pub fn parse_clock(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let (seconds, larger) = parts.split_last()?;
    let seconds: f64 = seconds.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 || (!larger.is_empty() && seconds >= 60.0) {
        return None;
    }
    let mut minutes: u64 = 0;
    for (index, part) in larger.iter().enumerate() {
        let value: u64 = part.parse().ok()?;
        // Minutes after hours stay below 60; a leading field may be any size.
        if index > 0 && value >= 60 {
            return None;
        }
        minutes = minutes.checked_mul(60)?.checked_add(value)?;
    }
    minutes.checked_mul(60_000)?.checked_add((seconds * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clock_cases() {
        let cases = [
            ("00:00:05", Some(5_000)),
            ("[01:02:03]", Some(3_723_000)),
            ("12:30", Some(750_000)),
            ("7", Some(7_000)),
            ("00:01:02.5", Some(62_500)),
            ("00:61:00", None),
            ("aa:00", None),
            ("1:2:3:4", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_clock(text), want, "{text}");
        }
    }

    #[test]
    fn tool_input_to_summary() {
        let input = json!({
            "title": " Budget ", "overview": "We met.", "key_points": ["A", "", 3],
            "action_items": [{"text": "Send it", "owner": "Bob", "time": "00:00:42"}, {"text": "Call", "time": "soon"}, {"owner": "x"}],
            "decisions": ["Go"]
        });
        let summary = from_input(&input).expect("summary");
        assert_eq!(summary.title.as_deref(), Some("Budget"));
        assert_eq!(summary.key_points, ["A"]);
        assert_eq!(summary.action_items.len(), 2);
        assert_eq!((summary.action_items[0].owner.as_deref(), summary.action_items[0].at_ms), (Some("Bob"), Some(42_000)));
        assert_eq!(summary.action_items[1].at_ms, None, "an unreadable time is dropped, the item kept");
        assert!(from_input(&json!({"title": "x"})).is_err());
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let good = json!({"title": "T", "overview": "O", "key_points": [], "action_items": [{"text": "t", "owner": null, "time": "00:00:01"}], "decisions": ["d"]});
        assert_eq!(validate(&good), Ok(()));
        let cases = [
            (json!([]), "not a JSON object"),
            (json!({"overview": "O", "key_points": [], "action_items": [], "decisions": []}), "title is missing"),
            (json!({"title": "T", "overview": " ", "key_points": [], "action_items": [], "decisions": []}), "overview is empty"),
            (json!({"title": "T", "overview": "O", "key_points": ["a", 2], "action_items": [], "decisions": []}), "key_points[1] must be a string"),
            (json!({"title": "T", "overview": "O", "key_points": [], "action_items": [{"text": "t"}], "decisions": []}), "action_items[0].time is missing"),
            (json!({"title": "T", "overview": "O", "key_points": [], "action_items": [{"text": "t", "time": "1", "owner": 3}], "decisions": []}), "action_items[0].owner"),
            (json!({"title": "T", "overview": "O", "key_points": [], "action_items": []}), "decisions is missing"),
        ];
        for (answer, want) in cases {
            let err = validate(&answer).expect_err(want);
            assert!(err.contains(want), "{err}");
        }
    }
}
