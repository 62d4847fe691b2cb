//! A pure, incremental decoder for Server-Sent Events (the framing of every upstream stream).
//!
//! Owns the byte-level part of reading an upstream body: splitting it into lines and events
//! exactly as the WHATWG `EventSource` rules (and the Anthropic TS SDK) do,
//! whatever way the transport happened to chop the bytes. It knows nothing of JSON or of any
//! provider; [`crate::dialect::chat::stream`] builds on it.
//!
//! Decisions, so callers need not read the code:
//! - **Line endings**: `\n`, `\r\n` and a lone `\r` all end a line, also when a `\r\n` pair is
//!   split between two pushes. A UTF-8 byte-order mark at the very start is dropped.
//! - **Fields**: `event` and `data` are kept; one space after the colon is stripped; a line
//!   with no colon is a field with an empty value; several `data:` lines are joined with
//!   `\n`; `id:`, `retry:`, unknown fields and comment lines (starting with `:`, e.g.
//!   `: OPENROUTER PROCESSING` or `: ping - 2025-…`) are ignored. A blank line dispatches the
//!   event; an event with no `data:` line at all is dropped (as browsers do).
//! - **UTF-8** is decoded per complete line, *lossily*: bytes that are not UTF-8 become
//!   U+FFFD. A chunk split inside a multi-byte character is harmless because bytes are kept
//!   until their line is complete. Lossy decoding never fails a stream for one bad byte; the
//!   JSON layer above still sees whatever text survived.
//! - **End of stream**: [`SseDecoder::finish`] delivers a final event that was not followed by
//!   a blank line (and a final line with no line ending), instead of dropping it. Some
//!   servers end with `data: [DONE]` and no trailing newline; a cut-off JSON line is then
//!   delivered as it is and fails to parse one layer up, which reports it.
//! - **Size bound**: one event (its field lines plus a partial line) may not exceed
//!   [`SseDecoder::DEFAULT_MAX_EVENT_BYTES`] (16 MiB, configurable). Past it, `push` returns
//!   [`SseError::EventTooLarge`] and the decoder stays failed: a server that never sends a
//!   newline cannot grow memory without limit.
//! - **Speed**: complete lines are read straight from the pushed slice; only a trailing
//!   partial line is copied. The line-end search goes eight bytes at a time.

use std::fmt;

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name, if the event had one (OpenAI-style streams have none).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// A single event (or line) grew past the limit without being terminated.
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => write!(
                f,
                "an upstream stream event grew past {} MiB without ending",
                limit / (1024 * 1024)
            ),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental SSE decoder: push bytes as they arrive, collect complete events.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    /// Bytes of a line not yet terminated.
    partial: Vec<u8>,
    /// The pending event's `event:` name.
    event: Option<String>,
    /// The pending event's data (lines joined with `\n`).
    data: String,
    /// Whether the pending event has had a `data:` line.
    has_data: bool,
    /// Bytes counted against the limit for the pending event.
    event_bytes: usize,
    /// The previous line ended with `\r`: a `\n` right after it belongs to that line end.
    skip_lf: bool,
    /// No line has been completed yet (a leading BOM is still possible).
    at_start: bool,
    /// The limit on one event's size.
    max_event_bytes: usize,
    /// Set once the limit was hit; the decoder then refuses further input.
    failed: Option<SseError>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// The default bound on one event: 16 MiB.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

    /// A decoder with the default 16 MiB event limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(Self::DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder whose events may be at most `limit` bytes (field lines plus line endings).
    pub fn with_max_event_bytes(limit: usize) -> Self {
        SseDecoder {
            partial: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            event_bytes: 0,
            skip_lf: false,
            at_start: true,
            max_event_bytes: limit,
            failed: None,
        }
    }

    /// Decodes `bytes` (any split of the stream) and appends every event completed by them to
    /// `out`. Events completed before an error are still appended; after an error every call
    /// returns the same error and decodes nothing.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.skip_lf
            && let Some((&first, rest)) = bytes.split_first()
        {
            self.skip_lf = false;
            if first == b'\n' {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            let Some(end) = find_eol(bytes) else {
                // No line end: keep the bytes until one arrives.
                self.charge(bytes.len())?;
                self.partial.extend_from_slice(bytes);
                return Ok(());
            };
            let line_end_len = if bytes[end] == b'\r' {
                match bytes.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => {
                        self.skip_lf = true;
                        1
                    }
                }
            } else {
                1
            };
            self.charge(end + line_end_len)?;
            if self.partial.is_empty() {
                self.line(&bytes[..end], out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&bytes[..end]);
                self.line(&line, out);
                line.clear();
                self.partial = line;
            }
            bytes = &bytes[end + line_end_len..];
        }
        Ok(())
    }

    /// The stream ended: a final line without a line ending is processed, and an event not
    /// followed by a blank line is still delivered (see the module doc).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out);
        }
        self.dispatch(out);
        self.skip_lf = false;
        Ok(())
    }

    /// Whether bytes of an unfinished line or event are pending (what [`finish`](Self::finish)
    /// would still deliver or drop): at EOF, a sign the stream was cut mid-event.
    pub fn has_pending(&self) -> bool {
        !self.partial.is_empty() || self.has_data
    }

    /// Counts `n` more bytes against the current event's limit.
    fn charge(&mut self, n: usize) -> Result<(), SseError> {
        self.event_bytes = self.event_bytes.saturating_add(n);
        if self.event_bytes > self.max_event_bytes {
            let err = SseError::EventTooLarge {
                limit: self.max_event_bytes,
            };
            self.failed = Some(err.clone());
            self.partial = Vec::new();
            self.data = String::new();
            return Err(err);
        }
        Ok(())
    }

    /// Handles one complete line (without its line ending).
    fn line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if self.at_start {
            self.at_start = false;
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&utf8_lossy(value));
            }
            b"event" => self.event = Some(utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    /// A blank line (or the end): hands over the pending event, if it has data.
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.event_bytes = 0;
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

/// `bytes` as text, invalid UTF-8 replaced with U+FFFD: the plain validation first, which is
/// several times faster than the lossy decoder on the valid text every stream carries.
fn utf8_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The position of the first `\n` or `\r` in `bytes`, eight bytes at a time.
fn find_eol(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LF: u64 = LO * b'\n' as u64;
    const CR: u64 = LO * b'\r' as u64;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        if has_zero(v ^ LF) | has_zero(v ^ CR) != 0 {
            break;
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|p| p + offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            dec.push(chunk, &mut out).unwrap();
        }
        dec.finish(&mut out).unwrap();
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn basic_fields_comments_and_multiline_data() {
        let input = b": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\nevent: error\ndata: x\ndata:  y\nid: 7\nretry: 10\n\n: ping - 2025-01-01 00:00:00.000000+00:00\n\n";
        assert_eq!(
            decode_all(&[input]),
            vec![ev(None, "{\"a\":1}"), ev(Some("error"), "x\n y")]
        );
    }

    #[test]
    fn all_line_endings_are_equivalent() {
        let lf = decode_all(&[b"data: a\n\ndata: b\ndata: c\n\n"]);
        let crlf = decode_all(&[b"data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n"]);
        let cr = decode_all(&[b"data: a\r\rdata: b\rdata: c\r\r"]);
        assert_eq!(lf, vec![ev(None, "a"), ev(None, "b\nc")]);
        assert_eq!(lf, crlf);
        assert_eq!(lf, cr);
    }

    #[test]
    fn crlf_split_between_pushes_is_one_line_end() {
        let out = decode_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r", b"\r"]);
        assert_eq!(out, vec![ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn utf8_split_mid_character_and_invalid_bytes() {
        let text = "data: héllo 🌍\n\n".as_bytes();
        for cut in 0..text.len() {
            assert_eq!(
                decode_all(&[&text[..cut], &text[cut..]]),
                vec![ev(None, "héllo 🌍")]
            );
        }
        assert_eq!(
            decode_all(&[b"data: a\xFFb\n\n"]),
            vec![ev(None, "a\u{FFFD}b")]
        );
    }

    #[test]
    fn no_colon_empty_data_and_events_without_data() {
        let out = decode_all(&[b"data\n\nevent: x\n\ndata:\n\n"]);
        assert_eq!(out, vec![ev(None, ""), ev(None, "")]);
    }

    #[test]
    fn bom_is_dropped_only_at_start() {
        let out = decode_all(&[b"\xEF\xBB\xBFdata: a\n\n"]);
        assert_eq!(out, vec![ev(None, "a")]);
        let out = decode_all(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]);
        assert_eq!(out, vec![ev(None, "a")]);
    }

    #[test]
    fn unterminated_final_event_is_delivered_at_eof() {
        assert_eq!(decode_all(&[b"data: [DONE]"]), vec![ev(None, "[DONE]")]);
        assert_eq!(decode_all(&[b"data: [DONE]\n"]), vec![ev(None, "[DONE]")]);
        assert_eq!(decode_all(&[b": only a comment"]), vec![]);
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        dec.push(b"data: a\n\ndata: b", &mut out).unwrap();
        assert!(dec.has_pending());
        dec.push(b"\n", &mut out).unwrap();
        assert!(dec.has_pending());
        dec.push(b"\n", &mut out).unwrap();
        assert!(!dec.has_pending());
    }

    #[test]
    fn oversized_event_fails_and_stays_failed() {
        let mut dec = SseDecoder::with_max_event_bytes(64);
        let mut out = Vec::new();
        dec.push(b"data: ok\n\n", &mut out).unwrap();
        let long = [b'x'; 40];
        dec.push(&long, &mut out).unwrap();
        assert_eq!(
            dec.push(&long, &mut out),
            Err(SseError::EventTooLarge { limit: 64 })
        );
        assert!(dec.push(b"\n\n", &mut out).is_err());
        assert!(dec.finish(&mut out).is_err());
        assert_eq!(out, vec![ev(None, "ok")]);
        // Many short lines in one event count too.
        let mut dec = SseDecoder::with_max_event_bytes(64);
        let lines = b"data: 0123456789\n".repeat(10);
        assert!(dec.push(&lines, &mut out).is_err());
    }

    #[test]
    fn find_eol_matches_naive_search() {
        for len in 0..40 {
            for pos in 0..=len {
                let mut bytes = vec![b'a'; len];
                if pos < len {
                    bytes[pos] = if pos % 2 == 0 { b'\n' } else { b'\r' };
                }
                let naive = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
                assert_eq!(find_eol(&bytes), naive, "len {len} pos {pos}");
            }
        }
        assert_eq!(find_eol(&[0x8A, 0x0A]), Some(1));
        assert_eq!(
            find_eol(&[0x0B, 0x0C, 0x0E, 0x8D, 0, 0, 0, 0, 0x0D]),
            Some(8)
        );
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            input in proptest::collection::vec(
                prop_oneof![
                    Just(b"data: ".to_vec()), Just(b"\n".to_vec()), Just(b"\r".to_vec()),
                    Just(b"\r\n".to_vec()), Just(b": c".to_vec()), Just(b"event: e".to_vec()),
                    Just("é🌍".as_bytes().to_vec()), Just(b"x".to_vec()), Just(b":".to_vec()),
                    Just(b" ".to_vec()), Just(b"\xEF\xBB\xBF".to_vec()),
                ],
                0..60,
            ).prop_map(|parts| parts.concat()),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let whole = decode_all(&[&input]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts {
                chunks.push(&input[prev..c]);
                prev = c;
            }
            chunks.push(&input[prev..]);
            prop_assert_eq!(decode_all(&chunks), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let mut dec = SseDecoder::with_max_event_bytes(100);
            let mut out = Vec::new();
            for chunk in &chunks {
                let _ = dec.push(chunk, &mut out);
            }
            let _ = dec.finish(&mut out);
        }
    }

    /// `cargo test --release --lib sse_throughput -- --nocapture`
    #[test]
    fn sse_throughput() {
        let event = b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},\"finish_reason\":null}]}\n\n";
        let body = event.repeat(10_000);
        let mut out = Vec::with_capacity(10_000);
        let start = std::time::Instant::now();
        let mut events = 0usize;
        while start.elapsed().as_millis() < 200 {
            let mut dec = SseDecoder::new();
            for chunk in body.chunks(1500) {
                dec.push(chunk, &mut out).unwrap();
            }
            dec.finish(&mut out).unwrap();
            events += out.len();
            out.clear();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "sse_throughput: {:.2} M events/s ({:.0} MB/s)",
            events as f64 / secs / 1e6,
            (events * event.len()) as f64 / secs / 1e6
        );
        assert!(events >= 10_000);
    }
}
