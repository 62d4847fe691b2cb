//! Builders for what a Gemini upstream sends (`streamGenerateContent?alt=sse` chunks,
//! `generateContent` bodies, error bodies), for a scripted upstream that speaks Gemini.
//!
//! Shaped as the real API sends them: each SSE event is one `data:` line holding a whole
//! `GenerateContentResponse`, ended by `\r\n\r\n`, with no event names and no `[DONE]`;
//! text arrives in pieces, function calls whole (several in one chunk when parallel, no
//! `id`), `usageMetadata` on every chunk and `finishReason` on the last.

use serde_json::{Value, json};

/// Usage as Gemini reports it.
pub fn usage(prompt: u64, candidates: u64, cached: u64, thoughts: u64) -> Value {
    let mut u = json!({"promptTokenCount": prompt, "candidatesTokenCount": candidates,
                       "totalTokenCount": prompt + candidates + thoughts});
    if cached > 0 {
        u["cachedContentTokenCount"] = json!(cached);
    }
    if thoughts > 0 {
        u["thoughtsTokenCount"] = json!(thoughts);
    }
    u
}

/// One `GenerateContentResponse` with these parts.
pub fn response(parts: Value, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({"candidates": [candidate], "usageMetadata": usage,
           "modelVersion": "gemini-upstream", "responseId": "resp-1"})
}

/// One SSE event.
pub fn event(body: &Value) -> String {
    format!("data: {body}\r\n\r\n")
}

/// One streamed chunk.
pub fn chunk(parts: Value, finish: Option<&str>, usage: Value) -> String {
    event(&response(parts, finish, usage))
}

/// A text answer in `pieces`.
pub fn text(pieces: &[&str]) -> Vec<String> {
    let n = pieces.len();
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == n;
            chunk(
                json!([{"text": p}]),
                last.then_some("STOP"),
                usage(100, i as u64 + 1, 20, 0),
            )
        })
        .collect()
}

/// Function calls `(name, args)`, all in one chunk (as Gemini sends parallel calls); the
/// first carries `signature` when given.
pub fn calls(calls: &[(&str, Value)], signature: Option<&str>) -> Vec<String> {
    let parts: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            let mut p = json!({"functionCall": {"name": name, "args": args}});
            if i == 0
                && let Some(sig) = signature
            {
                p["thoughtSignature"] = json!(sig);
            }
            p
        })
        .collect();
    vec![
        chunk(
            json!([{"text": "Running them."}]),
            None,
            usage(200, 3, 0, 0),
        ),
        chunk(Value::Array(parts), Some("STOP"), usage(200, 30, 0, 0)),
    ]
}

/// Thought summaries, then text, then one call carrying `signature`.
pub fn thinking_then_call(
    thoughts: &[&str],
    name: &str,
    args: Value,
    signature: &str,
) -> Vec<String> {
    let mut out: Vec<String> = thoughts
        .iter()
        .map(|t| {
            chunk(
                json!([{"text": t, "thought": true}]),
                None,
                usage(300, 0, 0, 12),
            )
        })
        .collect();
    out.push(chunk(
        json!([{"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}]),
        Some("STOP"),
        usage(300, 9, 0, 12),
    ));
    out
}

/// Thought summaries, then the answer; the signature comes last on an empty text part (as
/// Gemini 3 ends a text answer).
pub fn thinking_then_text(thoughts: &[&str], answer: &[&str], signature: &str) -> Vec<String> {
    let mut out: Vec<String> = thoughts
        .iter()
        .map(|t| {
            chunk(
                json!([{"text": t, "thought": true}]),
                None,
                usage(300, 0, 0, 12),
            )
        })
        .collect();
    out.extend(
        answer
            .iter()
            .map(|a| chunk(json!([{"text": a}]), None, usage(300, 5, 0, 12))),
    );
    out.push(chunk(
        json!([{"text": "", "thoughtSignature": signature}]),
        Some("STOP"),
        usage(300, 5, 0, 12),
    ));
    out
}

/// An error body: `{"error":{"code","message","status"}}`.
pub fn error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}
