//! Builders for OpenAI Chat Completions streams as a scripted upstream sends them.

use serde_json::{Value, json};

/// One `data:` chunk.
pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "upstream-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {body}\n\n")
}

/// The usage chunk (`choices: []`).
pub fn usage(prompt: u64, completion: u64, cached: u64) -> String {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "upstream-model",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": cached}},
    });
    format!("data: {body}\n\n")
}

/// `data: [DONE]`.
pub fn done() -> String {
    "data: [DONE]\n\n".into()
}

/// A whole text answer split into `pieces`, then usage and `[DONE]`.
pub fn text(pieces: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    out.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
    out.push(chunk(json!({}), Some("stop")));
    out.push(usage(100, pieces.len() as u64, 20));
    out.push(done());
    out
}

/// Reasoning in `thinking` pieces (as `reasoning_content`), then the answer.
pub fn thinking_then_text(thinking: &[&str], answer: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant"}), None)];
    out.extend(
        thinking
            .iter()
            .map(|p| chunk(json!({"reasoning_content": p}), None)),
    );
    out.extend(answer.iter().map(|p| chunk(json!({"content": p}), None)));
    out.push(chunk(json!({}), Some("stop")));
    out.push(usage(100, 10, 0));
    out.push(done());
    out
}

/// Tool calls whose arguments stream in `size`-character fragments, interleaved by index
/// (call 0's first fragment, call 1's first fragment, call 0's second, …).
pub fn tool_calls(calls: &[(&str, &str, Value)], size: usize) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    let args: Vec<Vec<String>> = calls
        .iter()
        .map(|(_, _, input)| {
            let s = input.to_string();
            let chars: Vec<char> = s.chars().collect();
            chars.chunks(size).map(|c| c.iter().collect()).collect()
        })
        .collect();
    for (i, (id, name, _)) in calls.iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
    }
    let longest = args.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (i, frags) in args.iter().enumerate() {
            if let Some(frag) = frags.get(step) {
                out.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": frag}}]}),
                    None,
                ));
            }
        }
    }
    out.push(chunk(json!({}), Some("tool_calls")));
    out.push(usage(200, 30, 0));
    out.push(done());
    out
}

/// A whole non-streamed answer (`stream: false`): one `chat.completion` with this text.
pub fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105},
    })
}
