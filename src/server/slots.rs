//! Turn-taking on one-slot local servers: Claude Code's background requests (session
//! titles, topic checks, summaries: the requests that offer no tools) wait while a main
//! turn is running on the same server, so they neither cut it (llama-cpp-python stops a
//! running answer when another request arrives) nor delay it (llama.cpp's server and Ollama
//! queue them first-come, first-served).
//!
//! Owned here: [`Slots`], one gate per upstream base URL, and [`kind`] (with
//! [`is_background`]), which tells the kinds of request apart. Only presets whose Chat
//! profile says [`one_slot`](crate::provider::ChatProfile::one_slot) use it. A background
//! request waits until no main request has been running on that server for
//! [`BACKGROUND_GRACE`], so it does not slip into the pause while Claude Code runs a tool
//! between two main requests of one turn; it never waits longer than the request timeout,
//! after which it goes anyway.
//!
//! Two of Claude Code's tool-less requests are not background requests:
//! - **the Bash pre-flight** (2.0.x asks the small model for a command's prefix before it
//!   runs the command): the turn waits for its answer, so it goes at once, as a main
//!   request. Made to wait, it waited for every other main request on the server (measured
//!   with 2.0.77: 45–113 s behind its own sub-agents' warm-ups on a loaded machine);
//! - **warm-ups** (2.0.x sends one `Warmup` request per sub-agent at start, to fill
//!   Anthropic's prompt cache, and throws the answer away) are answered by the proxy itself
//!   ([`warmup_answer`]): on a one-slot server each would cost a whole prompt evaluation of
//!   ~10,000 tokens before the user's first turn, and replace the server's cached prefix
//!   with a prompt the session never uses again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::anthropic::request::{MessagesRequest, Role};
use crate::anthropic::stream::{StopReason, Usage};
use crate::anthropic::writer::{MessageHead, Writer};

/// How long a server must have been free of main requests before a background request
/// goes: longer than Claude Code takes to run a quick tool and send the turn's next request.
pub const BACKGROUND_GRACE: Duration = Duration::from_millis(1500);

/// What a request is to a one-slot server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A turn of the conversation (it offers Claude Code's tools), or a request the turn
    /// waits for: it goes at once and holds the server.
    Main,
    /// A title, topic check, summary or file-path extraction (no tools): it waits for the
    /// main turn.
    Background,
    /// A sub-agent's warm-up, answered without the server ([`warmup_answer`]).
    Warmup,
}

/// The text every 2.0.x warm-up request sends as its one user message.
const WARMUP_TEXT: &str = "Warmup";

/// How the user message of 2.0.x's Bash pre-flight (the command-prefix check) begins.
const BASH_PREFLIGHT_START: &str = "<policy_spec>";

/// The kind of `request`: see [`Kind`].
pub fn kind(request: &MessagesRequest) -> Kind {
    let first_text = |request: &MessagesRequest| {
        let first = request.messages.first()?;
        (first.role == Role::User).then(|| first.content.joined_text())
    };
    if request.messages.len() == 1 && first_text(request).as_deref() == Some(WARMUP_TEXT) {
        return Kind::Warmup;
    }
    if request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Kind::Main;
    }
    if first_text(request).is_some_and(|t| t.trim_start().starts_with(BASH_PREFLIGHT_START)) {
        return Kind::Main;
    }
    Kind::Background
}

/// Whether a request is one of Claude Code's background requests rather than a turn of the
/// conversation (or a request the turn waits for): every main turn offers Claude Code's
/// tools, while its titles, topic checks and summaries offer none.
pub fn is_background(request: &MessagesRequest) -> bool {
    kind(request) == Kind::Background
}

/// The proxy's own answer to a warm-up request: an empty `end_turn` answer with no usage,
/// as SSE bytes when `stream`, else as a Messages JSON body. Claude Code discards it.
pub fn warmup_answer(request: &MessagesRequest, message_id: &str) -> bytes::Bytes {
    let head = MessageHead {
        id: message_id.to_owned(),
        model: request.model.clone(),
        input_tokens: 0,
    };
    let usage = Usage::default();
    if request.stream.unwrap_or(false) {
        let mut writer = Writer::sse(head);
        writer.start();
        writer.finish(StopReason::EndTurn, usage);
        writer.take_sse().freeze()
    } else {
        let mut writer = Writer::message(head);
        writer.start();
        writer.finish(StopReason::EndTurn, usage);
        let message = writer
            .into_message()
            .expect("a finished writer holds its message");
        serde_json::to_vec(&message).unwrap_or_default().into()
    }
}

/// The gates of the one-slot servers this proxy talks to, by base URL.
#[derive(Debug, Default)]
pub struct Slots {
    gates: Mutex<HashMap<String, watch::Sender<Gate>>>,
}

/// What runs on one server.
#[derive(Debug, Clone, Copy, Default)]
struct Gate {
    /// Main requests running.
    running: usize,
    /// When the last one ended.
    last_end: Option<Instant>,
}

/// Held while a main request runs on a one-slot server (until its answer has been
/// delivered); background requests to that server wait until none is held.
#[derive(Debug)]
pub struct MainTurn {
    gate: watch::Sender<Gate>,
}

impl Drop for MainTurn {
    fn drop(&mut self) {
        self.gate.send_modify(|g| {
            g.running = g.running.saturating_sub(1);
            g.last_end = Some(Instant::now());
        });
    }
}

/// How a background request got its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// No main request was running or had just ended: it went at once.
    Not,
    /// It waited for the main turn to end.
    ForMain(Duration),
    /// It waited as long as it may and goes anyway.
    GaveUp(Duration),
}

impl Slots {
    fn gate(&self, base_url: &str) -> watch::Sender<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(base_url.to_owned())
            .or_insert_with(|| watch::Sender::new(Gate::default()))
            .clone()
    }

    /// Marks a main request as running on the server at `base_url` until the returned
    /// guard is dropped.
    pub fn main_turn(&self, base_url: &str) -> MainTurn {
        let gate = self.gate(base_url);
        gate.send_modify(|g| g.running += 1);
        MainTurn { gate }
    }

    /// Waits until no main request runs on the server at `base_url` and none has ended in
    /// the last `grace`, at most `limit` in all.
    pub async fn background_turn(
        &self,
        base_url: &str,
        grace: Duration,
        limit: Duration,
    ) -> Waited {
        let mut rx = self.gate(base_url).subscribe();
        let started = Instant::now();
        let deadline = started + limit;
        let mut waited = false;
        loop {
            let gate = *rx.borrow_and_update();
            let free_at = match gate.last_end {
                _ if gate.running > 0 => None,
                Some(end) if end + grace > Instant::now() => Some(end + grace),
                _ if waited => return Waited::ForMain(started.elapsed()),
                _ => return Waited::Not,
            };
            waited = true;
            let wake = free_at.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        return Waited::GaveUp(started.elapsed());
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Waited::ForMain(started.elapsed());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn request(tools: serde_json::Value) -> MessagesRequest {
        let body = serde_json::json!({"model": "m", "max_tokens": 5, "tools": tools,
            "messages": [{"role": "user", "content": "hi"}]});
        MessagesRequest::from_slice(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn background_requests_are_those_without_tools() {
        assert!(is_background(&request(serde_json::json!([]))));
        assert!(is_background(&request(serde_json::Value::Null)));
        assert!(!is_background(&request(serde_json::json!([
            {"name": "Bash", "input_schema": {"type": "object"}}
        ]))));
    }

    fn with(tools: serde_json::Value, messages: serde_json::Value) -> MessagesRequest {
        let body = serde_json::json!({"model": "m", "max_tokens": 5, "tools": tools,
            "messages": messages});
        MessagesRequest::from_slice(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn warm_ups_and_the_bash_preflight_are_told_apart() {
        let bash = serde_json::json!([{"name": "Bash", "input_schema": {"type": "object"}}]);
        // 2.0.77's sub-agent warm-up, as sent (one user message, a text block with a cache
        // marker), with tools or without.
        let warmup = serde_json::json!([{"role": "user", "content": [
            {"type": "text", "text": "Warmup", "cache_control": {"type": "ephemeral"}}]}]);
        assert_eq!(kind(&with(bash.clone(), warmup.clone())), Kind::Warmup);
        assert_eq!(kind(&with(serde_json::json!([]), warmup)), Kind::Warmup);
        let plain = serde_json::json!([{"role": "user", "content": "Warmup"}]);
        assert_eq!(kind(&with(bash.clone(), plain)), Kind::Warmup);
        // "Warmup" later in a conversation is a turn like any other.
        let later = serde_json::json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "Warmup"}]);
        assert_eq!(kind(&with(bash.clone(), later)), Kind::Main);
        let longer = serde_json::json!([{"role": "user", "content": "Warmup the oven"}]);
        assert_eq!(kind(&with(serde_json::json!([]), longer)), Kind::Background);
        // 2.0.77's Bash pre-flight: no tools, but the turn waits for it.
        let preflight = serde_json::json!([{"role": "user", "content": [{"type": "text",
            "text": "<policy_spec>\n# Claude Code Code Bash command prefix detection\n…\nCommand: tee out.txt\n"}]}]);
        assert_eq!(kind(&with(serde_json::json!([]), preflight)), Kind::Main);
        // A title, and 2.0.77's file-path extraction after a command: background.
        let paths = serde_json::json!([{"role": "user", "content": [{"type": "text",
            "text": "Command: echo ok | tee out.txt\nOutput: ok\n\n"}]}]);
        assert_eq!(kind(&with(serde_json::json!([]), paths)), Kind::Background);
    }

    #[test]
    fn a_warm_up_is_answered_as_an_empty_finished_message() {
        let streamed = MessagesRequest::from_slice(
            br#"{"model":"llamacpp/q","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"Warmup"}]}"#,
        )
        .unwrap();
        let sse = String::from_utf8(warmup_answer(&streamed, "msg_1").to_vec()).unwrap();
        let names: Vec<&str> = sse
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
        assert!(sse.contains(r#""stop_reason":"end_turn""#), "{sse}");
        assert!(sse.contains(r#""model":"llamacpp/q""#), "{sse}");
        let whole = MessagesRequest::from_slice(
            br#"{"model":"llamacpp/q","max_tokens":5,"messages":[{"role":"user","content":"Warmup"}]}"#,
        )
        .unwrap();
        let message: serde_json::Value =
            serde_json::from_slice(&warmup_answer(&whole, "msg_2")).unwrap();
        assert_eq!(message["id"], "msg_2");
        assert_eq!(message["type"], "message");
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(message["content"], serde_json::json!([]));
    }

    #[tokio::test(start_paused = true)]
    async fn background_waits_for_the_main_turn_and_its_grace() {
        let slots = Arc::new(Slots::default());
        let limit = Duration::from_secs(600);
        let grace = Duration::from_secs(1);
        // Nothing running: at once.
        assert_eq!(slots.background_turn("a", grace, limit).await, Waited::Not);
        let main = slots.main_turn("a");
        // Another server is not held up.
        assert_eq!(slots.background_turn("b", grace, limit).await, Waited::Not);
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.background_turn("a", grace, limit).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        drop(main);
        // The next main request of the turn, within the grace: still waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = slots.main_turn("a");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished());
        drop(next);
        let waited = waiting.await.unwrap();
        assert_eq!(waited, Waited::ForMain(Duration::from_millis(9500)));
        // A main turn that never ends: the background request goes at the limit.
        let _stuck = slots.main_turn("a");
        assert_eq!(
            slots
                .background_turn("a", grace, Duration::from_secs(30))
                .await,
            Waited::GaveUp(Duration::from_secs(30))
        );
    }
}
