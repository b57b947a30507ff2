//! Panic payloads as text, for the places that catch a panic and report it (decoding, request
//! handlers) instead of letting it take the daemon down.

/// The message a panic carried, or a generic one when it carried no text.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked without a message".into())
}
