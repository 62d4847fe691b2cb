//! STUB (replaced by the request branch).
use serde::Deserialize;
/// Stub.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    /// Model.
    pub model: String,
    /// Stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Rest.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
impl MessagesRequest {
    /// Parse.
    pub fn from_slice(b: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(b)
    }
}
