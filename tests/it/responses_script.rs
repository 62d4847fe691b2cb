//! Builders for OpenAI Responses API answers as a scripted upstream sends them: the event
//! stream (`event: <type>` + `data: {…, "sequence_number": n}`) and the whole response
//! object, in the shapes the real API uses.

use serde_json::{Value, json};

/// A stream being built; each event gets the next sequence number.
#[derive(Default)]
pub struct Stream {
    seq: u64,
    /// The SSE chunks, one event each.
    pub chunks: Vec<String>,
    output: Vec<Value>,
}

/// A usage object with cached and reasoning tokens.
pub fn usage(input: u64, cached: u64, output: u64, reasoning: u64) -> Value {
    json!({
        "input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input + output,
    })
}

fn response(status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": "resp_scripted", "object": "response", "created_at": 1_764_500_000, "status": status,
        "error": null, "incomplete_details": null, "model": "upstream-model", "output": output,
        "parallel_tool_calls": true, "store": false, "tool_choice": "auto", "tools": [],
        "usage": usage,
    })
}

impl Stream {
    /// A stream opened with `response.created` and `response.in_progress`.
    pub fn new() -> Stream {
        let mut s = Stream::default();
        s.event(
            "response.created",
            json!({"response": response("in_progress", vec![], Value::Null)}),
        );
        s.event(
            "response.in_progress",
            json!({"response": response("in_progress", vec![], Value::Null)}),
        );
        s
    }

    /// One event of `kind` with `fields`.
    pub fn event(&mut self, kind: &str, fields: Value) -> &mut Stream {
        let mut data = json!({"type": kind, "sequence_number": self.seq});
        data.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.seq += 1;
        self.chunks.push(format!("event: {kind}\ndata: {data}\n\n"));
        self
    }

    /// A message item at `index` whose text streams in `pieces`.
    pub fn message(&mut self, index: u64, id: &str, pieces: &[&str]) -> &mut Stream {
        self.event("response.output_item.added", json!({"output_index": index,
            "item": {"id": id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}}));
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "text": ""}}),
        );
        for p in pieces {
            self.event(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index,
                "content_index": 0, "delta": p, "logprobs": []}),
            );
        }
        let text: String = pieces.concat();
        let part = json!({"type": "output_text", "annotations": [], "text": text});
        self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
        );
        self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
        );
        let item = json!({"id": id, "type": "message", "status": "completed", "content": [part], "role": "assistant"});
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
        self
    }

    /// A reasoning item at `index` whose summary streams in `pieces`, then its encrypted
    /// content.
    pub fn reasoning(
        &mut self,
        index: u64,
        id: &str,
        pieces: &[&str],
        encrypted: &str,
    ) -> &mut Stream {
        self.event(
            "response.output_item.added",
            json!({"output_index": index,
            "item": {"id": id, "type": "reasoning", "summary": []}}),
        );
        self.event(
            "response.reasoning_summary_part.added",
            json!({"item_id": id, "output_index": index,
            "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        );
        for p in pieces {
            self.event(
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": index,
                "summary_index": 0, "delta": p}),
            );
        }
        let text: String = pieces.concat();
        self.event(
            "response.reasoning_summary_text.done",
            json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
        );
        self.event(
            "response.reasoning_summary_part.done",
            json!({"item_id": id, "output_index": index,
            "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
        );
        let item = json!({"id": id, "type": "reasoning", "encrypted_content": encrypted,
            "summary": [{"type": "summary_text", "text": text}]});
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
        self
    }

    /// Function calls announced at `first_index` onwards, their arguments streamed in
    /// `size`-character fragments interleaved between the calls (call 0's first fragment,
    /// call 1's first, call 0's second, …), each matched by item id (`fc_…`).
    pub fn calls(
        &mut self,
        first_index: u64,
        calls: &[(&str, &str, Value)],
        size: usize,
    ) -> &mut Stream {
        let ids: Vec<String> = (0..calls.len())
            .map(|i| format!("fc_scripted_{i}"))
            .collect();
        let frags: Vec<Vec<String>> = calls
            .iter()
            .map(|(_, _, input)| {
                let chars: Vec<char> = input.to_string().chars().collect();
                chars.chunks(size).map(|c| c.iter().collect()).collect()
            })
            .collect();
        for (i, (call_id, name, _)) in calls.iter().enumerate() {
            self.event("response.output_item.added", json!({"output_index": first_index + i as u64,
                "item": {"id": ids[i], "type": "function_call", "status": "in_progress", "arguments": "",
                         "call_id": call_id, "name": name}}));
        }
        let longest = frags.iter().map(Vec::len).max().unwrap_or(0);
        for step in 0..longest {
            for (i, f) in frags.iter().enumerate() {
                if let Some(frag) = f.get(step) {
                    self.event(
                        "response.function_call_arguments.delta",
                        json!({"item_id": ids[i],
                        "output_index": first_index + i as u64, "delta": frag}),
                    );
                }
            }
        }
        for (i, (call_id, name, input)) in calls.iter().enumerate() {
            let args = input.to_string();
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": ids[i],
                "output_index": first_index + i as u64, "arguments": args}),
            );
            let item = json!({"id": ids[i], "type": "function_call", "status": "completed",
                "arguments": args, "call_id": call_id, "name": name});
            self.event(
                "response.output_item.done",
                json!({"output_index": first_index + i as u64, "item": item}),
            );
            self.output.push(item);
        }
        self
    }

    /// `response.completed` with `usage`; returns the chunks.
    pub fn completed(&mut self, usage: Value) -> Vec<String> {
        let output = std::mem::take(&mut self.output);
        self.event(
            "response.completed",
            json!({"response": response("completed", output, usage)}),
        );
        std::mem::take(&mut self.chunks)
    }

    /// `response.failed` with this error; returns the chunks.
    pub fn failed(&mut self, code: &str, message: &str) -> Vec<String> {
        let mut r = response("failed", vec![], Value::Null);
        r["error"] = json!({"code": code, "message": message});
        self.event("response.failed", json!({"response": r}));
        std::mem::take(&mut self.chunks)
    }
}

/// A whole text answer in `pieces`.
pub fn text(pieces: &[&str]) -> Vec<String> {
    Stream::new()
        .message(0, "msg_scripted", pieces)
        .completed(usage(100, 20, pieces.len() as u64, 0))
}

/// Summarised reasoning (with its encrypted content), then the answer.
pub fn reasoning_then_text(summary: &[&str], encrypted: &str, answer: &[&str]) -> Vec<String> {
    Stream::new()
        .reasoning(0, "rs_scripted", summary, encrypted)
        .message(1, "msg_scripted", answer)
        .completed(usage(100, 0, 40, 30))
}

/// Function calls with interleaved argument fragments.
pub fn tool_calls(calls: &[(&str, &str, Value)], size: usize) -> Vec<String> {
    Stream::new()
        .calls(0, calls, size)
        .completed(usage(200, 0, 30, 0))
}

/// A whole (non-streamed) response object.
pub fn whole(output: Vec<Value>, usage: Value) -> Value {
    response("completed", output, usage)
}
