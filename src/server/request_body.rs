//! Reading a request body from Claude Code: its `Content-Encoding` (gzip, deflate, br and
//! zstd are decoded as they arrive), the size cap (applied to the decoded bytes, so a
//! decompression bomb stops at the cap instead of inflating), a deadline for the whole body
//! (a body that trickles is cut off), a proxy-wide budget of body bytes in flight (bounding
//! the memory many large requests can take together), and the repair of lone UTF-16
//! surrogate escapes, which JSON parsers refuse.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::anthropic::{ApiError, ErrorKind};

/// Largest request body accepted, after decoding (Anthropic's own limit).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// How long the whole body may take to arrive once its head has: Claude Code sends even a
/// maximal body over loopback in milliseconds; a body that trickles is a client gone wrong
/// or a neighbour holding a connection open.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Body bytes all requests together may hold while they are read, parsed and sent upstream
/// (a request's memory is a few times its body). Room for two maximal requests at once and
/// many ordinary ones.
pub const BODY_BUDGET: usize = 2 * MAX_BODY;

/// How long a request waits for room in the budget before it is answered 529 (overloaded,
/// which Claude Code retries).
pub const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// How much is read from the decoder at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A request body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// None (or `identity`).
    Identity,
    /// `gzip` (or `x-gzip`).
    Gzip,
    /// `deflate`: zlib-wrapped, as HTTP defines it (a raw deflate stream is accepted too).
    Deflate,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

impl Encoding {
    /// The encoding a `Content-Encoding` header names; an error message for one anyclaude
    /// cannot decode (several stacked encodings included).
    pub fn from_header(value: Option<&HeaderValue>) -> Result<Encoding, String> {
        let Some(value) = value else {
            return Ok(Encoding::Identity);
        };
        let text = value.to_str().unwrap_or("").trim();
        let mut named = text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
        let (Some(one), None) = (named.next(), named.next()) else {
            return if text.split(',').all(|e| {
                let e = e.trim();
                e.is_empty() || e.eq_ignore_ascii_case("identity")
            }) {
                Ok(Encoding::Identity)
            } else {
                Err(format!(
                    "unsupported content-encoding {text:?}: anyclaude decodes one of gzip, deflate, br or zstd"
                ))
            };
        };
        match one.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "br" => Ok(Encoding::Brotli),
            "zstd" => Ok(Encoding::Zstd),
            _ => Err(format!(
                "unsupported content-encoding {text:?}: anyclaude decodes gzip, deflate, br and zstd"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Why a body was refused: the Anthropic error, and a status of its own where Anthropic's
/// vocabulary has none (415 for an unknown encoding, 408 for a body that trickled).
#[derive(Debug)]
pub struct BodyError {
    /// What Claude Code is told.
    pub error: ApiError,
    /// The HTTP status, when not the error kind's own.
    pub status: Option<StatusCode>,
}

impl From<ApiError> for BodyError {
    fn from(error: ApiError) -> Self {
        BodyError {
            error,
            status: None,
        }
    }
}

/// The refusal of a body over [`MAX_BODY`] (before or after decoding).
pub fn too_large() -> BodyError {
    ApiError::new(
        ErrorKind::RequestTooLarge,
        format!(
            "request body over {} MiB (after decoding)",
            MAX_BODY / (1024 * 1024)
        ),
    )
    .into()
}

/// The refusal of an encoding anyclaude cannot decode.
pub fn unsupported_encoding(message: String) -> BodyError {
    BodyError {
        error: ApiError::new(ErrorKind::InvalidRequest, message),
        status: Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

/// The proxy-wide budget of request-body bytes in flight.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    room: Arc<Semaphore>,
    bytes: usize,
    wait: Duration,
}

impl BodyBudget {
    /// A budget of `bytes` (at least [`MAX_BODY`] plus a read chunk, so that any one
    /// acceptable body fits), where a request waits at most `wait` for room.
    pub fn new(bytes: usize, wait: Duration) -> BodyBudget {
        let bytes = bytes.max(MAX_BODY + 2 * READ_CHUNK);
        BodyBudget {
            room: Arc::new(Semaphore::new(bytes)),
            bytes,
            wait,
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.room.available_permits()
    }

    /// Grows `held` to `bytes`, waiting until `deadline` for room.
    async fn grow(
        &self,
        held: &mut Held,
        bytes: usize,
        deadline: Instant,
    ) -> Result<(), BodyError> {
        let bytes = bytes.min(self.bytes);
        if bytes <= held.bytes {
            return Ok(());
        }
        let more = u32::try_from(bytes - held.bytes).unwrap_or(u32::MAX);
        let permit = match self.room.clone().try_acquire_many_owned(more) {
            Ok(permit) => permit,
            Err(_) => {
                match tokio::time::timeout_at(deadline, self.room.clone().acquire_many_owned(more))
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        return Err(ApiError::new(
                            ErrorKind::Overloaded,
                            format!(
                                "anyclaude is already holding {} MiB of large requests; retry shortly",
                                self.bytes / (1024 * 1024)
                            ),
                        )
                        .into());
                    }
                }
            }
        };
        match &mut held.permit {
            Some(mine) => mine.merge(permit),
            None => held.permit = Some(permit),
        }
        held.bytes = bytes;
        Ok(())
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget::new(BODY_BUDGET, BUDGET_WAIT)
    }
}

/// A request's share of the [`BodyBudget`]; given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Held {
    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// How to read one body.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The cap on decoded bytes.
    pub max: usize,
    /// The deadline for the whole body.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max: MAX_BODY,
            timeout: BODY_TIMEOUT,
        }
    }
}

/// A failure of the connection (not of the decoder) while the body was read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(String);

/// Reads `body`, decoding `encoding`, within `limits`, holding its size in `budget`.
/// `declared` is its `Content-Length`, reserved up front. Returns the decoded bytes and the
/// budget they hold, to be kept until the request no longer needs its body.
pub async fn read<B>(
    body: B,
    encoding: Encoding,
    declared: Option<u64>,
    limits: Limits,
    budget: &BodyBudget,
) -> Result<(Bytes, Held), BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let mut body = body;
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let budget_deadline = started + budget.wait;
    let mut held = Held::default();
    if let Some(len) = declared {
        // A compressed body over the cap would decode to more still.
        if len > limits.max as u64 {
            return Err(too_large());
        }
        let room = budget
            .grow(
                &mut held,
                usize::try_from(len).unwrap_or(usize::MAX),
                budget_deadline,
            )
            .await;
        if let Err(err) = room {
            // Read the body to nothing (no memory), so that the client, still sending it,
            // gets the 529 rather than a broken connection.
            discard(&mut body, deadline, limits.max).await;
            return Err(err);
        }
    }

    let frames = body.into_data_stream().map_err(|err| {
        std::io::Error::other(Transport(format!("could not read the request body: {err}")))
    });
    let raw = tokio_util::io::StreamReader::new(frames);
    let mut reader: Pin<Box<dyn AsyncRead + Send>> = match encoding {
        Encoding::Identity => Box::pin(raw),
        Encoding::Gzip => {
            let mut d = async_compression::tokio::bufread::GzipDecoder::new(raw);
            d.multiple_members(true);
            Box::pin(d)
        }
        Encoding::Deflate => Box::pin(deflate_decoder(raw).await),
        Encoding::Brotli => Box::pin(async_compression::tokio::bufread::BrotliDecoder::new(raw)),
        Encoding::Zstd => Box::pin(async_compression::tokio::bufread::ZstdDecoder::new(raw)),
    };

    let first = declared
        .map_or(READ_CHUNK, |len| usize::try_from(len).unwrap_or(usize::MAX))
        .min(limits.max)
        + 1;
    let mut out = Vec::with_capacity(if encoding == Encoding::Identity {
        first
    } else {
        READ_CHUNK
    });
    loop {
        if out.len() > limits.max {
            return Err(too_large());
        }
        if out.capacity() - out.len() < READ_CHUNK / 4 {
            out.reserve(READ_CHUNK.max(out.len() / 2));
        }
        // Never read far past the cap: a bomb is cut off one chunk after it.
        let room = (limits.max + 1 - out.len()).min(out.capacity() - out.len());
        let mut limited = (&mut reader).take(room as u64);
        let n = match tokio::time::timeout_at(deadline, limited.read_buf(&mut out)).await {
            Ok(Ok(n)) => n,
            Ok(Err(err)) => return Err(read_error(encoding, &err)),
            Err(_) => {
                return Err(BodyError {
                    error: ApiError::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "the request body did not arrive within {}",
                            humantime::format_duration(limits.timeout)
                        ),
                    ),
                    status: Some(StatusCode::REQUEST_TIMEOUT),
                });
            }
        };
        if n == 0 {
            break;
        }
        budget.grow(&mut held, out.len(), budget_deadline).await?;
    }
    Ok((Bytes::from(out), held))
}

/// Reads and drops what is left of `body`, up to `max` bytes and until `deadline`.
async fn discard<B>(body: &mut B, deadline: Instant, max: usize)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let mut seen = 0usize;
    while seen <= max {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, Bytes::len);
            }
            _ => return,
        }
    }
}

/// HTTP's `deflate` is a zlib stream, but some clients send raw deflate: the first two bytes
/// tell them apart (a zlib header is a multiple of 31 with method 8).
async fn deflate_decoder<R>(mut raw: R) -> Box<dyn AsyncRead + Send + Unpin>
where
    R: tokio::io::AsyncBufRead + Send + Unpin + 'static,
{
    use tokio::io::AsyncBufReadExt;
    let zlib = match raw.fill_buf().await {
        Ok(head) if head.len() >= 2 => {
            head[0] & 0x0f == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0
        }
        _ => true,
    };
    if zlib {
        Box::new(async_compression::tokio::bufread::ZlibDecoder::new(raw))
    } else {
        Box::new(async_compression::tokio::bufread::DeflateDecoder::new(
            BufReader::new(raw),
        ))
    }
}

fn read_error(encoding: Encoding, err: &std::io::Error) -> BodyError {
    let transport = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Transport>());
    let message = match transport {
        Some(t) => t.to_string(),
        None => format!(
            "the request body is not valid {} data: {err}",
            encoding.name()
        ),
    };
    ApiError::new(ErrorKind::InvalidRequest, message).into()
}

/// Whether `json` may hold a surrogate escape (`\ud800`–`\udfff`): the cheap check that
/// keeps [`repair_lone_surrogates`] off the hot path of ordinary requests.
pub fn may_hold_surrogate(json: &[u8]) -> bool {
    memchr::memmem::find_iter(json, b"\\u")
        .any(|at| json.get(at + 2).is_some_and(|c| c | 0x20 == b'd'))
}

/// Replaces every lone surrogate escape in the JSON text `json` — a high one (`\ud800`–
/// `\udbff`) not followed by a low one, or a low one (`\udc00`–`\udfff`) not preceded by a
/// high one — with `\ufffd` (U+FFFD, the replacement character), in place: the escapes have
/// the same length. What a UTF-16 slice through an emoji leaves behind; JSON parsers refuse
/// it. Returns how many were replaced. Escaped backslashes (`\\ud83d` is text, not an
/// escape) are told apart by reading escapes in order.
pub fn repair_lone_surrogates(json: &mut [u8]) -> usize {
    let mut replaced = 0;
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'\\', &json[at..]) {
        let slash = at + found;
        if json.get(slash + 1) != Some(&b'u') {
            // Any other escape is two bytes (the parser reports bad ones).
            at = slash + 2;
            continue;
        }
        let Some(unit) = hex4(json, slash + 2) else {
            at = slash + 2;
            continue;
        };
        at = slash + 6;
        match unit {
            0xd800..=0xdbff => {
                let paired = json.get(slash + 6) == Some(&b'\\')
                    && json.get(slash + 7) == Some(&b'u')
                    && hex4(json, slash + 8).is_some_and(|low| (0xdc00..=0xdfff).contains(&low));
                if paired {
                    at = slash + 12;
                } else {
                    json[slash..slash + 6].copy_from_slice(b"\\ufffd");
                    replaced += 1;
                }
            }
            0xdc00..=0xdfff => {
                json[slash..slash + 6].copy_from_slice(b"\\ufffd");
                replaced += 1;
            }
            _ => {}
        }
    }
    replaced
}

fn hex4(json: &[u8], at: usize) -> Option<u16> {
    let digits = json.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http_body_util::Full;

    use super::*;

    fn repaired(text: &str) -> (String, usize) {
        let mut bytes = text.as_bytes().to_vec();
        let n = repair_lone_surrogates(&mut bytes);
        (String::from_utf8(bytes).unwrap(), n)
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let cases: &[(&str, &str, usize)] = &[
            (r#""a\ud83d""#, r#""a\ufffd""#, 1),
            (r#""\uD83Db""#, r#""\ufffdb""#, 1),
            (r#""\ude00x""#, r#""\ufffdx""#, 1),
            // A pair stays.
            (r#""\ud83d\ude00""#, r#""\ud83d\ude00""#, 0),
            (r#""\uD83D\uDE00""#, r#""\uD83D\uDE00""#, 0),
            // Two highs: the first is lone, the second pairs.
            (r#""\ud83d\ud83d\ude00""#, r#""\ufffd\ud83d\ude00""#, 1),
            // A high before a non-surrogate escape.
            (r#""\ud83d\u0041""#, r#""\ufffd\u0041""#, 1),
            // An escaped backslash: text, not an escape.
            (r#""\\ud83d""#, r#""\\ud83d""#, 0),
            (r#""\\\ud83d""#, r#""\\\ufffd""#, 1),
            // At the very end, cut.
            (r#""\ud8"#, r#""\ud8"#, 0),
            (r#""\n\u00e9\"\ud800""#, r#""\n\u00e9\"\ufffd""#, 1),
        ];
        for (input, want, count) in cases {
            assert_eq!(repaired(input), ((*want).to_owned(), *count), "{input}");
            if *count > 0 {
                assert!(may_hold_surrogate(input.as_bytes()), "{input}");
                let (fixed, _) = repaired(input);
                let parsed: serde_json::Value = serde_json::from_str(&fixed).unwrap();
                assert!(parsed.as_str().unwrap().contains('\u{fffd}'), "{input}");
            }
        }
        assert!(!may_hold_surrogate(br#"{"a":"\u00e9 plain"}"#));
    }

    #[test]
    fn encodings_are_named() {
        let h = |v: &str| Encoding::from_header(Some(&HeaderValue::from_str(v).unwrap()));
        assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
        assert_eq!(h("gzip"), Ok(Encoding::Gzip));
        assert_eq!(h("GZIP"), Ok(Encoding::Gzip));
        assert_eq!(h("x-gzip"), Ok(Encoding::Gzip));
        assert_eq!(h("br"), Ok(Encoding::Brotli));
        assert_eq!(h("zstd"), Ok(Encoding::Zstd));
        assert_eq!(h("deflate"), Ok(Encoding::Deflate));
        assert_eq!(h("identity"), Ok(Encoding::Identity));
        assert_eq!(h("identity, gzip"), Ok(Encoding::Gzip));
        assert!(h("compress").unwrap_err().contains("compress"));
        assert!(h("gzip, br").is_err());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    async fn read_all(
        body: Vec<u8>,
        encoding: Encoding,
        max: usize,
        budget: &BodyBudget,
    ) -> Result<(Bytes, Held), BodyError> {
        let limits = Limits {
            max,
            timeout: Duration::from_secs(5),
        };
        read(Full::new(Bytes::from(body)), encoding, None, limits, budget).await
    }

    #[tokio::test]
    async fn every_encoding_decodes() {
        let data = br#"{"model":"x","messages":[]}"#.repeat(1000);
        let budget = BodyBudget::default();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(&data)
            .unwrap();
        let cases = [
            (Encoding::Identity, data.clone()),
            (Encoding::Gzip, gzip(&data)),
            (Encoding::Deflate, zlib.finish().unwrap()),
            (Encoding::Deflate, raw.finish().unwrap()),
            (Encoding::Brotli, br),
            (Encoding::Zstd, zstd::encode_all(&data[..], 3).unwrap()),
        ];
        for (encoding, body) in cases {
            let (got, held) = read_all(body, encoding, MAX_BODY, &budget).await.unwrap();
            assert_eq!(got, data, "{encoding:?}");
            assert!(held.bytes() >= data.len(), "{encoding:?}");
        }
        assert_eq!(budget.available(), budget.bytes, "every share given back");
    }

    #[tokio::test]
    async fn a_bomb_stops_at_the_cap() {
        // 64 MiB of zeros is ~64 KiB of gzip.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        let budget = BodyBudget::default();
        let err = read_all(bomb, Encoding::Gzip, 1024 * 1024, &budget)
            .await
            .unwrap_err();
        assert_eq!(err.error.kind, ErrorKind::RequestTooLarge);
        assert_eq!(budget.available(), budget.bytes);
        let err = read_all(b"not gzip".to_vec(), Encoding::Gzip, MAX_BODY, &budget)
            .await
            .unwrap_err();
        assert!(err.error.message.contains("not valid gzip"), "{err:?}");
    }

    #[tokio::test]
    async fn the_budget_makes_requests_wait_then_refuses() {
        let budget = BodyBudget::new(0, Duration::from_millis(50));
        let big = vec![b' '; MAX_BODY];
        let (_, first) = read_all(big.clone(), Encoding::Identity, MAX_BODY, &budget)
            .await
            .unwrap();
        let err = read_all(big.clone(), Encoding::Identity, MAX_BODY, &budget)
            .await
            .unwrap_err();
        assert_eq!(err.error.kind, ErrorKind::Overloaded);
        // With a declared length, room is asked for before reading, and the body is read to
        // nothing so that the client gets the answer.
        let limits = Limits {
            max: MAX_BODY,
            timeout: Duration::from_secs(5),
        };
        let chunks: Vec<Bytes> = big.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
        let last = chunks.len();
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = drained.clone();
        let frames =
            futures_util::stream::iter(chunks.into_iter().enumerate().map(move |(i, c)| {
                if i + 1 == last {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(c))
            }));
        let body = http_body_util::StreamBody::new(frames);
        let err = read(
            body,
            Encoding::Identity,
            Some(big.len() as u64),
            limits,
            &budget,
        )
        .await
        .unwrap_err();
        assert_eq!(err.error.kind, ErrorKind::Overloaded);
        assert!(
            drained.load(std::sync::atomic::Ordering::Relaxed),
            "the body was read"
        );
        drop(first);
        read_all(big, Encoding::Identity, MAX_BODY, &budget)
            .await
            .unwrap();
    }
}
