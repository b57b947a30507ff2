//! Reading a plugin's settings (`plugins.<id>.settings` in the operator's config, reached
//! through the `config` import). Each world module has getters on its own import
//! ([`crate::stt_batch::setting`] and the like); the parsers here take any getter, so a
//! plugin's options can be tested natively with a map. Every error names the key.

/// A `true`/`false` setting; `default` when unset.
pub fn flag(get: &impl Fn(&str) -> Option<String>, key: &str, default: bool) -> Result<bool, String> {
    match get(key).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("setting {key} must be true or false, not {other:?}")),
    }
}

/// A setting that must be present.
pub fn required(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<String, String> {
    get(key).ok_or_else(|| format!("setting {key} is not set"))
}

/// A whole-number setting; `default` when unset.
pub fn number<T: std::str::FromStr>(get: &impl Fn(&str) -> Option<String>, key: &str, default: T) -> Result<T, String> {
    match get(key) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| format!("setting {key} must be a number, not {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn parsers_name_the_key() {
        let get = map(&[("on", "true"), ("off", "false"), ("odd", "yes"), ("n", "42"), ("bad", "4x")]);
        assert_eq!(flag(&get, "on", false), Ok(true));
        assert_eq!(flag(&get, "off", true), Ok(false));
        assert_eq!(flag(&get, "unset", true), Ok(true));
        assert_eq!(flag(&get, "odd", true), Err("setting odd must be true or false, not \"yes\"".into()));
        assert_eq!(number(&get, "n", 1u32), Ok(42));
        assert_eq!(number(&get, "unset", 7u32), Ok(7));
        assert_eq!(number::<u32>(&get, "bad", 1), Err("setting bad must be a number, not \"4x\"".into()));
        assert_eq!(required(&get, "missing"), Err("setting missing is not set".into()));
    }
}
