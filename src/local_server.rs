//! Local model servers at start: whether the chosen one listens (one TCP connect), what
//! its context window is (asked of the server itself: llama.cpp's `/props` and `/slots`,
//! Ollama's `/api/ps` and `/api/show`, LM Studio's `/api/v0/models/<model>`, vLLM's
//! `max_model_len` in `/v1/models`), a sensible output cap for that window, and what to
//! tell each Claude Code version so that it compacts before the backend overflows.
//!
//! The parsing of each server's answer, the output cap, the per-version variables and the
//! messages are pure ([`parse`], [`output_cap`], [`window_env`], [`overflow_hint`]); the I/O
//! ([`probe`]) is a thin shell over them, bounded in time, on loopback only in tests.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use crate::anthropic::{ApiError, ErrorKind};
use crate::discover::RemoteModel;
use crate::provider::LocalServer;
use crate::registry::{Registry, Route};

/// How long the start check may take in all: a connect on loopback takes well under a
/// millisecond, a server's metadata endpoint a few.
pub const PROBE_BUDGET: Duration = Duration::from_millis(800);

/// The longest a TCP connect to the backend may take at start.
pub const CONNECT_BUDGET: Duration = Duration::from_millis(100);

/// What Claude Code's first request (system prompt and tool schemas, before any history)
/// takes at least, in tokens: anyclaude's estimate of the first request of 2.0.77 is
/// ~14,800, of 2.1.197 ~17,000 and of 2.1.332 ~10,600 tokens; a server whose chat template
/// leaves the tools out renders 2,700–4,100 of them (SmolLM2 through llama-cpp-python).
pub const FIRST_REQUEST_TOKENS: u64 = 12_000;

/// How the size of Claude Code's first request is described in messages.
const FIRST_REQUEST_WORDS: &str = "10,000–17,000 tokens (its system prompt and tool schemas)";

/// A model's context window, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The window in tokens (prompt and answer together).
    pub tokens: u64,
    /// The output limit the server itself applies, when it has one (llama.cpp's
    /// `n_predict`).
    pub server_output_limit: Option<u64>,
    /// Where it came from, for messages and the log: `/props`, `/api/ps`, ….
    pub source: String,
}

/// The output cap anyclaude tells Claude Code for a window: a quarter of it, at least 1,024
/// and at most 32,000 tokens (Claude Code's own default for models it does not know), and
/// no more than the server's own limit when that is larger than the floor. An uncapped
/// answer on a local model can fill the whole window and keep the user waiting for many
/// minutes. The floor leaves room for a tool call with its arguments.
///
/// Claude Code compacts [`SUMMARY_BUFFER`] tokens plus the output cap before the end of the
/// window ([`compact_threshold`]), so in a window of less than ~100,000 tokens a quarter can
/// put that point below its own first request: the cap is then lowered (not below the floor)
/// until the compaction point leaves [`FIRST_REQUEST_TOKENS`] and [`CONVERSATION_ROOM`]
/// before it.
pub fn output_cap(window: &Window) -> u64 {
    output_cap_with(window, FIRST_REQUEST_TOKENS)
}

/// [`output_cap`] for a server on which Claude Code's first request takes `first_request`
/// tokens.
pub fn output_cap_with(window: &Window, first_request: u64) -> u64 {
    let cap = (window.tokens / 4).clamp(MIN_OUTPUT_CAP, 32_000);
    let cap = match window.server_output_limit {
        Some(limit) if limit > 0 => cap.min(limit.max(MIN_OUTPUT_CAP)),
        _ => cap,
    };
    let room_for_compaction = window
        .tokens
        .saturating_sub(SUMMARY_BUFFER + first_request + CONVERSATION_ROOM);
    cap.min(room_for_compaction).max(MIN_OUTPUT_CAP)
}

/// The smallest output cap told to Claude Code.
pub const MIN_OUTPUT_CAP: u64 = 1024;

/// Pure parsers of each server's answer.
pub mod parse {
    use serde_json::Value;

    use super::Window;

    fn positive(v: &Value) -> Option<u64> {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n > 0)
    }

    fn window(tokens: u64, source: &str) -> Window {
        Window {
            tokens,
            server_output_limit: None,
            source: source.to_owned(),
        }
    }

    /// llama.cpp's `GET /props`: `default_generation_settings.n_ctx` (per slot), and its
    /// `params.n_predict` (or `n_predict` one level up in older versions) when positive.
    pub fn llamacpp_props(body: &[u8]) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let settings = &v["default_generation_settings"];
        let n_ctx = positive(&settings["n_ctx"]).or_else(|| positive(&v["n_ctx"]))?;
        let n_predict =
            positive(&settings["params"]["n_predict"]).or_else(|| positive(&settings["n_predict"]));
        Some(Window {
            server_output_limit: n_predict,
            ..window(n_ctx, "/props")
        })
    }

    /// llama.cpp's `GET /slots`: the smallest `n_ctx` of its slots.
    pub fn llamacpp_slots(body: &[u8]) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let n = v
            .as_array()?
            .iter()
            .filter_map(|s| positive(&s["n_ctx"]))
            .min()?;
        Some(window(n, "/slots"))
    }

    /// `GET /v1/models` of an OpenAI-compatible server: the window listed for `model` (or
    /// the only model listed), read by the one model-list parser
    /// ([`crate::discover::parse_model_list`]: vLLM's `max_model_len`, …; never llama.cpp's
    /// trained length).
    pub fn openai_models(body: &[u8], model: &str) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        listed_window(&crate::discover::parse_model_list(&v).ok()?, model)
    }

    /// The window a parsed model list gives `model` (or its only model), as
    /// [`openai_models`] reads it.
    pub fn listed_window(models: &[crate::discover::RemoteModel], model: &str) -> Option<Window> {
        let entry = models
            .iter()
            .find(|m| m.id == model)
            .or(if models.len() == 1 {
                models.first()
            } else {
                None
            })?;
        entry
            .context_window
            .filter(|n| *n > 0)
            .map(|n| window(n, "/v1/models"))
    }

    /// Ollama's `GET /api/ps`: the `context_length` a loaded `model` runs with (Ollama
    /// 0.6 and later report it).
    pub fn ollama_ps(body: &[u8], model: &str) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let bare = model.strip_suffix(":latest").unwrap_or(model);
        v["models"]
            .as_array()?
            .iter()
            .find(|m| {
                [&m["name"], &m["model"]].iter().any(|n| {
                    n.as_str()
                        .is_some_and(|n| n == model || n.strip_suffix(":latest") == Some(bare))
                })
            })
            .and_then(|m| positive(&m["context_length"]))
            .map(|n| window(n, "/api/ps"))
    }

    /// Ollama's `POST /api/show`: the model's own `num_ctx` parameter (its Modelfile's),
    /// which is the window it is loaded with. The architecture's `context_length` is what
    /// it was trained for, not what Ollama gives it, and is not used.
    pub fn ollama_show(body: &[u8]) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        v["parameters"]
            .as_str()?
            .lines()
            .filter_map(|l| l.trim().strip_prefix("num_ctx"))
            .find_map(|rest| rest.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .map(|n| window(n, "/api/show num_ctx"))
    }

    /// LM Studio's `GET /api/v0/models/<model>`: `loaded_context_length` when loaded, else
    /// `max_context_length` (what it will be loaded with at most).
    pub fn lmstudio_model(body: &[u8]) -> Option<Window> {
        let v: Value = serde_json::from_slice(body).ok()?;
        positive(&v["loaded_context_length"])
            .map(|n| window(n, "/api/v0/models loaded_context_length"))
            .or_else(|| {
                positive(&v["max_context_length"])
                    .map(|n| window(n, "/api/v0/models max_context_length"))
            })
    }

    /// The window an overflow error names: `… context window of 2048` (llama-cpp-python),
    /// `n_ctx` fields and `> M maximum` in the mapped message.
    pub fn window_in_overflow(message: &str) -> Option<u64> {
        let lower = message.to_ascii_lowercase();
        for pat in ["context window of ", "> ", "context size (", "n_ctx = "] {
            if let Some(n) = lower.match_indices(pat).find_map(|(i, _)| {
                let digits: String = lower[i + pat.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == ',')
                    .filter(char::is_ascii_digit)
                    .collect();
                digits.parse::<u64>().ok().filter(|n| *n > 0)
            }) {
                return Some(n);
            }
        }
        None
    }
}

/// The tokens every pinned Claude Code keeps free below its effective window (the window
/// less the output it reserves) for the summary it writes when it compacts: it compacts
/// once its count of the conversation reaches that point.
pub const SUMMARY_BUFFER: u64 = 13_000;

/// The least conversation, beyond its first request, Claude Code should hold before it
/// compacts: a compaction point just above the first request would summarise after every
/// turn.
pub const CONVERSATION_ROOM: u64 = 2_048;

/// The most output 2.1.x reserves inside the window, whatever the cap.
const MAX_RESERVED_OUTPUT: u64 = 20_000;

/// The window 2.0.x believes every model has (it has no variable for it).
const WINDOW_2_0: u64 = 200_000;

/// The most output 2.0.x reserves inside its believed window.
const MAX_RESERVED_OUTPUT_2_0: u64 = 32_000;

/// The variables that tell Claude Code `version` (e.g. `2.1.332`; `None` when unknown,
/// taken as the newest) the window and the output cap, so that it compacts after its first
/// request and before the backend overflows, and never asks for more output than fits.
///
/// How each pinned version decides to compact, read from its code and confirmed against
/// the real server (tests/it/e2e_local.rs, `e2e_local_compacts`):
///
/// - **Every version** caps `max_tokens` at `CLAUDE_CODE_MAX_OUTPUT_TOKENS`, and compacts
///   when its count of the conversation reaches its *threshold*: the *effective window*
///   (the window less the output it reserves) less [`SUMMARY_BUFFER`] (13,000) tokens, or
///   `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE` percent of the effective window when that is lower
///   (the variable only ever lowers it). Its count is the usage of the last answer (input,
///   cache and output tokens: what the server reported), which 2.1.x adds an estimate of
///   the messages since to. `DISABLE_AUTO_COMPACT=1` turns automatic compaction off
///   (`/compact` still works).
/// - **2.1.x** reads the window of a model whose name does not start with `claude-` from
///   `CLAUDE_CODE_MAX_CONTEXT_TOKENS`, and reserves `min(cap, 20,000)` inside it: threshold
///   = window − min(cap, 20,000) − 13,000. The variable alone makes 2.1.332 refuse every
///   prompt of a small window (it reserves its default 32,000-token output), so the cap is
///   always told with it.
/// - **2.1.197** compacts by that threshold only when the window has an explicit source;
///   otherwise it compacts only after the server has answered "prompt is too long".
///   `CLAUDE_CODE_AUTO_COMPACT_WINDOW` is such a source: it is raised to at least 100,000
///   and then held to the window, so told the window it changes nothing but switches the
///   threshold on (measured: its debug log then shows the check, with an effective window
///   of the told window less the cap; without it, no check).
/// - **2.1.332** checks the same threshold (its debug log shows the effective window, the
///   told window less the cap, without any switch), and it takes
///   `CLAUDE_CODE_AUTO_COMPACT_WINDOW` the same way but warns about a value below 100,000,
///   so it is not told it. Past the threshold its debug log says "routing through
///   reactive (thresholdSource=unknown-model)": on a first turn "fewer than 2 groups,
///   nothing to compact"; later it sends its compaction request and goes on
///   (`e2e_local_compacts`: before its third turn, past 4,254 tokens against 4,408 plus
///   the new turn). In that test's first runs it sent none in five turns: anyclaude had
///   turned compaction off (`DISABLE_AUTO_COMPACT=1`, the window being too small for the
///   first request it assumes), not Claude Code.
/// - **2.0.x** has no window variable: it believes 200,000 tokens and reserves
///   `min(cap, 32,000)`, so its own threshold lies far beyond a local window, but its count
///   leaves out the new message: `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE` is set so that it
///   compacts where 2.1.x would.
///
/// A window where that threshold falls below the first request plus [`CONVERSATION_ROOM`]
/// ([`compact_threshold`] gives `None`, even at the smallest cap) would make Claude Code
/// compact before every turn (2.1.332 measured: it tries on its first turn and fails with
/// "too_few_groups"): automatic compaction is turned off instead, and [`start_warnings`]
/// says so.
pub fn window_env(version: Option<&str>, window: &Window) -> Vec<(&'static str, String)> {
    window_env_with(version, window, FIRST_REQUEST_TOKENS)
}

/// [`window_env`] for a server on which Claude Code's first request takes `first_request`
/// tokens (anyclaude assumes [`FIRST_REQUEST_TOKENS`]; a chat template that leaves the tools
/// out renders far fewer).
pub fn window_env_with(
    version: Option<&str>,
    window: &Window,
    first_request: u64,
) -> Vec<(&'static str, String)> {
    let cap = output_cap_with(window, first_request);
    let mut vars = vec![
        ("CLAUDE_CODE_MAX_CONTEXT_TOKENS", window.tokens.to_string()),
        ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", cap.to_string()),
    ];
    let Some(compact_at) = compact_threshold_with(window.tokens, cap, first_request) else {
        vars.push(("DISABLE_AUTO_COMPACT", "1".to_owned()));
        return vars;
    };
    match version.and_then(minor_and_patch) {
        Some((0, _)) => {
            // 2.0.x compacts at min(pct% of its believed effective window, that less the
            // buffer); a percentage rounded down keeps it at or below `compact_at`.
            let believed = WINDOW_2_0 - cap.min(MAX_RESERVED_OUTPUT_2_0);
            let hundredths = compact_at * 10_000 / believed;
            // A window larger than what 2.0.x believes needs no earlier compaction.
            if compact_at < believed - SUMMARY_BUFFER {
                let pct = format!("{}.{:02}", hundredths / 100, hundredths % 100);
                vars.push(("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE", pct));
            }
        }
        Some((1, patch)) if patch < 332 => {
            vars.push(("CLAUDE_CODE_AUTO_COMPACT_WINDOW", window.tokens.to_string()));
        }
        _ => {}
    }
    vars
}

/// `2.1.197` → `(1, 197)`, for a 2.x version.
fn minor_and_patch(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split('.');
    (parts.next()? == "2").then_some(())?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.split(['-', '+']).next()?.parse().ok()?;
    Some((minor, patch))
}

/// Where Claude Code (every pinned version, as told by [`window_env`]) compacts for a window
/// and output cap: the window less the output 2.1.x reserves (`min(cap, 20,000)`) less its
/// [`SUMMARY_BUFFER`]. `None` when that leaves no room for the first request
/// ([`FIRST_REQUEST_TOKENS`]) and [`CONVERSATION_ROOM`] before it: it would compact at once.
/// It always lies below `window - cap`, where the server overflows.
pub fn compact_threshold(window: u64, cap: u64) -> Option<u64> {
    compact_threshold_with(window, cap, FIRST_REQUEST_TOKENS)
}

/// [`compact_threshold`] for a server on which Claude Code's first request takes
/// `first_request` tokens.
pub fn compact_threshold_with(window: u64, cap: u64, first_request: u64) -> Option<u64> {
    window
        .checked_sub(cap.min(MAX_RESERVED_OUTPUT) + SUMMARY_BUFFER)
        .filter(|at| *at >= first_request + CONVERSATION_ROOM)
}

/// The version of the Claude Code program at `program`, read from the npm package it
/// belongs to (`…/@anthropic-ai/claude-code/package.json`) without running it; `None`
/// when it is not an npm install.
pub fn claude_version(program: &Path) -> Option<String> {
    let real = std::fs::canonicalize(program).ok()?;
    real.ancestors().skip(1).take(4).find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        (v["name"] == "@anthropic-ai/claude-code")
            .then(|| v["version"].as_str().map(str::to_owned))
            .flatten()
    })
}

/// The window told to Claude Code for the model `full` at start, and where it is from:
///
/// 1. the config file's `[models."p/m"] context_window` (its `max_output_tokens` as the
///    output limit): the user's own statement beats what a server reports, so a window can
///    be set smaller on purpose (to compact earlier) or corrected for a server that
///    misreports ([`config_window_warning`] warns when it is larger than the server's);
/// 2. what the server said (`served`, from [`probe`]), its output limit lowered to the
///    config file's `max_output_tokens` when that is smaller;
/// 3. the provider's documented window of a well-known hosted model
///    ([`crate::provider::KNOWN_MODELS`]).
pub fn chosen_window(registry: &Registry, full: &str, served: Option<&Window>) -> Option<Window> {
    let spec = registry.model(full);
    let config_output = spec.and_then(|s| s.max_output_tokens);
    if let Some(tokens) = spec.and_then(|s| s.context_window).filter(|n| *n > 0) {
        return Some(Window {
            tokens,
            server_output_limit: config_output.or(served.and_then(|w| w.server_output_limit)),
            source: "the config file".to_owned(),
        });
    }
    if let Some(served) = served {
        let mut window = served.clone();
        if let Some(max) = config_output {
            window.server_output_limit = Some(
                window
                    .server_output_limit
                    .map_or(max, |limit| limit.min(max)),
            );
        }
        return Some(window);
    }
    let route = registry.route(full).ok()?;
    let known = crate::provider::known_model(&route.provider.name, &route.model)?;
    Some(Window {
        tokens: known.context_window,
        server_output_limit: Some(config_output.unwrap_or(known.max_output_tokens)),
        source: format!("{}'s documented window", route.provider.name),
    })
}

/// A warning when the config file gives `full` a larger window than its server serves:
/// prompts between the two fail instead of being compacted.
pub fn config_window_warning(
    registry: &Registry,
    full: &str,
    served: Option<&Window>,
) -> Option<String> {
    let configured = registry.model(full)?.context_window?;
    let served = served?;
    (configured > served.tokens).then(|| {
        format!(
            "the config file gives {full} a {configured}-token window, but its server serves \
             {} (from {}): Claude Code is told {configured}, so prompts between the two fail \
             instead of being compacted; lower context_window or raise the server's window",
            served.tokens, served.source
        )
    })
}

/// What the start check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCheck {
    /// Whether something accepted a TCP connection at the backend's address.
    pub listening: bool,
    /// The window, when the server tells it.
    pub window: Option<Window>,
}

/// The warnings to print before claude starts, for `route` (a local preset) and what the
/// check found.
pub fn start_warnings(route: &Route, check: &StartCheck) -> Vec<String> {
    let Some(server) = route.provider.server else {
        return Vec::new();
    };
    let var = route
        .provider
        .base_url_vars
        .first()
        .map_or("", String::as_str);
    if !check.listening {
        return vec![format!(
            "nothing listens at {} ({} for {}/{}): start it with {}, or set {var} to where it \
             listens; until then every request fails",
            route.provider.base_url, server.name, route.provider.name, route.model, server.start
        )];
    }
    let Some(window) = &check.window else {
        return Vec::new();
    };
    let cap = output_cap(window);
    if window.tokens < FIRST_REQUEST_TOKENS + cap {
        return vec![format!(
            "{} runs {} with a {}-token window (from {}); Claude Code's first request alone \
             takes {FIRST_REQUEST_WORDS}, plus {cap} for the answer, so it will not fit: \
             restart the server with a larger window ({})",
            server.name, route.model, window.tokens, window.source, server.window_setting
        )];
    }
    if compact_threshold(window.tokens, cap).is_none() {
        return vec![format!(
            "{} runs {} with a {}-token window (from {}); Claude Code compacts {} tokens plus \
             the output cap ({cap}) before the end of its window, too early for its first \
             request alone, which takes {FIRST_REQUEST_WORDS}: its automatic compaction is \
             off, so when the conversation fills the window it stops with \"Prompt is too \
             long\" (then /compact or /clear). To let it compact, restart the server with a \
             window of at least {} tokens ({})",
            server.name,
            route.model,
            window.tokens,
            window.source,
            SUMMARY_BUFFER,
            SMALLEST_COMPACTING_WINDOW,
            server.window_setting
        )];
    }
    Vec::new()
}

/// The smallest window in which Claude Code can compact by itself
/// ([`compact_threshold`] at the smallest output cap).
pub const SMALLEST_COMPACTING_WINDOW: u64 =
    FIRST_REQUEST_TOKENS + CONVERSATION_ROOM + SUMMARY_BUFFER + MIN_OUTPUT_CAP;

/// The sentence added to a context overflow from a local server: its window (as the
/// server's message names it) and the setting that raises it.
pub fn overflow_hint(server: &LocalServer, message: &str) -> String {
    let what = match parse::window_in_overflow(message) {
        Some(n) => format!("{} has a {n}-token window", server.name),
        None => format!("{}'s window is too small", server.name),
    };
    format!(
        "{what}, and Claude Code's first request alone takes {FIRST_REQUEST_WORDS}: restart \
         it with a larger window ({})",
        server.window_setting
    )
}

/// `err` from a local server, with [`overflow_hint`] added when it is a context overflow
/// (Anthropic's `prompt is too long…` / `input length and…` words stay first, which is what
/// Claude Code reads to compact).
pub fn explain_overflow(server: Option<&LocalServer>, mut err: ApiError) -> ApiError {
    if let Some(server) = server
        && err.kind == ErrorKind::InvalidRequest
        && (err.message.starts_with("prompt is too long")
            || err.message.starts_with("input length and"))
    {
        let hint = overflow_hint(server, &err.message);
        err.message = format!("{}. {hint}", err.message.trim_end_matches('.'));
    }
    err
}

/// The start check for `--model` `full` (e.g. `llamacpp/smollm2`) when it names a local
/// preset; `None` for hosted ones (and models that do not route). `listed` is the server's
/// model list when zero-config start has just read it: it is not asked for again.
pub async fn start_check(
    registry: &Registry,
    full: &str,
    listed: Option<&[RemoteModel]>,
) -> Option<(Route, StartCheck)> {
    let route = registry.route(full).ok()?;
    route.provider.server?;
    let client = crate::upstream::client(CONNECT_BUDGET).ok()?;
    let check = probe(&route, &client, listed).await;
    Some((route, check))
}

/// The window variables for claude's environment ([`window_env`] for the Claude Code at
/// `program`), leaving out any the user set.
pub fn child_vars(
    user: &dyn crate::config::Env,
    program: Option<&Path>,
    window: &Window,
) -> Vec<(String, String)> {
    let version = program.and_then(claude_version);
    window_env(version.as_deref(), window)
        .into_iter()
        .filter(|(k, _)| user.non_empty(k).is_none())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// The TCP address of a base URL (`http://localhost:8080/v1` → `localhost:8080`).
fn socket_addrs(base_url: &str) -> Option<Vec<SocketAddr>> {
    let url = reqwest::Url::parse(base_url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default()?;
    (host, port).to_socket_addrs().ok().map(Iterator::collect)
}

/// The server's root: the base URL without a trailing `/v1` (llama.cpp, Ollama and LM
/// Studio serve their own endpoints beside the OpenAI-compatible ones).
fn root_of(base_url: &str) -> &str {
    base_url
        .trim_end_matches('/')
        .strip_suffix("/v1")
        .unwrap_or(base_url)
}

/// Checks the backend of a local `route` at start: one TCP connect (at most
/// [`CONNECT_BUDGET`]), then its window from whichever of the known metadata endpoints
/// answers (all asked at once, at most [`PROBE_BUDGET`] in all); the model list is read
/// from `listed` when given instead of being asked for.
pub async fn probe(
    route: &Route,
    client: &reqwest::Client,
    listed: Option<&[RemoteModel]>,
) -> StartCheck {
    let listening = match socket_addrs(&route.provider.base_url) {
        Some(addrs) => {
            let mut ok = false;
            for addr in addrs {
                if let Ok(Ok(_)) =
                    tokio::time::timeout(CONNECT_BUDGET, tokio::net::TcpStream::connect(addr)).await
                {
                    ok = true;
                    break;
                }
            }
            ok
        }
        // A host that does not resolve: nothing can be reached there.
        None => false,
    };
    if !listening {
        return StartCheck {
            listening,
            window: None,
        };
    }
    let window = tokio::time::timeout(PROBE_BUDGET, discover(route, client, listed))
        .await
        .ok()
        .flatten();
    StartCheck { listening, window }
}

async fn get(client: &reqwest::Client, route: &Route, url: String) -> Option<Vec<u8>> {
    let mut req = client.get(url);
    if let Some((name, value)) = route.auth_header() {
        req = req.header(name, value);
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.bytes().await.ok().map(|b| b.to_vec())
}

async fn discover(
    route: &Route,
    client: &reqwest::Client,
    listed: Option<&[RemoteModel]>,
) -> Option<Window> {
    let root = root_of(&route.provider.base_url);
    let model = route.model.as_str();
    let props = async {
        let body = get(client, route, format!("{root}/props")).await?;
        parse::llamacpp_props(&body)
    };
    let slots = async {
        let body = get(client, route, format!("{root}/slots")).await?;
        parse::llamacpp_slots(&body)
    };
    let models = async {
        if let Some(listed) = listed {
            return parse::listed_window(listed, model);
        }
        let body = get(client, route, format!("{}/models", route.provider.base_url)).await?;
        parse::openai_models(&body, model)
    };
    let ollama = async {
        if let Some(body) = get(client, route, format!("{root}/api/ps")).await
            && let Some(w) = parse::ollama_ps(&body, model)
        {
            return Some(w);
        }
        let mut req = client
            .post(format!("{root}/api/show"))
            .json(&serde_json::json!({ "model": model }));
        if let Some((name, value)) = route.auth_header() {
            req = req.header(name, value);
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        parse::ollama_show(&resp.bytes().await.ok()?)
    };
    let lmstudio = async {
        let url = format!(
            "{root}/api/v0/models/{}",
            crate::provider::encode_path_segment(model)
        );
        let body = get(client, route, url).await?;
        parse::lmstudio_model(&body)
    };
    let (props, slots, models, ollama, lmstudio) =
        tokio::join!(props, slots, models, ollama, lmstudio);
    props.or(slots).or(ollama).or(lmstudio).or(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(tokens: u64) -> Window {
        Window {
            tokens,
            server_output_limit: None,
            source: "test".into(),
        }
    }

    #[test]
    fn parses_each_servers_window() {
        let props = br#"{"default_generation_settings":{"id":0,"n_ctx":8192,"params":{"n_predict":-1}},"total_slots":1}"#;
        assert_eq!(
            parse::llamacpp_props(props).map(|w| (w.tokens, w.server_output_limit)),
            Some((8192, None))
        );
        let props = br#"{"default_generation_settings":{"n_ctx":4096,"n_predict":512}}"#;
        assert_eq!(
            parse::llamacpp_props(props).map(|w| (w.tokens, w.server_output_limit)),
            Some((4096, Some(512)))
        );
        assert_eq!(
            parse::llamacpp_slots(br#"[{"id":0,"n_ctx":4096},{"id":1,"n_ctx":2048}]"#)
                .map(|w| w.tokens),
            Some(2048)
        );
        let vllm = br#"{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","root":"Qwen/Qwen3-8B","max_model_len":32768}]}"#;
        assert_eq!(
            parse::openai_models(vllm, "Qwen/Qwen3-8B").map(|w| w.tokens),
            Some(32768)
        );
        // llama-cpp-python lists models without any window; llama.cpp's n_ctx_train is
        // the trained length, not the server's window.
        let llama_cpp_python = br#"{"object":"list","data":[{"id":"smollm2","object":"model","owned_by":"me","permissions":[]}]}"#;
        assert_eq!(parse::openai_models(llama_cpp_python, "smollm2"), None);
        let llama_server =
            br#"{"data":[{"id":"m.gguf","meta":{"n_ctx_train":131072,"n_vocab":1}}]}"#;
        assert_eq!(parse::openai_models(llama_server, "m.gguf"), None);
        let ps = br#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b","context_length":8192}]}"#;
        assert_eq!(
            parse::ollama_ps(ps, "qwen3:8b").map(|w| w.tokens),
            Some(8192)
        );
        assert_eq!(parse::ollama_ps(ps, "llama3"), None);
        let ps = br#"{"models":[{"name":"llama3:latest","context_length":4096}]}"#;
        assert_eq!(parse::ollama_ps(ps, "llama3").map(|w| w.tokens), Some(4096));
        let show = br#"{"parameters":"stop \"<|im_end|>\"\nnum_ctx                        16384\ntemperature 0.7","model_info":{"qwen3.context_length":40960}}"#;
        assert_eq!(parse::ollama_show(show).map(|w| w.tokens), Some(16384));
        let show =
            br#"{"parameters":"temperature 0.7","model_info":{"qwen3.context_length":40960}}"#;
        assert_eq!(
            parse::ollama_show(show),
            None,
            "trained length is not the window"
        );
        let lms = br#"{"id":"qwen2.5-7b-instruct","state":"loaded","max_context_length":32768,"loaded_context_length":8192}"#;
        assert_eq!(parse::lmstudio_model(lms).map(|w| w.tokens), Some(8192));
        let lms =
            br#"{"id":"qwen2.5-7b-instruct","state":"not-loaded","max_context_length":32768}"#;
        assert_eq!(parse::lmstudio_model(lms).map(|w| w.tokens), Some(32768));
        for junk in [&b"not json"[..], b"{}", b"[]", b"{\"data\":5}"] {
            assert_eq!(parse::llamacpp_props(junk), None);
            assert_eq!(parse::llamacpp_slots(junk), None);
            assert_eq!(parse::openai_models(junk, "m"), None);
            assert_eq!(parse::ollama_ps(junk, "m"), None);
            assert_eq!(parse::ollama_show(junk), None);
            assert_eq!(parse::lmstudio_model(junk), None);
        }
    }

    #[test]
    fn windows_named_in_overflow_messages() {
        for (message, window) in [
            (
                "Requested tokens (21000) exceed context window of 2048",
                Some(2048),
            ),
            (
                "prompt is too long: 21000 tokens > 8192 maximum",
                Some(8192),
            ),
            (
                "request (9,000 tokens) exceeds the available context size (8,192 tokens)",
                Some(8192),
            ),
            ("prompt is too long for the model's context window", None),
        ] {
            assert_eq!(parse::window_in_overflow(message), window, "{message}");
        }
    }

    #[test]
    fn output_caps_fit_the_window() {
        assert_eq!(output_cap(&w(2048)), 1024);
        assert_eq!(output_cap(&w(512)), 1024);
        assert_eq!(output_cap(&w(16384)), 1024, "no room to compact: the floor");
        // A quarter (8,192) would put 2.1.x's compaction point at 11,576, below the first
        // request: lowered to leave it room.
        assert_eq!(output_cap(&w(32768)), 32768 - 13_000 - 12_000 - 2_048);
        assert_eq!(output_cap(&w(131_072)), 32_000);
        assert_eq!(output_cap(&w(1_000_000)), 32_000);
        let limited = Window {
            server_output_limit: Some(2000),
            ..w(65536)
        };
        assert_eq!(output_cap(&limited), 2000);
        let tiny = Window {
            server_output_limit: Some(256),
            ..w(32768)
        };
        assert_eq!(output_cap(&tiny), 1024);
    }

    /// Where each version compacts with the variables told, by its own rule (see
    /// [`window_env`]): the same point for every version.
    fn where_it_compacts(version: &str, told: &HashMap<&str, String>) -> Option<u64> {
        let num = |k: &str| told.get(k).map(|v| v.parse::<f64>().unwrap());
        if told.get("DISABLE_AUTO_COMPACT").is_some_and(|v| v == "1") {
            return None;
        }
        let cap = num("CLAUDE_CODE_MAX_OUTPUT_TOKENS").unwrap_or(32_000.0);
        let pct = num("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE");
        let effective = if version.starts_with("2.0.") {
            200_000.0 - cap.min(32_000.0)
        } else {
            if version == "2.1.197" && !told.contains_key("CLAUDE_CODE_AUTO_COMPACT_WINDOW") {
                // Only after an overflow.
                return None;
            }
            num("CLAUDE_CODE_MAX_CONTEXT_TOKENS").unwrap() - cap.min(20_000.0)
        };
        let buffered = effective - 13_000.0;
        let at = pct.map_or(buffered, |p| (effective * p / 100.0).floor().min(buffered));
        Some(at as u64)
    }

    use std::collections::HashMap;

    #[test]
    fn every_version_compacts_after_its_first_request_and_before_the_server_overflows() {
        for tokens in [28_672, 32_768, 65_536, 131_072, 200_000] {
            let window = w(tokens);
            let cap = output_cap(&window);
            let want = compact_threshold(tokens, cap).unwrap();
            assert!(want >= FIRST_REQUEST_TOKENS + CONVERSATION_ROOM, "{tokens}");
            assert!(want < tokens - cap, "{tokens}: below the overflow");
            for version in ["2.0.77", "2.1.197", "2.1.332"] {
                let told: HashMap<_, _> = window_env(Some(version), &window).into_iter().collect();
                assert_eq!(told["CLAUDE_CODE_MAX_CONTEXT_TOKENS"], tokens.to_string());
                assert_eq!(told["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], cap.to_string());
                let at = where_it_compacts(version, &told).unwrap();
                // At the point, or (2.0.x told no percentage) earlier by its own rule.
                let own_rule = !told.contains_key("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE")
                    && version.starts_with("2.0.");
                assert!(
                    at <= want
                        && (want - at < 25 || own_rule)
                        && at + 25 >= FIRST_REQUEST_TOKENS + CONVERSATION_ROOM,
                    "{version} in {tokens}: compacts at {at}, wanted {want}"
                );
            }
        }
    }

    #[test]
    fn window_variables_per_version() {
        let vars = |v: Option<&str>| -> HashMap<&str, String> {
            window_env(v, &w(32768)).into_iter().collect()
        };
        let cap = (32768 - 13_000 - 12_000 - 2_048).to_string();
        for version in [Some("2.1.332"), Some("2.1.400"), None] {
            let got = vars(version);
            assert_eq!(got["CLAUDE_CODE_MAX_CONTEXT_TOKENS"], "32768");
            assert_eq!(got["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], cap);
            assert_eq!(got.len(), 2, "{version:?}: {got:?}");
        }
        let mid = vars(Some("2.1.197"));
        assert_eq!(mid["CLAUDE_CODE_AUTO_COMPACT_WINDOW"], "32768");
        assert!(!mid.contains_key("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"));
        let old = vars(Some("2.0.77"));
        assert_eq!(old["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], cap);
        assert!(!old.contains_key("CLAUDE_CODE_AUTO_COMPACT_WINDOW"));
        // 14,048 of 200,000 - 5,720 = 194,280: 7.23%.
        assert_eq!(old["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"], "7.23");
        assert_eq!(minor_and_patch("2.1.197-beta"), Some((1, 197)));
        assert_eq!(minor_and_patch("3.0.1"), None);
    }

    #[test]
    fn a_window_too_small_to_compact_turns_automatic_compaction_off() {
        for tokens in [1024, 16_384, SMALLEST_COMPACTING_WINDOW - 1] {
            let window = w(tokens);
            assert_eq!(compact_threshold(tokens, output_cap(&window)), None);
            for version in [Some("2.0.77"), Some("2.1.197"), Some("2.1.332"), None] {
                let told: HashMap<_, _> = window_env(version, &window).into_iter().collect();
                assert_eq!(told["DISABLE_AUTO_COMPACT"], "1", "{version:?} {tokens}");
                assert!(!told.contains_key("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"));
                assert!(!told.contains_key("CLAUDE_CODE_AUTO_COMPACT_WINDOW"));
            }
        }
        let smallest = w(SMALLEST_COMPACTING_WINDOW);
        assert_eq!(output_cap(&smallest), MIN_OUTPUT_CAP);
        assert_eq!(
            compact_threshold(SMALLEST_COMPACTING_WINDOW, MIN_OUTPUT_CAP),
            Some(FIRST_REQUEST_TOKENS + CONVERSATION_ROOM)
        );
        assert!(
            !window_env(Some("2.1.332"), &smallest)
                .iter()
                .any(|(k, _)| *k == "DISABLE_AUTO_COMPACT")
        );
    }

    #[test]
    fn start_warnings_name_the_fix() {
        let env: std::collections::HashMap<String, String> = [(
            "LLAMACPP_BASE_URL".to_owned(),
            "http://127.0.0.1:9/v1".to_owned(),
        )]
        .into();
        let route = Registry::from_env(&env)
            .unwrap()
            .route("llamacpp/smollm2")
            .unwrap();
        let down = StartCheck {
            listening: false,
            window: None,
        };
        let msg = start_warnings(&route, &down).join("\n");
        assert!(
            msg.contains("nothing listens at http://127.0.0.1:9/v1"),
            "{msg}"
        );
        assert!(msg.contains("llama-server -m"), "{msg}");
        assert!(msg.contains("LLAMACPP_BASE_URL"), "{msg}");
        let small = StartCheck {
            listening: true,
            window: Some(w(2048)),
        };
        let msg = start_warnings(&route, &small).join("\n");
        assert!(msg.contains("2048-token window"), "{msg}");
        assert!(msg.contains("-c"), "{msg}");
        let no_compaction = StartCheck {
            listening: true,
            window: Some(w(16384)),
        };
        let msg = start_warnings(&route, &no_compaction).join("\n");
        assert!(
            msg.contains("16384-token window")
                && msg.contains("automatic compaction is off")
                && msg.contains(&format!("at least {SMALLEST_COMPACTING_WINDOW} tokens"))
                && msg.contains("-c"),
            "{msg}"
        );
        let compacting = StartCheck {
            listening: true,
            window: Some(w(SMALLEST_COMPACTING_WINDOW)),
        };
        assert!(start_warnings(&route, &compacting).is_empty());
        let big = StartCheck {
            listening: true,
            window: Some(w(65536)),
        };
        assert!(start_warnings(&route, &big).is_empty());
        let unknown = StartCheck {
            listening: true,
            window: None,
        };
        assert!(start_warnings(&route, &unknown).is_empty());
        let env: std::collections::HashMap<String, String> =
            [("OPENAI_API_KEY".to_owned(), "k".to_owned())].into();
        let hosted = Registry::from_env(&env)
            .unwrap()
            .route("openai/gpt-5")
            .unwrap();
        assert!(
            start_warnings(&hosted, &down).is_empty(),
            "hosted: no check"
        );
    }

    #[test]
    fn the_chosen_window_is_the_config_files_then_the_servers_then_the_documented_one() {
        let env: std::collections::HashMap<String, String> =
            [("OPENAI_API_KEY".to_owned(), "k".to_owned())].into();
        let plain = Registry::from_env(&env).unwrap();
        let served = Window {
            server_output_limit: Some(4096),
            ..w(8192)
        };
        // The server's own answer.
        assert_eq!(
            chosen_window(&plain, "llamacpp/q", Some(&served)),
            Some(served.clone())
        );
        assert_eq!(chosen_window(&plain, "llamacpp/q", None), None);
        // A well-known hosted model: its provider's documented figures.
        let gpt = chosen_window(&plain, "openai/gpt-5-mini", None).unwrap();
        assert_eq!(
            (gpt.tokens, gpt.server_output_limit, gpt.source.as_str()),
            (400_000, Some(128_000), "openai's documented window")
        );
        assert_eq!(chosen_window(&plain, "openai/gpt-unknown", None), None);
        // The config file beats both.
        let loaded = crate::registry::file::parse(
            "config.toml".into(),
            "[models.\"llamacpp/q\"]\ncontext_window = 32768\nmax_output_tokens = 2048\n\
             [models.\"llamacpp/r\"]\nmax_output_tokens = 1500\n\
             [models.\"openai/gpt-5-mini\"]\ncontext_window = 100000\n"
                .to_owned(),
        )
        .unwrap();
        let configured = Registry::build(
            Some(&loaded),
            &env,
            &crate::registry::ShellKeyCommand::default(),
        )
        .unwrap();
        let q = chosen_window(&configured, "llamacpp/q", Some(&served)).unwrap();
        assert_eq!(
            (q.tokens, q.server_output_limit, q.source.as_str()),
            (32768, Some(2048), "the config file")
        );
        let r = chosen_window(&configured, "llamacpp/r", Some(&served)).unwrap();
        assert_eq!((r.tokens, r.server_output_limit), (8192, Some(1500)));
        let gpt = chosen_window(&configured, "openai/gpt-5-mini", None).unwrap();
        assert_eq!(gpt.tokens, 100_000);
        // A configured window larger than the served one is warned about.
        let warning = config_window_warning(&configured, "llamacpp/q", Some(&served)).unwrap();
        assert!(
            warning.contains("32768-token window") && warning.contains("serves 8192"),
            "{warning}"
        );
        assert_eq!(
            config_window_warning(&configured, "llamacpp/q", Some(&w(65536))),
            None
        );
        assert_eq!(config_window_warning(&configured, "llamacpp/q", None), None);
        assert_eq!(
            config_window_warning(&plain, "llamacpp/q", Some(&served)),
            None
        );
    }

    #[test]
    fn a_window_larger_than_2_0_believes_needs_no_compaction_override() {
        let vars: Vec<_> = window_env(Some("2.0.77"), &w(1_048_576))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            vars,
            [
                "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS"
            ]
        );
    }

    #[test]
    fn overflow_hints_name_window_and_setting() {
        let server = crate::provider::preset("ollama").unwrap().server.unwrap();
        let hint = overflow_hint(&server, "prompt is too long: 9000 tokens > 4096 maximum");
        assert!(hint.starts_with("Ollama has a 4096-token window"), "{hint}");
        assert!(
            hint.contains("num_ctx") && hint.contains("OLLAMA_CONTEXT_LENGTH"),
            "{hint}"
        );
        let hint = overflow_hint(&server, "prompt is too long");
        assert!(hint.contains("too small"), "{hint}");
        let overflow = ApiError::new(
            ErrorKind::InvalidRequest,
            "prompt is too long: 9000 tokens > 4096 maximum",
        );
        let told = explain_overflow(Some(&server), overflow.clone());
        assert!(
            told.message.starts_with(
                "prompt is too long: 9000 tokens > 4096 maximum. Ollama has a 4096-token"
            ),
            "{}",
            told.message
        );
        assert_eq!(
            explain_overflow(None, overflow.clone()),
            overflow,
            "hosted: as it was"
        );
        let other = ApiError::new(ErrorKind::InvalidRequest, "bad tool schema");
        assert_eq!(explain_overflow(Some(&server), other.clone()), other);
    }

    #[test]
    fn roots_and_addresses() {
        assert_eq!(
            root_of("http://localhost:11434/v1"),
            "http://localhost:11434"
        );
        assert_eq!(root_of("http://h:1/api/v1/"), "http://h:1/api");
        assert_eq!(root_of("http://h:1"), "http://h:1");
        assert_eq!(
            socket_addrs("http://127.0.0.1:8080/v1"),
            Some(vec!["127.0.0.1:8080".parse().unwrap()])
        );
        assert_eq!(
            socket_addrs("http://[::1]:8000/v1"),
            Some(vec!["[::1]:8000".parse().unwrap()])
        );
    }

    #[test]
    fn reads_the_version_of_an_npm_install() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("node_modules/@anthropic-ai/claude-code");
        std::fs::create_dir_all(pkg.join("bin")).unwrap();
        std::fs::write(
            pkg.join("package.json"),
            r#"{"name":"@anthropic-ai/claude-code","version":"2.1.332"}"#,
        )
        .unwrap();
        std::fs::write(pkg.join("bin/claude.exe"), "").unwrap();
        std::fs::write(pkg.join("cli.js"), "").unwrap();
        assert_eq!(
            claude_version(&pkg.join("bin/claude.exe")).as_deref(),
            Some("2.1.332")
        );
        assert_eq!(
            claude_version(&pkg.join("cli.js")).as_deref(),
            Some("2.1.332")
        );
        assert_eq!(claude_version(&dir.path().join("nothing")), None);
    }
}
