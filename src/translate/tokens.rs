//! Token estimates for `count_tokens`, `message_start` and streams whose backend reports no
//! usage. (Being written: the tokenizer-backed version replaces these bodies.)

/// Estimated tokens in `text`.
pub fn estimate_text_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// STUB.
pub fn estimate_request_tokens(req: &crate::anthropic::request::MessagesRequest) -> u64 {
    estimate_text_tokens(&req.model)
}
