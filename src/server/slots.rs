//! Turn-taking on one-slot local servers: Claude Code's background requests (session
//! titles, topic checks, summaries: the requests that offer no tools) wait while a main
//! turn is running on the same server, so they neither cut it (llama-cpp-python stops a
//! running answer when another request arrives) nor delay it (llama.cpp's server and Ollama
//! queue them first-come, first-served).
//!
//! Owned here: [`Slots`], one gate per upstream base URL, and [`is_background`], which
//! tells the two kinds of request apart. Only presets whose Chat profile says
//! [`one_slot`](crate::provider::ChatProfile::one_slot) use it. A background request waits
//! until no main request has been running on that server for [`BACKGROUND_GRACE`], so it
//! does not slip into the pause while Claude Code runs a tool between two main requests of
//! one turn; it never waits longer than the request timeout, after which it goes anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::anthropic::request::MessagesRequest;

/// How long a server must have been free of main requests before a background request
/// goes: longer than Claude Code takes to run a quick tool and send the turn's next request.
pub const BACKGROUND_GRACE: Duration = Duration::from_millis(1500);

/// Whether a request is one of Claude Code's background requests rather than a turn of the
/// conversation: every main turn offers Claude Code's tools, while its titles, topic checks
/// and summaries offer none.
pub fn is_background(request: &MessagesRequest) -> bool {
    request.tools.as_deref().is_none_or(<[_]>::is_empty)
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
