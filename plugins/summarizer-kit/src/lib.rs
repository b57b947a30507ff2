//! What the summarizer plugins share, whatever API they speak: the checks and the user
//! message before a model is asked ([`guest`]), the transcript and the instructions as the
//! model reads them ([`prompt`]), the summary's JSON schema and the
//! reading of a model's answer into the summary record ([`record`]), the reading of an
//! answer still arriving ([`partial`]), and the server-sent events both APIs stream ([`sse`]).
//! Each plugin wraps these in its own request body and its own error mapping.

pub mod guest;
pub mod partial;
pub mod prompt;
pub mod record;
pub mod sse;
