//! A summary as the API, events and exports show it: the store's record without the
//! bookkeeping, times as milliseconds. Its own module so the event types can carry it
//! without depending on the summary service.

use serde::Serialize;

use crate::clients::library::Summary;

/// A summary as the API, events and exports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryDoc {
    pub title: Option<String>,
    pub overview: String,
    pub key_points: Vec<String>,
    pub action_items: Vec<ActionItemDoc>,
    pub decisions: Vec<String>,
}

/// An action item as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionItemDoc {
    pub text: String,
    pub owner: Option<String>,
    /// Transcript time it came from, ms: the start of a segment, so the UI can jump there.
    pub at_ms: Option<u64>,
}

impl From<&Summary> for SummaryDoc {
    fn from(summary: &Summary) -> Self {
        SummaryDoc {
            title: summary.title.clone(),
            overview: summary.overview.clone(),
            key_points: summary.key_points.clone(),
            action_items: summary
                .action_items
                .iter()
                .map(|a| ActionItemDoc { text: a.text.clone(), owner: a.owner.clone(), at_ms: a.at_ms })
                .collect(),
            decisions: summary.decisions.clone(),
        }
    }
}
