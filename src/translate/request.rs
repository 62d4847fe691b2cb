//! STUB (replaced by the request branch).
use crate::anthropic::ApiError;
use crate::anthropic::request::MessagesRequest;
use crate::provider::ChatProfile;
use crate::translate::tool_names::ToolNames;
/// Stub.
pub struct ChatRequest {
    /// Names.
    pub tool_names: ToolNames,
    /// Dropped.
    pub dropped: Vec<String>,
    body: serde_json::Value,
}
impl ChatRequest {
    /// Bytes.
    pub fn to_bytes(&self) -> bytes::Bytes {
        self.body.to_string().into()
    }
}
/// Stub.
pub fn to_chat(
    req: &MessagesRequest,
    model: &str,
    _p: &ChatProfile,
) -> Result<ChatRequest, ApiError> {
    Ok(ChatRequest {
        tool_names: ToolNames::default(),
        dropped: vec![],
        body: serde_json::json!({"model": model, "stream": req.stream}),
    })
}
