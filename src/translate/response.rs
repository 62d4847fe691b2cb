//! STUB (replaced by the stream branch).
use super::stream::StreamContext;
use crate::anthropic::{ApiError, ErrorKind};
/// Stub.
pub fn upstream_error(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let kind = match status {
        401 => ErrorKind::Authentication,
        429 => ErrorKind::RateLimit,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Overloaded,
    };
    let mut e = ApiError::new(kind, String::from_utf8_lossy(body).to_string());
    e.retry_after = retry_after.map(str::to_owned);
    e
}
/// Stub.
pub fn chat_to_message(_body: &[u8], ctx: &StreamContext) -> Result<serde_json::Value, ApiError> {
    Ok(serde_json::json!({"type":"message","model":ctx.client_model,"usage":{}}))
}
