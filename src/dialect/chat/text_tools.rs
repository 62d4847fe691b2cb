//! Tool calls a model wrote as text, recovered into tool calls while the answer streams.
//!
//! Models served without a tool-call parser (a local server whose chat template or settings
//! do not parse them) write their calls into the answer text in their own training format:
//!
//! - Hermes / Qwen 2.5: `<tool_call>{"name": "Bash", "arguments": {…}}</tool_call>`;
//! - Qwen3-Coder: `<tool_call><function=Bash><parameter=command>ls</parameter></function></tool_call>`,
//!   also without the `<tool_call>` wrapper;
//! - Mistral: `[TOOL_CALLS][{"name": "Bash", "arguments": {…}}]`, or
//!   `[TOOL_CALLS]Bash[ARGS]{…}` in newer templates;
//! - bare JSON: an answer that starts with `{"name": "Bash", "arguments": {…}}`.
//!
//! [`TextTools`] is a pure state machine over the text deltas: text that cannot be the start
//! of a call passes at once; from a possible opening (a prefix of `<tool_call>`, `<function=`
//! or `[TOOL_CALLS]`, or a `{` that starts the answer) the text is held back until it is
//! either a complete call — which comes out as a [`Piece::Call`] — or surely not one, and
//! then released exactly as it was written. Only calls to a tool the request offered are
//! recovered; anything else stays text. What it holds is bounded
//! ([`MAX_HELD_BYTES`]): past that it is released as text.

use serde_json::{Map, Value};

/// The most text held back while a possible call is still open.
pub const MAX_HELD_BYTES: usize = 1 << 20;

const TOOL_CALL_OPEN: &str = "<tool_call>";
const TOOL_CALL_CLOSE: &str = "</tool_call>";
const FUNCTION_OPEN: &str = "<function=";
const FUNCTION_CLOSE: &str = "</function>";
const MISTRAL_OPEN: &str = "[TOOL_CALLS]";
const OPENINGS: [&str; 3] = [TOOL_CALL_OPEN, FUNCTION_OPEN, MISTRAL_OPEN];

/// What comes out of the recogniser, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Answer text, unchanged.
    Text(String),
    /// A recovered call: the tool's name and its arguments as a JSON object's text.
    Call {
        /// The tool's name as the model wrote it.
        name: String,
        /// The arguments, a JSON object.
        arguments: String,
    },
}

/// The recogniser of one answer's text (see the module doc).
#[derive(Debug, Clone)]
pub struct TextTools {
    /// The tools the request offered: only calls to these are recovered.
    known: Vec<String>,
    /// Text held back: a possible call from its first byte.
    held: String,
    /// Whether any text has gone out (a bare JSON call must start the answer).
    started: bool,
}

/// What the held text is.
enum Scan {
    /// Complete calls spanning `held[..end]`.
    Calls(Vec<(String, String)>, usize),
    /// Surely not a call: release `held[..n]` as text.
    NotACall(usize),
    /// Could still become a call: keep holding.
    Open,
}

impl TextTools {
    /// A recogniser for an answer to a request that offered the tools named `known`.
    pub fn new(known: Vec<String>) -> Self {
        TextTools {
            known,
            held: String::new(),
            started: false,
        }
    }

    /// Whether any text is being held back.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Feeds the next piece of answer text.
    pub fn push(&mut self, text: &str, out: &mut Vec<Piece>) {
        self.held.push_str(text);
        self.drain(false, out);
    }

    /// The answer's text ended: whatever is still held is either a complete call (a model
    /// may stop without the closing tag) or text.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        self.drain(true, out);
        if !self.held.is_empty() {
            let rest = std::mem::take(&mut self.held);
            self.emit_text(rest, out);
        }
    }

    fn emit_text(&mut self, text: String, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        if !text.trim().is_empty() {
            self.started = true;
        }
        match out.last_mut() {
            Some(Piece::Text(t)) => t.push_str(&text),
            _ => out.push(Piece::Text(text)),
        }
    }

    fn drain(&mut self, at_end: bool, out: &mut Vec<Piece>) {
        loop {
            // Text before the first possible opening goes out at once.
            let start = self.opening_start();
            if start > 0 {
                let rest = self.held.split_off(start);
                let text = std::mem::replace(&mut self.held, rest);
                self.emit_text(text, out);
            }
            if self.held.is_empty() {
                return;
            }
            let scan = if self.held.len() > MAX_HELD_BYTES {
                Scan::NotACall(self.held.len())
            } else {
                self.scan(at_end)
            };
            match scan {
                Scan::Calls(calls, end) => {
                    self.held.drain(..end);
                    self.started = true;
                    out.extend(
                        calls
                            .into_iter()
                            .map(|(name, arguments)| Piece::Call { name, arguments }),
                    );
                }
                Scan::NotACall(n) => {
                    // At least one character goes, so the scan moves on.
                    let n = n.max(first_char_len(&self.held));
                    let rest = self.held.split_off(n);
                    let text = std::mem::replace(&mut self.held, rest);
                    self.emit_text(text, out);
                }
                Scan::Open => return,
            }
        }
    }

    /// Where in `held` a call could start: the first full opening, a trailing prefix of
    /// one, or (before any text) a leading `{`; `held.len()` when nowhere.
    fn opening_start(&self) -> usize {
        let held = &self.held;
        if !self.started {
            let trimmed = held.trim_start();
            if trimmed.starts_with('{') {
                return held.len() - trimmed.len();
            }
            if trimmed.is_empty() {
                return held.len(); // whitespace only: nothing to hold
            }
        }
        let full = OPENINGS.iter().filter_map(|o| held.find(o)).min();
        if let Some(at) = full {
            return at;
        }
        // A suffix that is a proper prefix of an opening ("<tool_c", "[TOOL").
        let longest = OPENINGS.iter().map(|o| o.len()).max().unwrap_or(0);
        let from = held.len().saturating_sub(longest - 1);
        (from..held.len())
            .filter(|&i| held.is_char_boundary(i))
            .find(|&i| OPENINGS.iter().any(|o| o.starts_with(&held[i..])))
            .unwrap_or(held.len())
    }

    /// Reads the call that `held` starts with.
    fn scan(&self, at_end: bool) -> Scan {
        let held = self.held.as_str();
        if let Some(body) = held.strip_prefix(TOOL_CALL_OPEN) {
            let (inner, end) = match body.find(TOOL_CALL_CLOSE) {
                Some(close) => (
                    &body[..close],
                    TOOL_CALL_OPEN.len() + close + TOOL_CALL_CLOSE.len(),
                ),
                None if at_end => (body, held.len()),
                None => return Scan::Open,
            };
            return match self.parse_inner(inner) {
                Some(calls) => Scan::Calls(calls, end),
                None => Scan::NotACall(TOOL_CALL_OPEN.len()),
            };
        }
        if held.starts_with(FUNCTION_OPEN) {
            let (inner, end) = match held.find(FUNCTION_CLOSE) {
                Some(close) => (
                    &held[..close + FUNCTION_CLOSE.len()],
                    close + FUNCTION_CLOSE.len(),
                ),
                None if at_end => (held, held.len()),
                None => return Scan::Open,
            };
            return match self.parse_functions(inner) {
                Some(calls) => Scan::Calls(calls, end),
                None => Scan::NotACall(FUNCTION_OPEN.len()),
            };
        }
        if let Some(body) = held.strip_prefix(MISTRAL_OPEN) {
            return match self.scan_mistral(body, at_end) {
                Scan::Calls(calls, end) => Scan::Calls(calls, MISTRAL_OPEN.len() + end),
                Scan::NotACall(_) => Scan::NotACall(MISTRAL_OPEN.len()),
                Scan::Open => Scan::Open,
            };
        }
        if OPENINGS.iter().any(|o| o.starts_with(held)) {
            // Only the start of an opening so far.
            return if at_end {
                Scan::NotACall(held.len())
            } else {
                Scan::Open
            };
        }
        let lead = held.len() - held.trim_start().len();
        if !self.started && held[lead..].starts_with('{') {
            return match json_end(&held[lead..]) {
                Some(end) => match self.calls_in(&held[lead..lead + end]) {
                    Some(calls) => Scan::Calls(calls, lead + end),
                    None => Scan::NotACall(lead + end),
                },
                None if at_end => Scan::NotACall(held.len()),
                None => Scan::Open,
            };
        }
        Scan::NotACall(first_char_len(held))
    }

    /// The inside of `<tool_call>…</tool_call>`: JSON call(s) or Qwen3-Coder functions.
    fn parse_inner(&self, inner: &str) -> Option<Vec<(String, String)>> {
        let inner = inner.trim();
        if inner.starts_with(FUNCTION_OPEN) {
            return self.parse_functions(inner);
        }
        self.calls_in(inner)
    }

    /// After `[TOOL_CALLS]`: a JSON list (or object) of calls, or `NAME[ARGS]{…}`.
    fn scan_mistral(&self, body: &str, at_end: bool) -> Scan {
        let lead = body.len() - body.trim_start().len();
        let rest = &body[lead..];
        if rest.is_empty() {
            return if at_end {
                Scan::NotACall(0)
            } else {
                Scan::Open
            };
        }
        if rest.starts_with('[') || rest.starts_with('{') {
            return match json_end(rest) {
                Some(end) => match self.calls_in(&rest[..end]) {
                    Some(calls) => Scan::Calls(calls, lead + end),
                    None => Scan::NotACall(0),
                },
                None if at_end => Scan::NotACall(0),
                None => Scan::Open,
            };
        }
        const ARGS: &str = "[ARGS]";
        let Some(args_at) = rest.find(ARGS) else {
            // A name is one word; anything else is text.
            let name_so_far = rest.split('[').next().unwrap_or(rest);
            return if at_end || name_so_far.contains(char::is_whitespace) {
                Scan::NotACall(0)
            } else {
                Scan::Open
            };
        };
        // `NAME[CALL_ID]id[ARGS]{…}` in some templates.
        let name = rest[..args_at].split('[').next().unwrap_or("").trim();
        let json = &rest[args_at + ARGS.len()..];
        let json_lead = json.len() - json.trim_start().len();
        match json_end(&json[json_lead..]) {
            Some(end) => {
                let arguments = &json[json_lead..json_lead + end];
                match self.call(name, serde_json::from_str(arguments).ok()) {
                    Some(call) => {
                        Scan::Calls(vec![call], lead + args_at + ARGS.len() + json_lead + end)
                    }
                    None => Scan::NotACall(0),
                }
            }
            None if at_end => Scan::NotACall(0),
            None => Scan::Open,
        }
    }

    /// One or more `<function=NAME><parameter=K>v</parameter>…</function>`, nothing else
    /// but whitespace between them.
    fn parse_functions(&self, mut text: &str) -> Option<Vec<(String, String)>> {
        let mut calls = Vec::new();
        loop {
            text = text.trim_start();
            if text.is_empty() {
                break;
            }
            let after = text.strip_prefix(FUNCTION_OPEN)?;
            let name_end = after.find('>')?;
            let name = after[..name_end].trim();
            let mut body = &after[name_end + 1..];
            let close = body.find(FUNCTION_CLOSE);
            let rest_after = close.map_or("", |c| &body[c + FUNCTION_CLOSE.len()..]);
            body = close.map_or(body, |c| &body[..c]);
            let mut args = Map::new();
            let mut params = body.trim();
            while !params.is_empty() {
                let p = params.strip_prefix("<parameter=")?;
                let key_end = p.find('>')?;
                let key = p[..key_end].trim();
                let value_and_rest = &p[key_end + 1..];
                let (value, next) = match value_and_rest.find("</parameter>") {
                    Some(end) => (
                        &value_and_rest[..end],
                        &value_and_rest[end + "</parameter>".len()..],
                    ),
                    // The last parameter may lack its closing tag.
                    None => (value_and_rest, ""),
                };
                args.insert(key.to_owned(), parameter_value(value));
                params = next.trim();
            }
            calls.push(self.call(name, Some(Value::Object(args)))?);
            text = rest_after;
        }
        (!calls.is_empty()).then_some(calls)
    }

    /// JSON call(s): an object `{"name", "arguments"|"parameters"}` (or OpenAI's
    /// `{"function": {…}}`), or a list of them.
    fn calls_in(&self, json: &str) -> Option<Vec<(String, String)>> {
        let value: Value = serde_json::from_str(json).ok()?;
        let items = match value {
            Value::Array(items) if !items.is_empty() => items,
            object @ Value::Object(_) => vec![object],
            _ => return None,
        };
        items
            .into_iter()
            .map(|item| {
                let item = match item.get("function") {
                    Some(f) if f.is_object() => f.clone(),
                    _ => item,
                };
                let name = item.get("name")?.as_str()?.to_owned();
                let args = ["arguments", "parameters", "input"]
                    .iter()
                    .find_map(|k| item.get(*k).cloned());
                let args = match args {
                    Some(Value::String(s)) => Some(serde_json::from_str(&s).ok()?),
                    None => Some(Value::Object(Map::new())),
                    other => other,
                };
                self.call(&name, args)
            })
            .collect()
    }

    /// A call to a known tool with object arguments.
    fn call(&self, name: &str, args: Option<Value>) -> Option<(String, String)> {
        let name = name.trim();
        if name.is_empty() || !self.known.iter().any(|k| k == name) {
            return None;
        }
        match args? {
            object @ Value::Object(_) => Some((name.to_owned(), object.to_string())),
            _ => None,
        }
    }
}

/// A whole `chat.completion` body with the tool calls written in its text recovered into
/// `tool_calls` (and the text left around them as its content); `None` when it has none
/// (or is not a completion), to be read as it is.
pub fn recover_in_completion(body: &[u8], known: Vec<String>) -> Option<Vec<u8>> {
    let mut completion: Value = serde_json::from_slice(body).ok()?;
    let choice = completion.get_mut("choices")?.as_array_mut()?.first_mut()?;
    let message = choice.get_mut("message")?;
    let content = message.get("content")?.as_str()?.to_owned();
    let mut t = TextTools::new(known);
    let mut pieces = Vec::new();
    t.push(&content, &mut pieces);
    t.finish(&mut pieces);
    if !pieces.iter().any(|p| matches!(p, Piece::Call { .. })) {
        return None;
    }
    let mut text = String::new();
    let mut calls = match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls.clone(),
        _ => Vec::new(),
    };
    for piece in pieces {
        match piece {
            Piece::Text(t) => text.push_str(&t),
            Piece::Call { name, arguments } => calls.push(serde_json::json!({
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            })),
        }
    }
    message["content"] = Value::String(text.trim().to_owned());
    message["tool_calls"] = Value::Array(calls);
    serde_json::to_vec(&completion).ok()
}

/// A Qwen3-Coder parameter's value: one newline around it is framing; a JSON number,
/// boolean, object or list is that value, anything else a string.
fn parameter_value(raw: &str) -> Value {
    let v = raw.strip_prefix('\n').unwrap_or(raw);
    let v = v.strip_suffix('\n').unwrap_or(v);
    let t = v.trim();
    let structured = t.starts_with('{')
        || t.starts_with('[')
        || t == "true"
        || t == "false"
        || t.parse::<f64>().is_ok_and(f64::is_finite);
    if structured && let Ok(value) = serde_json::from_str::<Value>(t) {
        return value;
    }
    Value::String(v.to_owned())
}

/// The byte length of the first complete JSON object or list `s` starts with (strings and
/// escapes respected), `None` while it is still open.
fn json_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn first_char_len(s: &str) -> usize {
    s.chars().next().map_or(0, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::Rng;
    use proptest::prelude::*;

    fn known() -> Vec<String> {
        vec!["Bash".into(), "Read".into()]
    }

    /// Runs `pieces` through a recogniser and merges neighbouring text.
    fn run(pieces: &[&str]) -> Vec<Piece> {
        let mut t = TextTools::new(known());
        let mut out = Vec::new();
        for p in pieces {
            t.push(p, &mut out);
        }
        t.finish(&mut out);
        merge(out)
    }

    fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
                (_, Piece::Text(b)) if b.is_empty() => {}
                (_, p) => out.push(p),
            }
        }
        out
    }

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }

    fn call(name: &str, args: &str) -> Piece {
        Piece::Call {
            name: name.into(),
            arguments: args.into(),
        }
    }

    /// Each case: the model's text, and what must come out of it. Every one is also
    /// checked split at every byte and in random chunkings.
    fn cases() -> Vec<(&'static str, Vec<Piece>)> {
        vec![
            ("plain text, no call", vec![text("plain text, no call")]),
            (
                "Let me look.\n<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n</tool_call>",
                vec![
                    text("Let me look.\n"),
                    call("Bash", r#"{"command":"ls -la"}"#),
                ],
            ),
            (
                "<tool_call>{\"name\": \"Read\", \"arguments\": \"{\\\"file_path\\\": \\\"/a\\\"}\"}</tool_call><tool_call>{\"name\": \"Bash\", \"parameters\": {\"command\": \"pwd\"}}</tool_call>",
                vec![
                    call("Read", r#"{"file_path":"/a"}"#),
                    call("Bash", r#"{"command":"pwd"}"#),
                ],
            ),
            (
                "<tool_call>\n<function=Bash>\n<parameter=command>\nls -la\n</parameter>\n<parameter=timeout>\n5000\n</parameter>\n</function>\n</tool_call>",
                vec![call("Bash", r#"{"command":"ls -la","timeout":5000}"#)],
            ),
            (
                "Reading.\n<function=Read>\n<parameter=file_path>\n/tmp/a b.txt\n</parameter>\n</function>",
                vec![
                    text("Reading.\n"),
                    call("Read", r#"{"file_path":"/tmp/a b.txt"}"#),
                ],
            ),
            (
                "[TOOL_CALLS][{\"name\": \"Bash\", \"arguments\": {\"command\": \"echo [x]\"}}]",
                vec![call("Bash", r#"{"command":"echo [x]"}"#)],
            ),
            (
                "[TOOL_CALLS]Bash[ARGS]{\"command\": \"echo }\"}",
                vec![call("Bash", r#"{"command":"echo }"}"#)],
            ),
            (
                "  {\"name\": \"Bash\", \"arguments\": {\"command\": \"date\"}}",
                vec![text("  "), call("Bash", r#"{"command":"date"}"#)],
            ),
            // Not calls: released exactly as written.
            (
                "{\"name\": \"Nope\", \"arguments\": {}}",
                vec![text("{\"name\": \"Nope\", \"arguments\": {}}")],
            ),
            ("{\"a\": 1} is JSON", vec![text("{\"a\": 1} is JSON")]),
            (
                "x {\"name\": \"Bash\", \"arguments\": {}}",
                vec![text("x {\"name\": \"Bash\", \"arguments\": {}}")],
            ),
            (
                "Use <tool_call> tags, like <tool_call>this</tool_call>.",
                vec![text(
                    "Use <tool_call> tags, like <tool_call>this</tool_call>.",
                )],
            ),
            (
                "a < b and <func and [TOOL",
                vec![text("a < b and <func and [TOOL")],
            ),
            (
                "[TOOL_CALLS] are how Mistral calls",
                vec![text("[TOOL_CALLS] are how Mistral calls")],
            ),
            (
                "<function=Unknown><parameter=x>1</parameter></function>",
                vec![text(
                    "<function=Unknown><parameter=x>1</parameter></function>",
                )],
            ),
            ("é🌍<tool_c", vec![text("é🌍<tool_c")]),
            // A call whose closing tag never came is still a call.
            (
                "<tool_call>{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}}",
                vec![call("Bash", r#"{"command":"ls"}"#)],
            ),
            // An unfinished call is text.
            (
                "<tool_call>{\"name\": \"Bash\", \"argu",
                vec![text("<tool_call>{\"name\": \"Bash\", \"argu")],
            ),
            (
                "Done: <tool_call>{\"name\":\"Bash\",\"arguments\":{\"command\":\"ls\"}}</tool_call> and after.",
                vec![
                    text("Done: "),
                    call("Bash", r#"{"command":"ls"}"#),
                    text(" and after."),
                ],
            ),
        ]
    }

    #[test]
    fn calls_are_recovered_and_other_text_released_unchanged() {
        for (input, want) in cases() {
            assert_eq!(run(&[input]), want, "{input}");
            let bytes = input.as_bytes();
            // Split at every character boundary.
            for cut in (0..=bytes.len()).filter(|&c| input.is_char_boundary(c)) {
                assert_eq!(
                    run(&[&input[..cut], &input[cut..]]),
                    want,
                    "{input} cut at {cut}"
                );
            }
            // One character at a time.
            let chars: Vec<String> = input.chars().map(String::from).collect();
            let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
            assert_eq!(run(&refs), want, "{input} char by char");
            // Random chunkings (at character boundaries).
            let mut rng = Rng(0x5eed ^ bytes.len() as u64);
            for _ in 0..50 {
                let mut pieces = Vec::new();
                let mut rest = input;
                while !rest.is_empty() {
                    let mut n = (1 + rng.below(8)).min(rest.len());
                    while !rest.is_char_boundary(n) {
                        n += 1;
                    }
                    let (a, b) = rest.split_at(n);
                    pieces.push(a);
                    rest = b;
                }
                assert_eq!(run(&pieces), want, "{input} in {pieces:?}");
            }
        }
    }

    #[test]
    fn text_before_a_possible_opening_goes_out_at_once() {
        let mut t = TextTools::new(known());
        let mut out = Vec::new();
        t.push("Hello <tool", &mut out);
        assert_eq!(out, vec![text("Hello ")]);
        assert!(t.is_holding());
        out.clear();
        t.push("bar> x", &mut out);
        assert_eq!(out, vec![text("<toolbar> x")]);
        assert!(!t.is_holding());
    }

    #[test]
    fn what_is_held_is_bounded() {
        let mut t = TextTools::new(known());
        let mut out = Vec::new();
        t.push(
            "<tool_call>{\"name\": \"Bash\", \"arguments\": {\"command\": \"",
            &mut out,
        );
        let piece = "x".repeat(64 * 1024);
        for _ in 0..20 {
            t.push(&piece, &mut out);
        }
        assert!(t.held.len() <= MAX_HELD_BYTES);
        assert!(matches!(out.first(), Some(Piece::Text(s)) if s.starts_with("<tool_call>")));
    }

    proptest! {
        /// Whatever the text and however it is split, nothing is lost or reordered: the
        /// text pieces and the calls' source add up to the input, and a text without any
        /// call comes out unchanged.
        #[test]
        fn text_without_calls_is_unchanged(
            parts in proptest::collection::vec(prop_oneof![
                Just("<"), Just("<tool_call>"), Just("</tool_call>"), Just("<function="), Just("[TOOL_CALLS]"),
                Just("{"), Just("}"), Just("["), Just("\""), Just("Bash"), Just(" "), Just("\n"), Just("é"), Just("text"),
            ], 0..20),
            seed in any::<u64>(),
        ) {
            let input: String = parts.concat();
            let whole = run(&[&input]);
            let mut rng = Rng(seed | 1);
            let mut pieces = Vec::new();
            let mut rest = input.as_str();
            while !rest.is_empty() {
                let mut n = (1 + rng.below(6)).min(rest.len());
                while !rest.is_char_boundary(n) { n += 1; }
                let (a, b) = rest.split_at(n);
                pieces.push(a);
                rest = b;
            }
            prop_assert_eq!(run(&pieces), whole.clone());
            if whole.iter().all(|p| matches!(p, Piece::Text(_))) {
                let joined: String = whole.iter().map(|p| match p { Piece::Text(t) => t.as_str(), _ => "" }).collect();
                prop_assert_eq!(joined, input);
            }
        }
    }
}
