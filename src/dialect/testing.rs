//! Test helpers shared by the dialects' stream tests: replaying a recorded upstream body
//! split at every byte and at random points, and the generator for the random splits.

use std::path::{Path, PathBuf};

use crate::anthropic::stream::Event;
use crate::anthropic::writer::{MessageHead, check_events};

/// The recorded upstream streams (`tests/fixtures/streams`).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams")
}

/// A small deterministic generator (xorshift64*), so no `rand` crate is needed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `body` cut into pieces of 1 to 3, 40 or 400 bytes, at random.
pub fn random_chunks<'a>(body: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let max = match rng.below(3) {
            0 => 3,
            1 => 40,
            _ => 400,
        };
        let n = 1 + rng.below(max.min(rest.len()));
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
    }
    chunks
}

/// One event per line, as its `data:` JSON: what `.expected` files hold.
pub fn transcript(events: &[Event]) -> String {
    events.iter().map(|e| format!("{}\n", e.data())).collect()
}

/// Replays `body` through `run` whole, split in two at every byte and in 200 random
/// chunkings; every replay must give the same events as the whole body. Returns the
/// events of the whole body, or what differed.
pub fn replay_splits(
    name: &str,
    body: &[u8],
    run: impl Fn(&[&[u8]]) -> Vec<Event>,
) -> Result<Vec<Event>, String> {
    let events = run(&[body]);
    for cut in 0..=body.len() {
        let split = run(&[&body[..cut], &body[cut..]]);
        if split != events {
            return Err(format!(
                "{name}: split at byte {cut} differs:\n{}",
                transcript(&split)
            ));
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ body.len() as u64);
    for round in 0..200 {
        let chunks = random_chunks(body, &mut rng);
        if run(&chunks) != events {
            return Err(format!("{name}: random chunking {round} differs"));
        }
    }
    Ok(events)
}

/// Checks every recorded stream whose file name `select` picks (at least `min` of them):
/// replayed through `run` whole, split at every byte and in random chunkings, it gives the
/// same events; those keep the writer's rules; `fold` (the same body as a non-streamed
/// answer) gives the message a client assembles from them ([`message_of`] with `head`); and
/// they match the `.expected` transcript beside the file (set `ANYCLAUDE_BLESS=1` to write
/// the transcripts, then review them by reading).
pub fn check_fixtures(
    select: impl Fn(&str) -> bool,
    min: usize,
    head: &MessageHead,
    run: impl Fn(&[&[u8]]) -> Vec<Event>,
    fold: impl Fn(&[u8]) -> Result<serde_json::Value, String>,
) {
    let bless = std::env::var_os("ANYCLAUDE_BLESS").is_some();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .filter(|p| p.file_name().is_some_and(|n| select(&n.to_string_lossy())))
        .collect();
    paths.sort();
    assert!(paths.len() >= min, "fixtures missing: {paths:?}");
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(path).unwrap();
        let events = match replay_splits(&name, &body, &run) {
            Ok(events) => events,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if let Err(e) = check_events(&events, true) {
            failures.push(format!("{name}: invariant: {e}\n{}", transcript(&events)));
            continue;
        }
        let folded = fold(&body);
        let assembled = message_of(&events, head);
        if folded != assembled {
            failures.push(format!(
                "{name}: the folded message differs from the events:\n{folded:?}\n{assembled:?}"
            ));
        }
        let got = transcript(&events);
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{name}: transcript differs\n--- want\n{want}--- got\n{got}"
            )),
            Err(_) => failures.push(format!("{name}: no .expected file; got:\n{got}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What a client assembles from a stream's events (written independently of the writer's
/// fold), as the non-streamed message JSON with `head`'s id and model; the error's message
/// when the stream failed.
pub fn message_of(
    events: &[Event],
    head: &crate::anthropic::writer::MessageHead,
) -> Result<serde_json::Value, String> {
    use crate::anthropic::stream::{BlockStart, Delta};
    use serde_json::json;
    let mut content: Vec<serde_json::Value> = Vec::new();
    let mut args = String::new();
    let mut end = None;
    for event in events {
        match event {
            Event::BlockStart { block, .. } => {
                args.clear();
                content.push(match block {
                    BlockStart::Text => json!({"type": "text", "text": ""}),
                    BlockStart::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    BlockStart::ToolUse { id, name } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                })
            }
            Event::BlockDelta { delta, .. } => {
                let block = content.last_mut().expect("a delta inside a block");
                let (field, add) = match delta {
                    Delta::Text(t) => ("text", t),
                    Delta::Thinking(t) => ("thinking", t),
                    Delta::Signature(t) => ("signature", t),
                    Delta::InputJson(t) => {
                        args.push_str(t);
                        continue;
                    }
                };
                let joined = format!("{}{add}", block[field].as_str().unwrap_or(""));
                block[field] = json!(joined);
            }
            Event::BlockStop { .. } => {
                let block = content.last_mut().expect("a stop inside a block");
                if block["type"] == "tool_use" && !args.is_empty() {
                    block["input"] = serde_json::from_str(&args).map_err(|e| e.to_string())?;
                }
            }
            Event::MessageDelta {
                stop_reason, usage, ..
            } => end = Some((*stop_reason, *usage)),
            Event::Error(err) => return Err(err.message.clone()),
            _ => {}
        }
    }
    let (stop_reason, usage) = end.ok_or("the stream did not end")?;
    Ok(json!({
        "id": head.id, "type": "message", "role": "assistant", "model": head.model,
        "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage,
    }))
}
