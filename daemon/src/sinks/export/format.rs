//! The formats a transcript is exported in: their names (for the API, the CLI and the
//! config), file extensions and MIME types. Its own module so the config can name formats
//! without depending on how transcripts are rendered.

use std::str::FromStr;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Txt,
    Srt,
    Vtt,
    Json,
    Md,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "txt" => Ok(ExportFormat::Txt),
            "srt" => Ok(ExportFormat::Srt),
            "vtt" => Ok(ExportFormat::Vtt),
            "json" => Ok(ExportFormat::Json),
            "md" => Ok(ExportFormat::Md),
            other => Err(format!("unknown export format {other:?}; use txt, srt, vtt, json or md")),
        }
    }
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Txt => "txt",
            ExportFormat::Srt => "srt",
            ExportFormat::Vtt => "vtt",
            ExportFormat::Json => "json",
            ExportFormat::Md => "md",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ExportFormat::Txt => "text/plain; charset=utf-8",
            ExportFormat::Srt => "application/x-subrip; charset=utf-8",
            ExportFormat::Vtt => "text/vtt; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Md => "text/markdown; charset=utf-8",
        }
    }
}
