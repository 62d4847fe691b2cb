//! Inbound Chat Completions types: the streamed `ChatCompletionChunk`, the non-streaming
//! `ChatCompletion`, their `usage`, and the error bodies backends send.
//!
//! Owned here: *reading* what OpenAI-compatible backends answer, as leniently as is safe.
//! Unknown fields are ignored; `null` is accepted wherever a value is optional (and for
//! lists); `finish_reason` is a plain string so `"eos"`, `""` or anything else never fails;
//! token counts may arrive as floats; tool-call `arguments` may arrive as a JSON object
//! instead of a string; `content` may be a list of text parts. What a value *means* is
//! decided in [`crate::translate`], not here.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Treats `null` like a missing field.
fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// A token count: an integer, a float (truncated), a numeric string or `null`; anything
/// else (or negative) counts as absent rather than failing the whole chunk.
fn lenient_count<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a token count")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok((v >= 0.0).then_some(v as u64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    de.deserialize_any(V)
}

/// Text that is a string, `null`, or a list of parts whose `text` fields are joined.
fn lenient_text<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(lenient_text_cow(de)?.map(Cow::into_owned))
}

/// [`lenient_text`], borrowing a plain string from the input when it has no escapes (a
/// streamed chunk's text is then never copied before it is written out).
fn lenient_text_cow<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("text, null or a list of text parts")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut text = String::new();
            while let Some(part) = seq.next_element::<Value>()? {
                match &part {
                    Value::String(s) => text.push_str(s),
                    Value::Object(obj) => {
                        let is_text = obj
                            .get("type")
                            .and_then(Value::as_str)
                            .is_none_or(|t| t == "text" || t == "output_text");
                        if let (true, Some(t)) = (is_text, obj.get("text").and_then(Value::as_str))
                        {
                            text.push_str(t);
                        }
                    }
                    _ => {}
                }
            }
            Ok(Some(Cow::Owned(text)))
        }
    }
    de.deserialize_any(V)
}

/// A string or `null`, borrowed from the input when it has no escapes (what
/// `Option<String>` reads, without the copy).
fn borrowed_str<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    de.deserialize_any(V)
}

/// A `finish_reason`: any string as is, `null` as absent, another scalar as its JSON text.
fn lenient_reason<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(lenient_reason_cow(de)?.map(Cow::into_owned))
}

/// [`lenient_reason`], borrowing a string from the input when it has no escapes.
fn lenient_reason_cow<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a finish reason")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Some(Cow::Owned(v.to_string())))
        }
    }
    de.deserialize_any(V)
}

/// Tool-call arguments: a JSON string (the standard) or a JSON value sent as is (some
/// backends send an object), which is re-serialised.
fn lenient_arguments<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    // The same shapes as a finish reason: text as is, null as absent, any other value as
    // its JSON text.
    lenient_reason(de)
}

/// [`lenient_arguments`], borrowing a string from the input when it has no escapes.
fn lenient_arguments_cow<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    lenient_reason_cow(de)
}

/// One streamed chunk (`chat.completion.chunk`). A chunk carrying `error` is a mid-stream
/// failure. Its strings borrow from the chunk's text wherever they have no escapes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChatCompletionChunk<'a> {
    /// Usually one choice; empty on the final usage chunk.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub choices: Vec<ChunkChoice<'a>>,
    /// Present on the usage chunk (and on every chunk for some backends).
    #[serde(default)]
    pub usage: Option<CompletionUsage>,
    /// A mid-stream error in any shape (see [`ErrorObject::from_value`]).
    #[serde(default)]
    pub error: Option<Value>,
    /// llama.cpp's server: its own counts, on the last chunk.
    #[serde(default)]
    pub timings: Option<Timings>,
    /// Ollama's own prompt count, where its answer carries it.
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_eval_count: Option<u64>,
    /// Ollama's own output count, where its answer carries it.
    #[serde(default, deserialize_with = "lenient_count")]
    pub eval_count: Option<u64>,
}

impl ChatCompletionChunk<'_> {
    /// The server's own token counts on this chunk: `usage` with counts, else llama.cpp's
    /// `timings`, else Ollama's eval counts.
    pub fn counted_usage(&self) -> Option<CompletionUsage> {
        counted_usage(
            self.usage,
            self.timings,
            self.prompt_eval_count,
            self.eval_count,
        )
    }
}

/// The first of the server's counts that has any: `usage`, `timings`, Ollama's.
fn counted_usage(
    usage: Option<CompletionUsage>,
    timings: Option<Timings>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
) -> Option<CompletionUsage> {
    let has_counts =
        |u: &CompletionUsage| u.prompt_tokens.is_some() || u.completion_tokens.is_some();
    usage
        .filter(has_counts)
        .or_else(|| timings.map(Timings::usage).filter(has_counts))
        .or_else(|| {
            Some(CompletionUsage {
                prompt_tokens: prompt_eval_count,
                completion_tokens: eval_count,
                ..CompletionUsage::default()
            })
            .filter(has_counts)
        })
}

/// llama.cpp server's `timings`: `prompt_n` prompt tokens evaluated for this request,
/// `cache_n` prompt tokens reused from its cache, `predicted_n` tokens generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Timings {
    /// Prompt tokens evaluated (not from the cache).
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_n: Option<u64>,
    /// Prompt tokens reused from the server's prompt cache.
    #[serde(default, deserialize_with = "lenient_count")]
    pub cache_n: Option<u64>,
    /// Tokens generated.
    #[serde(default, deserialize_with = "lenient_count")]
    pub predicted_n: Option<u64>,
}

impl Timings {
    /// As `usage`: the whole prompt (evaluated + cached), the cached part, the output.
    pub fn usage(self) -> CompletionUsage {
        let prompt = match (self.prompt_n, self.cache_n) {
            (None, None) => None,
            (p, c) => Some(p.unwrap_or(0) + c.unwrap_or(0)),
        };
        CompletionUsage {
            prompt_tokens: prompt,
            completion_tokens: self.predicted_n,
            prompt_tokens_details: self.cache_n.map(|cached| PromptTokensDetails {
                cached_tokens: Some(cached),
                cache_write_tokens: None,
            }),
            ..CompletionUsage::default()
        }
    }
}

/// One choice of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChunkChoice<'a> {
    /// The choice's index (only 0 is used; anyclaude never asks for `n > 1`).
    #[serde(default, deserialize_with = "lenient_count")]
    pub index: Option<u64>,
    /// The increment.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub delta: ChunkDelta<'a>,
    /// Why generation stopped, on the last content chunk; any string is kept as is.
    #[serde(borrow, default, deserialize_with = "lenient_reason_cow")]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The increment of a chunk's choice.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChunkDelta<'a> {
    /// `assistant` on the first chunk; not otherwise meaningful.
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub role: Option<Cow<'a, str>>,
    /// Answer text.
    #[serde(borrow, default, deserialize_with = "lenient_text_cow")]
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text, DeepSeek's (and older vLLM's) field.
    #[serde(borrow, default, deserialize_with = "lenient_text_cow")]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Reasoning text, OpenRouter's and newer vLLM's field (read first).
    #[serde(borrow, default, deserialize_with = "lenient_text_cow")]
    pub reasoning: Option<Cow<'a, str>>,
    /// Tool-call fragments, assembled by `index`.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub tool_calls: Vec<ToolCallDelta<'a>>,
    /// A refusal message (OpenAI), shown to the user as text.
    #[serde(borrow, default, deserialize_with = "lenient_text_cow")]
    pub refusal: Option<Cow<'a, str>>,
}

impl ChunkDelta<'_> {
    /// The reasoning text: `reasoning ?? reasoning_content`.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning
            .as_deref()
            .or(self.reasoning_content.as_deref())
    }
}

/// One fragment of a streamed tool call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ToolCallDelta<'a> {
    /// Which call this fragment belongs to. Required by OpenAI; missing from some backends.
    #[serde(default, deserialize_with = "lenient_count")]
    pub index: Option<u64>,
    /// The call's id, usually only on its first fragment.
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub id: Option<Cow<'a, str>>,
    /// `function`.
    #[serde(borrow, default, rename = "type", deserialize_with = "borrowed_str")]
    pub kind: Option<Cow<'a, str>>,
    /// Name and argument fragment.
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub function: FunctionFragment<'a>,
}

/// The function part of a streamed tool-call fragment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FunctionFragment<'a> {
    /// The tool's name, usually only on the first fragment.
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub name: Option<Cow<'a, str>>,
    /// A fragment of the JSON arguments.
    #[serde(borrow, default, deserialize_with = "lenient_arguments_cow")]
    pub arguments: Option<Cow<'a, str>>,
}

/// The function part of a complete tool call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FunctionDelta {
    /// The tool's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The JSON arguments.
    #[serde(default, deserialize_with = "lenient_arguments")]
    pub arguments: Option<String>,
}

/// `usage` of a chunk or a completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct CompletionUsage {
    /// All prompt tokens, cached ones included.
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_tokens: Option<u64>,
    /// Generated tokens, reasoning included.
    #[serde(default, deserialize_with = "lenient_count")]
    pub completion_tokens: Option<u64>,
    /// prompt + completion.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_tokens: Option<u64>,
    /// Cache details of the prompt.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Reasoning details of the completion.
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_cache_hit_tokens: Option<u64>,
}

impl CompletionUsage {
    /// Prompt tokens read from a cache (`prompt_tokens_details.cached_tokens`, or DeepSeek's
    /// `prompt_cache_hit_tokens`).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or(0)
    }

    /// Prompt tokens written to a cache (`prompt_tokens_details.cache_write_tokens`).
    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .and_then(|d| d.cache_write_tokens)
            .unwrap_or(0)
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from a cache.
    #[serde(default, deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to a cache (OpenRouter and others).
    #[serde(default, deserialize_with = "lenient_count")]
    pub cache_write_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning (already part of `completion_tokens`).
    #[serde(default, deserialize_with = "lenient_count")]
    pub reasoning_tokens: Option<u64>,
}

/// A non-streaming answer (`chat.completion`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChatCompletion {
    /// Usually exactly one.
    #[serde(default, deserialize_with = "null_default")]
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<CompletionUsage>,
    /// Some backends answer 200 with an error body.
    #[serde(default)]
    pub error: Option<Value>,
    /// llama.cpp's server: its own counts.
    #[serde(default)]
    pub timings: Option<Timings>,
    /// Ollama's own prompt count, where its answer carries it.
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_eval_count: Option<u64>,
    /// Ollama's own output count, where its answer carries it.
    #[serde(default, deserialize_with = "lenient_count")]
    pub eval_count: Option<u64>,
}

impl ChatCompletion {
    /// The server's own token counts: `usage` with counts, else llama.cpp's `timings`,
    /// else Ollama's eval counts.
    pub fn counted_usage(&self) -> Option<CompletionUsage> {
        counted_usage(
            self.usage,
            self.timings,
            self.prompt_eval_count,
            self.eval_count,
        )
    }
}

/// One choice of a completion.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Choice {
    /// The choice's index.
    #[serde(default, deserialize_with = "lenient_count")]
    pub index: Option<u64>,
    /// The answer.
    #[serde(default, deserialize_with = "null_default")]
    pub message: AssistantMessage,
    /// Why generation stopped; any string.
    #[serde(default, deserialize_with = "lenient_reason")]
    pub finish_reason: Option<String>,
}

/// The assistant message of a completion.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AssistantMessage {
    /// Answer text.
    #[serde(default, deserialize_with = "lenient_text")]
    pub content: Option<String>,
    /// DeepSeek-style reasoning.
    #[serde(default, deserialize_with = "lenient_text")]
    pub reasoning_content: Option<String>,
    /// OpenRouter / newer vLLM reasoning.
    #[serde(default, deserialize_with = "lenient_text")]
    pub reasoning: Option<String>,
    /// Tool calls, complete.
    #[serde(default, deserialize_with = "null_default")]
    pub tool_calls: Vec<ToolCall>,
    /// A refusal message.
    #[serde(default, deserialize_with = "lenient_text")]
    pub refusal: Option<String>,
}

impl AssistantMessage {
    /// The reasoning text: `reasoning ?? reasoning_content`.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning
            .as_deref()
            .or(self.reasoning_content.as_deref())
    }
}

/// A complete tool call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ToolCall {
    /// The call's id.
    #[serde(default)]
    pub id: Option<String>,
    /// `function`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Name and arguments.
    #[serde(default, deserialize_with = "null_default")]
    pub function: FunctionDelta,
}

/// What an upstream error body said, whatever its shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorObject {
    /// The human-readable message.
    pub message: Option<String>,
    /// `type` (OpenAI `invalid_request_error`, llama.cpp `exceed_context_size_error`, …).
    pub kind: Option<String>,
    /// `code`, as text (`context_length_exceeded`, or a number such as `429`).
    pub code: Option<String>,
    /// `param`.
    pub param: Option<String>,
    /// llama.cpp's `n_prompt_tokens` on context overflow.
    pub prompt_tokens: Option<u64>,
    /// llama.cpp's `n_ctx` on context overflow.
    pub context_tokens: Option<u64>,
}

impl ErrorObject {
    /// Reads an error from a JSON body of any of the shapes seen in the wild:
    /// `{"error":{message,type,param,code}}` (OpenAI, vLLM, llama.cpp, OpenRouter — whose
    /// `metadata.raw` is appended), `{"error":"text"}` (Ollama), `{"object":"error",
    /// "message":…}` (older vLLM), `{"message":…}`, `{"detail":…}` (FastAPI), or a list of
    /// those (Gemini-style). `None` when nothing error-like is there.
    pub fn from_value(v: &Value) -> Option<ErrorObject> {
        match v {
            Value::Array(items) => items.iter().find_map(ErrorObject::from_value),
            Value::String(s) if !s.trim().is_empty() => Some(ErrorObject {
                message: Some(s.clone()),
                ..ErrorObject::default()
            }),
            Value::Object(obj) => {
                if let Some(inner) = obj.get("error")
                    && !inner.is_null()
                    && let Some(mut e) = ErrorObject::from_value(inner)
                {
                    // A top-level sibling code/type (rare) fills gaps.
                    if e.code.is_none() {
                        e.code = obj.get("code").and_then(scalar_text);
                    }
                    return Some(e);
                }
                let message = obj
                    .get("message")
                    .and_then(scalar_text)
                    .or_else(|| obj.get("detail").and_then(detail_text))
                    .or_else(|| obj.get("msg").and_then(scalar_text));
                let mut e = ErrorObject {
                    message,
                    kind: obj
                        .get("type")
                        .and_then(scalar_text)
                        .or_else(|| obj.get("status").and_then(scalar_text)),
                    code: obj.get("code").and_then(scalar_text),
                    param: obj.get("param").and_then(scalar_text),
                    prompt_tokens: obj.get("n_prompt_tokens").and_then(Value::as_u64),
                    context_tokens: obj.get("n_ctx").and_then(Value::as_u64),
                };
                if let Some(raw) = obj
                    .get("metadata")
                    .and_then(|m| m.get("raw"))
                    .and_then(scalar_text)
                {
                    e.message = Some(match e.message {
                        Some(m) => format!("{m}: {raw}"),
                        None => raw,
                    });
                }
                (e.message.is_some() || e.kind.is_some() || e.code.is_some()).then_some(e)
            }
            _ => None,
        }
    }

    /// Parses `body` as JSON and reads an error from it.
    pub fn from_body(body: &[u8]) -> Option<ErrorObject> {
        let v: Value = serde_json::from_slice(body).ok()?;
        ErrorObject::from_value(&v)
    }
}

/// A string, or a number/bool as text; empty strings count as absent.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// FastAPI's `detail`: a string, or a list of `{msg, loc}` objects.
fn detail_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let msgs: Vec<String> = items
                .iter()
                .filter_map(|i| {
                    i.get("msg")
                        .and_then(scalar_text)
                        .or_else(|| scalar_text(i))
                })
                .collect();
            (!msgs.is_empty()).then(|| msgs.join("; "))
        }
        other => scalar_text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_parses_leniently() {
        let c: ChatCompletionChunk = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning":"r","tool_calls":[{"index":1,"id":"call_1","type":"function","function":{"name":"Bash","arguments":"{\"a\""}}],"extra":1},"finish_reason":"eos","logprobs":null}],"usage":null,"system_fingerprint":"fp"}"#,
        )
        .unwrap();
        let choice = &c.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("eos"));
        assert_eq!(choice.delta.reasoning_text(), Some("r"));
        assert_eq!(choice.delta.tool_calls[0].index, Some(1));
        assert_eq!(
            choice.delta.tool_calls[0].function.arguments.as_deref(),
            Some("{\"a\"")
        );

        let c: ChatCompletionChunk =
            serde_json::from_str(r#"{"choices":null,"usage":{"prompt_tokens":10.0,"completion_tokens":"3","prompt_tokens_details":null,"prompt_cache_hit_tokens":4}}"#)
                .unwrap();
        let u = c.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (Some(10), Some(3)));
        assert_eq!(u.cached_tokens(), 4);

        let c: ChatCompletionChunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"content":[{"type":"text","text":"a"},{"type":"thinking","thinking":"no"},{"text":"b"}],"tool_calls":null}, "finish_reason":""}]}"#,
        )
        .unwrap();
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("ab"));
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some(""));

        assert!(
            serde_json::from_str::<ChatCompletionChunk>(r#"{"choices":[{"delta":{"content":5}}]}"#)
                .is_err()
        );
    }

    /// The servers' own counts, whichever shape they come in: OpenAI's `usage`,
    /// llama.cpp's `timings` (evaluated + cached prompt tokens), Ollama's eval counts.
    #[test]
    fn server_counts_in_every_shape() {
        let chunk = |v: &str| {
            serde_json::from_str::<ChatCompletionChunk>(v)
                .unwrap()
                .counted_usage()
        };
        let llamacpp = chunk(
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"timings":{"cache_n":812,"prompt_n":45,"prompt_ms":120.5,"prompt_per_token_ms":2.6,"prompt_per_second":373.4,"predicted_n":17,"predicted_ms":310.2,"predicted_per_token_ms":18.2,"predicted_per_second":54.8}}"#,
        )
        .unwrap();
        assert_eq!(
            (llamacpp.prompt_tokens, llamacpp.completion_tokens),
            (Some(857), Some(17))
        );
        assert_eq!(llamacpp.cached_tokens(), 812);
        // `usage` wins over `timings` when both are there.
        let both = chunk(r#"{"choices":[],"usage":{"prompt_tokens":857,"completion_tokens":18},"timings":{"prompt_n":1,"predicted_n":1}}"#).unwrap();
        assert_eq!(both.completion_tokens, Some(18));
        let ollama = chunk(r#"{"choices":[],"prompt_eval_count":26,"eval_count":290}"#).unwrap();
        assert_eq!(
            (ollama.prompt_tokens, ollama.completion_tokens),
            (Some(26), Some(290))
        );
        assert_eq!(chunk(r#"{"choices":[],"usage":{}}"#), None);
        assert_eq!(chunk(r#"{"choices":[],"timings":{}}"#), None);
        let whole: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"timings":{"prompt_n":10,"cache_n":0,"predicted_n":2}}"#,
        )
        .unwrap();
        assert_eq!(whole.counted_usage().unwrap().prompt_tokens, Some(10));
    }

    #[test]
    fn arguments_may_be_an_object() {
        let c: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":{"x":1}}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.choices[0].message.tool_calls[0]
                .function
                .arguments
                .as_deref(),
            Some(r#"{"x":1}"#)
        );
    }

    #[test]
    fn error_shapes() {
        let e = ErrorObject::from_body(br#"{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("m"));
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
        let e = ErrorObject::from_body(br#"{"error":"model 'x' not found"}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("model 'x' not found"));
        let e = ErrorObject::from_body(
            br#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
        )
        .unwrap();
        assert_eq!(
            (e.kind.as_deref(), e.code.as_deref()),
            (Some("BadRequestError"), Some("400"))
        );
        let e = ErrorObject::from_body(br#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#)
            .unwrap();
        assert_eq!(e.message.as_deref(), Some("field required"));
        let e = ErrorObject::from_body(br#"{"error":{"code":400,"message":"too big","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#).unwrap();
        assert_eq!(
            (e.prompt_tokens, e.context_tokens),
            (Some(9000), Some(8192))
        );
        let e = ErrorObject::from_body(br#"{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"slow down","provider_name":"X"}}}"#).unwrap();
        assert_eq!(
            e.message.as_deref(),
            Some("Provider returned error: slow down")
        );
        assert_eq!(e.code.as_deref(), Some("429"));
        let e = ErrorObject::from_body(
            br#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        )
        .unwrap();
        assert_eq!(e.kind.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(ErrorObject::from_body(br#"{"foo":1}"#), None);
        assert_eq!(ErrorObject::from_body(b"<html>"), None);
        assert_eq!(ErrorObject::from_body(br#"{"error":null}"#), None);
    }
}
