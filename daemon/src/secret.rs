//! Secrets from the operator's config: `${VAR}` references resolved from the environment,
//! held in a wrapper that never prints its value.

use std::fmt;

/// Name of the API token's file in the data dir (mode 0600).
pub const TOKEN_FILE: &str = "api-token";

/// A resolved secret. `Debug` and `Display` print `[REDACTED]`; the value is read only where
/// it is put on the wire, through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The plain value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Why a template could not be resolved.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InterpolateError {
    /// An empty variable counts as unset: `KEY=` in an environment file is no key, and the
    /// `auto` roles must not take it for one.
    #[error("environment variable {0} is not set (or empty)")]
    Missing(String),
    #[error("environment variable {0} contains a line break")]
    Newline(String),
    #[error("unterminated `${{` in {0:?}")]
    Unterminated(String),
    #[error("`${{}}` names no variable")]
    Empty,
}

/// Replaces every `${VAR}` in `template` with the variable's value (`$$` is a literal `$`).
/// Values with line breaks are refused: they would let a variable inject extra headers.
pub fn interpolate(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Secret, InterpolateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| InterpolateError::Unterminated(template.to_string()))?;
            let name = &body[..end];
            if name.is_empty() {
                return Err(InterpolateError::Empty);
            }
            let value = lookup(name).filter(|v| !v.is_empty()).ok_or_else(|| InterpolateError::Missing(name.to_string()))?;
            if value.contains(['\n', '\r']) {
                return Err(InterpolateError::Newline(name.to_string()));
            }
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Secret(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("abc123".into()),
            "EMPTY" => Some(String::new()),
            "BAD" => Some("a\r\nX-Injected: 1".into()),
            _ => None,
        }
    }

    #[test]
    fn interpolation_cases() {
        let cases: &[(&str, Result<&str, InterpolateError>)] = &[
            ("Token ${KEY}", Ok("Token abc123")),
            ("${KEY}${KEY}", Ok("abc123abc123")),
            ("plain", Ok("plain")),
            ("cost $$5", Ok("cost $5")),
            ("lone $ sign", Ok("lone $ sign")),
            ("${EMPTY}", Err(InterpolateError::Missing("EMPTY".into()))),
            ("${NOPE}", Err(InterpolateError::Missing("NOPE".into()))),
            ("${BAD}", Err(InterpolateError::Newline("BAD".into()))),
            ("${KEY", Err(InterpolateError::Unterminated("${KEY".into()))),
            ("${}", Err(InterpolateError::Empty)),
        ];
        for (template, want) in cases {
            let got = interpolate(template, env).map(|s| s.expose().to_string());
            assert_eq!(got, want.clone().map(str::to_string), "template {template:?}");
        }
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("sk-ant-CANARY".into());
        assert_eq!(format!("{secret:?} {secret}"), "[REDACTED] [REDACTED]");
    }
}
