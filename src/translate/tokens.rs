//! Token estimates for `count_tokens`, `message_start.input_tokens` and streams whose
//! backend reports no usage.
//!
//! Counts come from a real BPE tokenizer, tiktoken's `o200k_base` (embedded in the binary,
//! nothing downloaded; counted by our own compact [`super::bpe`], which gives tiktoken's
//! counts in a few MiB). It is not Claude's tokenizer, nor every backend's, but it is within a
//! few percent of them on English and code, which is what Claude Code's context meter and
//! auto-compaction need. The same function counts `count_tokens` and `message_start`, so the
//! two always agree.
//!
//! Claude Code calls `count_tokens` often and resends the same system prompt and tool
//! schemas (tens of KB) every turn, so counts of long texts are cached by content hash in a
//! small bounded cache: a repeated request costs hashing, not tokenising. Texts are also cut
//! into pieces at whitespace boundaries before tokenising, which bounds the tokenizer's
//! regex work on pathological input (megabytes without a break).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::anthropic::request::{
    BlockRef, Content, ContentBlock, MessagesRequest, Source, Tool, ToolResultBlock,
};

use super::bpe::O200kBase;
use crate::conversation::loaded_tool_names;

/// The estimate for one image (Anthropic's ~1,600 tokens for a ~1.15 megapixel image, the
/// size Claude Code's own resizing aims at).
pub const IMAGE_TOKENS: u64 = 1_600;

/// Per-message overhead (role and separators).
const MESSAGE_OVERHEAD: u64 = 4;

/// Per-tool overhead (the wrapper around name, description and schema).
const TOOL_OVERHEAD: u64 = 8;

/// Texts shorter than this are tokenised directly; longer ones go through the cache.
const CACHE_MIN_LEN: usize = 64;

/// Entries the cache holds before it is emptied and starts over.
const CACHE_CAPACITY: usize = 4_096;

/// Longest piece handed to the tokenizer at once (cut at a whitespace boundary).
const PIECE_LEN: usize = 16 * 1024;

/// Estimated tokens in `text`.
pub fn estimate_text_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    if text.len() < CACHE_MIN_LEN {
        return count_uncached(text);
    }
    cached((word_hash(FNV_OFFSET, text.as_bytes()), text.len()), || {
        count_uncached(text)
    })
}

/// The count cached under `key`, or `count()` (then cached).
fn cached(key: (u64, usize), count: impl FnOnce() -> u64) -> u64 {
    if let Some(&n) = cache().get(&key) {
        return n;
    }
    let n = count();
    let mut cache = cache();
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(key, n);
    n
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A cache key's hash of `bytes`, continuing `hash`: eight bytes per step (a multiply and a
/// rotate, as in rustc's FxHash), so that keying Claude Code's tens of KB of system prompt
/// and tool descriptions costs a few microseconds, not a pass per byte.
fn word_hash(mut hash: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (hash.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K)
}

/// A hash of a JSON value's structure and contents, without writing it out: the cache key
/// of its count (a tool schema is the same value on every turn).
fn value_hash(hash: u64, value: &Value) -> u64 {
    // A distinct tag per kind, so that `"1"` and `1`, `[]` and `{}` differ.
    let tag = |hash: u64, t: u8| word_hash(hash, &[t]);
    match value {
        Value::Null => tag(hash, 0),
        Value::Bool(b) => tag(hash, 1 + u8::from(*b)),
        Value::Number(n) => word_hash(tag(hash, 3), n.to_string().as_bytes()),
        Value::String(text) => word_hash(tag(hash, 4), text.as_bytes()),
        Value::Array(items) => {
            let hash = word_hash(tag(hash, 5), &items.len().to_le_bytes());
            items.iter().fold(hash, value_hash)
        }
        Value::Object(map) => {
            let hash = word_hash(tag(hash, 6), &map.len().to_le_bytes());
            map.iter().fold(hash, |hash, (key, value)| {
                value_hash(word_hash(hash, key.as_bytes()), value)
            })
        }
    }
}

/// Text gathered before a [`TokenCounter`] counts it.
const COUNTER_BATCH: usize = 4 * 1024;

/// A single piece longer than this is estimated at four bytes a token rather than
/// tokenised, so that no one call does a big count on the caller's (runtime) thread.
const COUNTER_BIG_PIECE: usize = 64 * 1024;

/// A running estimate of the tokens in a text that passes by in pieces (a stream's output),
/// holding at most a few KiB of it: pieces gather into batches of about [`COUNTER_BATCH`]
/// bytes, each counted once and dropped, cut at whitespace so that a word is not split
/// between two counts. The work per piece is proportional to the piece; nothing is left
/// for a big count at the end.
#[derive(Debug, Default, Clone)]
pub struct TokenCounter {
    counted: u64,
    pending: String,
}

impl TokenCounter {
    /// Counts `text` as the continuation of what came before.
    pub fn push(&mut self, text: &str) {
        if text.len() > COUNTER_BIG_PIECE {
            self.counted += (text.len() as u64).div_ceil(4);
            return;
        }
        self.pending.push_str(text);
        if self.pending.len() < COUNTER_BATCH {
            return;
        }
        let len = self.pending.len();
        let cut = match self.pending.rfind(char::is_whitespace) {
            Some(at) if at > 0 && len - at <= COUNTER_BATCH => at,
            _ => len,
        };
        self.counted += count_uncached(&self.pending[..cut]);
        self.pending.drain(..cut);
    }

    /// The tokens counted so far, without the last batch still gathering (at most about a
    /// thousand tokens short): cheap, for limits checked on every piece.
    pub fn counted(&self) -> u64 {
        self.counted
    }

    /// The estimate of everything pushed so far.
    pub fn total(&self) -> u64 {
        self.counted + count_uncached(&self.pending)
    }
}

/// Estimated input tokens of a whole request: system, messages (text, tool calls and
/// results, thinking, images, documents) and the tools the backend is offered (name,
/// description and schema).
pub fn estimate_request_tokens(req: &MessagesRequest) -> u64 {
    let mut total = 0;
    if let Some(system) = &req.system {
        total += MESSAGE_OVERHEAD + content_tokens(system);
    }
    for message in &req.messages {
        total += MESSAGE_OVERHEAD + content_tokens(&message.content);
    }
    total + estimate_tool_tokens(req)
}

/// Estimated input tokens of the tools a request offers the backend (the part of
/// [`estimate_request_tokens`] a server whose chat template cannot show tools never reads).
pub fn estimate_tool_tokens(req: &MessagesRequest) -> u64 {
    let Some(tools) = &req.tools else {
        return 0;
    };
    // Each tool is counted once per tool list: the list is shared with earlier requests
    // that sent the same one (see `Tools`).
    struct ToolTokens(Vec<u64>);
    let counts = tools.derived(|tools| {
        ToolTokens(
            tools
                .iter()
                .map(|tool| match tool {
                    Tool::Custom(tool) => {
                        TOOL_OVERHEAD
                            + estimate_text_tokens(&tool.name)
                            + tool.description.as_deref().map_or(0, estimate_text_tokens)
                            + tool.input_schema.as_ref().map_or(0, json_tokens)
                    }
                    Tool::Server(_) => 0,
                })
                .collect(),
        )
    });
    // Only the tools the backend is offered: not server tools, not deferred tools that no
    // tool search has loaded yet (see `conversation`).
    let loaded = loaded_tool_names(req);
    tools
        .iter()
        .zip(&counts.0)
        .filter(|(tool, _)| match tool {
            Tool::Custom(tool) => {
                tool.defer_loading != Some(true) || loaded.contains(&tool.name.as_str())
            }
            Tool::Server(_) => false,
        })
        .map(|(_, count)| count)
        .sum()
}

/// Loads the tokenizer now, so the first request does not pay for it (a few ms to index the
/// vocabulary and compile the pattern). The app calls it on a background thread at startup.
pub fn warm_up() {
    let _ = estimate_text_tokens("warm up");
}

fn bpe() -> &'static O200kBase {
    super::bpe::o200k_base()
}

type Cache = HashMap<(u64, usize), u64>;

fn cache() -> MutexGuard<'static, Cache> {
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    // A panic elsewhere while the lock was held leaves a map that is still valid.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count_uncached(text: &str) -> u64 {
    let bpe = bpe();
    pieces(text)
        .map(|piece| match piece {
            Piece::Words(text) => bpe.count(text) as u64,
            Piece::Run(text) => (text.len() as u64).div_ceil(4),
        })
        .sum()
}

/// A piece of text to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Ordinary text, ending at a word boundary: tokenised.
    Words(&'a str),
    /// [`PIECE_LEN`] bytes without a single word boundary (a run of letters, of spaces, of
    /// one symbol), where the tokenizer's work grows with the square of the run: estimated
    /// at 4 bytes a token instead.
    Run(&'a str),
}

#[cfg(test)]
impl<'a> Piece<'a> {
    fn text(self) -> &'a str {
        match self {
            Piece::Words(text) | Piece::Run(text) => text,
        }
    }
}

/// `text` cut into pieces of at most [`PIECE_LEN`] bytes, each cut placed just before a
/// whitespace character that follows a non-whitespace one (where the tokenizer's own
/// pre-split cuts too).
fn pieces(text: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= PIECE_LEN {
            return Some(Piece::Words(std::mem::take(&mut rest)));
        }
        let window = &rest[..floor_char_boundary(rest, PIECE_LEN)];
        let mut prev_is_space = true;
        let mut cut = None;
        for (i, c) in window.char_indices() {
            let is_space = c.is_whitespace();
            if is_space && !prev_is_space {
                cut = Some(i);
            }
            prev_is_space = is_space;
        }
        let piece = match cut {
            Some(cut) => {
                let (piece, tail) = rest.split_at(cut);
                rest = tail;
                Piece::Words(piece)
            }
            None => {
                let (piece, tail) = rest.split_at(floor_char_boundary(rest, PIECE_LEN));
                rest = tail;
                Piece::Run(piece)
            }
        };
        Some(piece)
    })
}

/// The largest char boundary of `text` at or below `at` (above 0 when `text` is not empty).
fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut at = at;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    if at == 0 {
        // `at` fell inside the first character: take that whole character.
        text.chars().next().map_or(0, char::len_utf8)
    } else {
        at
    }
}

fn json_tokens(value: &Value) -> u64 {
    match value {
        Value::Null => 0,
        Value::String(s) => estimate_text_tokens(s),
        // Scalars and small values: written out and counted (cached by their text when long).
        Value::Bool(_) | Value::Number(_) => estimate_text_tokens(&value.to_string()),
        // Objects and arrays (tool schemas, tool inputs): cached by a hash of the value, so a
        // schema sent again is neither written out nor tokenised again. The key's length
        // part is `usize::MAX`, which no text's length is.
        other => cached((value_hash(FNV_OFFSET, other), usize::MAX), || {
            estimate_text_tokens(&other.to_string())
        }),
    }
}

fn content_tokens(content: &Content) -> u64 {
    content.blocks().map(block_tokens).sum()
}

fn block_tokens(block: BlockRef<'_>) -> u64 {
    let block = match block {
        BlockRef::Text(text) => return estimate_text_tokens(text),
        BlockRef::Block(block) => block,
    };
    match block {
        ContentBlock::Text(t) => estimate_text_tokens(&t.text),
        ContentBlock::Image(_) => IMAGE_TOKENS,
        ContentBlock::Document(doc) => {
            doc.title.as_deref().map_or(0, estimate_text_tokens)
                + doc.context.as_deref().map_or(0, estimate_text_tokens)
                + source_tokens(&doc.source)
        }
        ContentBlock::ToolUse(call) => {
            let input = match &call.input {
                // The same count as of its text, cached by the value (see `json_tokens`).
                Value::Object(_) | Value::Array(_) => json_tokens(&call.input),
                other => estimate_text_tokens(&other.to_string()),
            };
            estimate_text_tokens(&call.name) + input
        }
        ContentBlock::ToolResult(ToolResultBlock { content, .. }) => {
            content.as_ref().map_or(0, content_tokens)
        }
        ContentBlock::Thinking(t) => estimate_text_tokens(&t.thinking),
        ContentBlock::RedactedThinking(r) => (r.data.len() as u64).div_ceil(4),
        ContentBlock::Other(raw) => json_tokens(raw),
    }
}

fn source_tokens(source: &Source) -> u64 {
    match source {
        Source::Text { data, .. } => estimate_text_tokens(data),
        Source::Content { content } => content_tokens(content),
        // A PDF: about one image per page plus its text; base64 data is 4/3 of the bytes,
        // and a text page of PDF takes a few KB, so count one image per 3 KB of PDF.
        Source::Base64 { data, .. } => {
            let bytes = (data.len() as u64) * 3 / 4;
            IMAGE_TOKENS.max(bytes / 3_000 * IMAGE_TOKENS / 2)
        }
        Source::Url { .. } | Source::File { .. } | Source::Other(_) => IMAGE_TOKENS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A synthetic request shaped like Claude Code's (tests/fixtures/requests/generate.py).
    const FIXTURE: &str = include_str!("../../tests/fixtures/requests/claude-code-2.1.197.json");

    /// The real first request of Claude Code 2.1.197 (78 KB, 24 tools).
    const REAL: &str = include_str!("../../tests/fixtures/claude-code/2.1.197-first-request.json");

    #[test]
    fn counts_real_tokens() {
        assert_eq!(estimate_text_tokens(""), 0);
        assert_eq!(estimate_text_tokens("hello world"), 2);
        let long = "The quick brown fox jumps over the lazy dog. ".repeat(100);
        let n = estimate_text_tokens(&long);
        assert_eq!(n, bpe().count(&long) as u64);
        assert!((1_000..=1_001).contains(&n), "{n}");
        // The cached answer is the same.
        assert_eq!(estimate_text_tokens(&long), n);
    }

    #[test]
    fn pieces_cover_the_text_and_stay_bounded() {
        let texts = [
            "word ".repeat(10_000),
            " ".repeat(100_000),
            "x".repeat(100_000),
            "é€😀 ".repeat(9_000),
            "€".repeat(30_000),
            format!(
                "{}  \n\t{}",
                "a".repeat(PIECE_LEN),
                "b".repeat(PIECE_LEN * 2)
            ),
        ];
        for text in &texts {
            let joined: String = pieces(text).map(Piece::text).collect();
            assert_eq!(&joined, text);
            assert!(pieces(text).all(|p| p.text().len() <= PIECE_LEN && !p.text().is_empty()));
        }
        // Cutting at whitespace keeps the count close to the uncut one.
        let prose = "Use the Bash tool to run tests before you commit. ".repeat(2_000);
        let direct = bpe().count(&prose) as u64;
        let cut = count_uncached(&prose);
        assert!(cut.abs_diff(direct) <= direct / 100, "{cut} vs {direct}");
    }

    #[test]
    fn pathological_text_is_counted_quickly() {
        warm_up();
        for text in [
            " ".repeat(1 << 20),
            "x".repeat(1 << 20),
            "\n".repeat(1 << 20),
        ] {
            let start = Instant::now();
            assert!(count_uncached(&text) > 0);
            println!("1 MiB of {:?}: {:?}", &text[..1], start.elapsed());
        }
    }

    #[test]
    fn request_estimate_covers_system_messages_and_tools() {
        let req = MessagesRequest::from_slice(FIXTURE.as_bytes()).unwrap();
        let real = MessagesRequest::from_slice(REAL.as_bytes()).unwrap();
        let real_total = estimate_request_tokens(&real);
        assert!(real_total > 15_000 && real_total < 30_000, "{real_total}");
        let total = estimate_request_tokens(&req);
        let tools_only = MessagesRequest {
            system: None,
            messages: Vec::new(),
            ..req.clone()
        };
        let tools = estimate_request_tokens(&tools_only);
        assert!(tools > total / 2, "tools {tools} of {total}");
        assert!(total > 15_000 && total < 40_000, "{total}");

        let image = MessagesRequest::from_slice(
            br#"{"model":"m","messages":[{"role":"user","content":[
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
                {"type":"tool_use","id":"t","name":"Bash","input":{"command":"ls -la"}},
                {"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"total 0"}]},
                {"type":"thinking","thinking":"hmm","signature":""}]}]}"#,
        )
        .unwrap();
        let n = estimate_request_tokens(&image);
        assert!(n > IMAGE_TOKENS && n < IMAGE_TOKENS + 40, "{n}");
    }

    #[test]
    fn only_tools_the_backend_sees_are_counted() {
        let base = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[
            {"name":"Bash","description":"Run a shell command","input_schema":{"type":"object"}}"#;
        let plain = MessagesRequest::from_slice(format!("{base}]}}").as_bytes()).unwrap();
        let more = MessagesRequest::from_slice(
            format!(
                r#"{base},{{"type":"web_search_20250305","name":"web_search"}},
                {{"name":"Later","description":"A deferred tool","input_schema":{{}},"defer_loading":true}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            estimate_request_tokens(&plain),
            estimate_request_tokens(&more)
        );
        // A count_tokens body (no max_tokens, no stream) is counted the same way.
        assert_eq!(plain.max_tokens, None);
        assert!(estimate_request_tokens(&plain) > TOOL_OVERHEAD);
    }

    /// Prints the cost of counting the ~85 KB Claude Code request, uncached and cached
    /// (best and median of 9 runs; the machine may be busy):
    /// `cargo test --release --lib tokens::tests::timing -- --nocapture`.
    #[test]
    fn timing_of_a_claude_code_request() {
        let load = Instant::now();
        warm_up();
        println!("tokenizer load (or already loaded): {:?}", load.elapsed());
        for (name, fixture) in [("real 2.1.197", REAL), ("synthetic", FIXTURE)] {
            time_one(name, fixture);
        }
    }

    fn time_one(name: &str, fixture: &str) {
        let parse_start = Instant::now();
        let req = MessagesRequest::from_slice(fixture.as_bytes()).unwrap();
        let parsed = parse_start.elapsed();
        let texts = request_texts(&req);
        let time = |f: &dyn Fn() -> u64| {
            let mut runs: Vec<_> = (0..9)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(f());
                    start.elapsed()
                })
                .collect();
            runs.sort_unstable();
            (runs[0], runs[4])
        };
        let first = Instant::now();
        let n = estimate_request_tokens(&req);
        let first = first.elapsed();
        let uncached = time(&|| texts.iter().map(|t| count_uncached(t)).sum());
        let cached = time(&|| estimate_request_tokens(&req));
        println!(
            "{name} claude-code request: {} bytes, {n} tokens; parse {parsed:?}; first \
             estimate {first:?}; tokenise uncached best {:?} median {:?}; estimate cached \
             best {:?} median {:?}",
            fixture.len(),
            uncached.0,
            uncached.1,
            cached.0,
            cached.1
        );
    }

    /// Every text `estimate_request_tokens` tokenises for a text-only request.
    fn request_texts(req: &MessagesRequest) -> Vec<String> {
        let mut texts = vec![
            req.system
                .as_ref()
                .map(Content::joined_text)
                .unwrap_or_default(),
        ];
        for m in &req.messages {
            texts.push(m.content.joined_text());
        }
        for tool in req.custom_tools() {
            texts.push(tool.name.clone());
            texts.push(tool.description.clone().unwrap_or_default());
            texts.push(
                tool.input_schema
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default(),
            );
        }
        texts
    }

    #[test]
    fn running_count_matches_a_whole_count_and_keeps_little() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(2_000);
        let mut counter = TokenCounter::default();
        for piece in text.as_bytes().chunks(7) {
            counter.push(std::str::from_utf8(piece).unwrap());
            assert!(counter.pending.len() < 2 * COUNTER_BATCH);
        }
        let whole = estimate_text_tokens(&text);
        let running = counter.total();
        assert!(
            running.abs_diff(whole) * 100 <= whole,
            "running {running}, whole {whole}"
        );
        assert!(counter.counted() > 0 && counter.counted() <= running);
    }

    #[test]
    fn running_count_of_text_without_breaks_stays_bounded() {
        let mut counter = TokenCounter::default();
        for _ in 0..1_000 {
            counter.push(&"x".repeat(1_000));
            assert!(counter.pending.len() < 2 * COUNTER_BATCH);
        }
        let big = "y".repeat(COUNTER_BIG_PIECE + 4);
        let before = counter.total();
        counter.push(&big);
        assert_eq!(counter.total() - before, (big.len() as u64).div_ceil(4));
    }
}
