//! Response headers as the host hands them over (`list<tuple<string, string>>`).

/// The first value of header `name`, compared without case as HTTP names are.
pub fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// How long the server asked the client to wait, ms: `retry-after-ms` (the form some providers
/// add for sub-second waits), else `retry-after` in seconds. Only a wait of more than zero and
/// at most `max_ms` counts, as the official SDKs do: a zero says nothing, and an hour is a
/// reason to fail now rather than a wait. The HTTP-date form is not used by any provider we
/// speak to and is ignored.
pub fn retry_after_ms(headers: &[(String, String)], max_ms: u64) -> Option<u64> {
    let number = |name: &str| find(headers, name).and_then(|v| v.trim().parse::<f64>().ok());
    let ms = number("retry-after-ms").or_else(|| number("retry-after").map(|s| s * 1000.0))?;
    (ms.is_finite() && ms > 0.0 && ms <= max_ms as f64).then(|| ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn lookup_ignores_case() {
        let headers = h(&[("Content-Type", "a"), ("content-type", "b")]);
        assert_eq!(find(&headers, "CONTENT-TYPE"), Some("a"));
        assert_eq!(find(&headers, "x-missing"), None);
    }

    #[test]
    fn retry_after_forms() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<u64>);
        let cases: [Case; 7] = [
            (&[("Retry-After", "7")], Some(7_000)),
            (&[("retry-after-ms", "1500"), ("retry-after", "7")], Some(1_500)),
            (&[("retry-after", "0.25")], Some(250)),
            (&[("retry-after", "0")], None),
            (&[("retry-after", "3600")], None),
            (&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None),
            (&[], None),
        ];
        for (headers, want) in cases {
            assert_eq!(retry_after_ms(&h(headers), 60_000), want, "{headers:?}");
        }
    }
}
