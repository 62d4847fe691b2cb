//! Logging to a file, never to the terminal (claude owns it), and keeping secrets out of
//! the log.
//!
//! Each run logs to its own file, `anyclaude-<UTC timestamp>-<pid>.log`, in
//! `$XDG_STATE_HOME/anyclaude/` (fallback `~/.local/state/anyclaude/`), created with mode
//! 0600 in a 0700 directory; only the newest [`KEEP_RUNS`] run logs are kept. `--log-file`
//! names the file instead (and nothing is pruned): it is created 0600 (an existing one of
//! ours is made 0600), and a symlink, a non-regular file or another user's file is refused. Levels: 0 → WARN, 1 → INFO (one line per
//! request), 2 → DEBUG (bodies), 3 → TRACE (every stream event). Other crates log at WARN
//! whatever the level, so their internals never bury ours.
//!
//! Every line goes through [`SafeLog`]: control characters escaped (one event, one line) and
//! known secrets and URL userinfo scrubbed.
//!
//! Secrets: wrap them in [`Secret`] (whose `Debug` and `Display` print `***`) and pass
//! header values through [`redact_header`] and variables through [`redact_var`] before
//! logging them.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Env;
use crate::secrets::{Scrubber, escape_controls};

/// How many run logs are kept in the default directory (the current one included).
pub const KEEP_RUNS: usize = 20;

/// What replaces a secret in logs.
pub const REDACTED: &str = "***";

/// A value that must never be logged: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(pub T);

impl<T> Secret<T> {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Header names whose values are credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-anyclaude-token",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
];

/// `value`, or `***` when `name` is a header that carries credentials.
pub fn redact_header<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(value)
    }
}

/// Whether the variable `name` may hold a credential (`*KEY*`, `*TOKEN*`, `*SECRET*`,
/// `*PASSWORD*`, `*CREDENTIAL*`, `ANTHROPIC_CUSTOM_HEADERS`).
pub fn is_secret_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "CUSTOM_HEADERS",
        "CREDENTIAL",
    ]
    .iter()
    .any(|s| upper.contains(s))
}

/// `value`, or `***` when the variable `name` may hold a credential ([`is_secret_var`]).
pub fn redact_var<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_secret_var(name) {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(value)
    }
}

/// The tracing level for a 0–3 log level.
pub fn level_filter(level: u8) -> LevelFilter {
    match level {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The default log directory: `$XDG_STATE_HOME/anyclaude`, else
/// `$HOME/.local/state/anyclaude`; `None` when neither variable is usable.
pub fn default_dir(env: &dyn Env) -> Option<PathBuf> {
    if let Some(state) = env.non_empty("XDG_STATE_HOME").map(PathBuf::from)
        && state.is_absolute()
    {
        return Some(state.join("anyclaude"));
    }
    let home = PathBuf::from(env.non_empty("HOME")?);
    Some(home.join(".local/state/anyclaude"))
}

/// The file name of this run's log.
pub fn run_file_name(now: SystemTime, pid: u32) -> String {
    // 2024-05-01T12:34:56Z → 20240501T123456Z: sortable, no colons.
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("anyclaude-{stamp}-{pid}.log")
}

/// Creates the log file (mode 0600; its directory 0700) and installs the global tracing
/// subscriber writing to it through [`SafeLog`] (every line scrubbed by `scrubber`, control
/// characters escaped). With no `explicit` path, a new per-run file is created in `dir` and
/// older run logs beyond [`KEEP_RUNS`] are deleted. Returns the file's path.
pub fn init(
    level: u8,
    explicit: Option<&Path>,
    dir: Option<&Path>,
    scrubber: Scrubber,
) -> io::Result<PathBuf> {
    let (path, file) = match explicit {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)?;
            }
            (path.to_owned(), open_named(path)?)
        }
        None => {
            let dir = dir.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "neither XDG_STATE_HOME nor HOME is set",
                )
            })?;
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            // The directory is ours: keep it private even if something else created it.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            let path = dir.join(run_file_name(SystemTime::now(), std::process::id()));
            let file = OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&path)?;
            prune(dir, KEEP_RUNS);
            (path, file)
        }
    };
    install(level, SafeLog::new(file, scrubber));
    Ok(path)
}

/// Opens (or creates, mode 0600) the log file the user named, safely: a symlink is not
/// followed (another user could point it at a file of ours), anything but a regular file is
/// refused (a FIFO would block the proxy), and so is a file owned by someone else; a file of
/// ours that others can read is made private first, since the log holds the conversation.
pub fn open_named(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        // O_NONBLOCK: opening a FIFO must fail (or return at once), never wait for a reader.
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| {
            if err.raw_os_error() == Some(nix::libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "it is a symbolic link, which anyclaude does not follow for its log",
                )
            } else {
                err
            }
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "it belongs to another user",
        ));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// The log's writer: each event arrives as one formatted line, written with its line breaks
/// and other control characters escaped (text from an upstream cannot forge a log line) and
/// every known secret and URL userinfo scrubbed — a last line of defence under the redaction
/// done where values are logged.
#[derive(Debug)]
pub struct SafeLog<W> {
    out: Mutex<W>,
    scrubber: Scrubber,
}

impl<W: io::Write> SafeLog<W> {
    /// Writes to `out`, scrubbing with `scrubber`.
    pub fn new(out: W, scrubber: Scrubber) -> SafeLog<W> {
        SafeLog {
            out: Mutex::new(out),
            scrubber,
        }
    }

    /// Writes one formatted event (one line, its final line break included).
    pub fn write_event(&self, event: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(event);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = escape_controls(line);
        let line = self.scrubber.scrub(&line);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        out.write_all(&buf)
    }

    /// What was written (tests).
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// One event's writer, borrowed from a [`SafeLog`].
#[derive(Debug)]
pub struct SafeLine<'a, W>(&'a SafeLog<W>);

impl<W: io::Write> io::Write for SafeLine<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_event(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.out.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a, W: io::Write + 'a> tracing_subscriber::fmt::MakeWriter<'a> for SafeLog<W> {
    type Writer = SafeLine<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        SafeLine(self)
    }
}

fn install(level: u8, writer: SafeLog<File>) {
    let filter = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target(env!("CARGO_CRATE_NAME"), level_filter(level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    // A second init (tests calling in-process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init();
}

/// Deletes all but the newest `keep` run logs (`anyclaude-*.log`) in `dir`; the names sort
/// by time. Failures are ignored: pruning must never stop a run.
pub fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("anyclaude-") && n.ends_with(".log"))
        })
        .collect();
    if logs.len() <= keep {
        return;
    }
    logs.sort();
    let excess = logs.len() - keep;
    for old in &logs[..excess] {
        let _ = fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret("sk-live-123".to_owned());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "sk-live-123");
        assert_eq!(redact_header("Authorization", "Bearer x"), "***");
        assert_eq!(redact_header("x-anyclaude-token", "abc"), "***");
        assert_eq!(redact_header("X-API-KEY", "abc"), "***");
        assert_eq!(
            redact_header("anthropic-version", "2023-06-01"),
            "2023-06-01"
        );
        assert_eq!(redact_var("OPENAI_API_KEY", "sk"), "***");
        assert_eq!(redact_var("ANTHROPIC_CUSTOM_HEADERS", "x: y"), "***");
        assert_eq!(redact_var("ANTHROPIC_AUTH_TOKEN", "t"), "***");
        assert_eq!(redact_var("API_TIMEOUT_MS", "630000"), "630000");
    }

    #[test]
    fn a_named_log_is_private_and_never_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;

        let fresh = dir.path().join("fresh.log");
        open_named(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);

        let shared = dir.path().join("shared.log");
        fs::write(&shared, "earlier\n").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o644)).unwrap();
        open_named(&shared).unwrap();
        assert_eq!(mode(&shared), 0o600, "made private");
        assert_eq!(
            fs::read_to_string(&shared).unwrap(),
            "earlier\n",
            "appended to"
        );

        let target = dir.path().join("target");
        fs::write(&target, "").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_named(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(mode(&target), 0o644, "the target is untouched");

        let dangling = dir.path().join("dangling.log");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(open_named(&dangling).is_err());
        assert!(
            !dir.path().join("nowhere").exists(),
            "nothing created through it"
        );

        let fifo = dir.path().join("fifo.log");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert!(open_named(&fifo).is_err());
    }

    #[test]
    fn log_lines_cannot_be_forged_and_hold_no_secret() {
        let log = SafeLog::new(Vec::new(), Scrubber::new(["sk-live-0123456789"]));
        log.write_event(b"INFO upstream error body=oops\n2024 INFO forged\x1b[2J sk-live-0123456789 https://u:p@h/\n")
            .unwrap();
        log.write_event(b"INFO next\n").unwrap();
        let text = String::from_utf8(log.into_inner()).unwrap();
        assert_eq!(
            text,
            "INFO upstream error body=oops\\n2024 INFO forged\\u{1b}[2J *** https://***@h/\nINFO next\n"
        );
    }

    #[test]
    fn file_names_sort_by_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(run_file_name(t, 42), "anyclaude-20231114T221320Z-42.log");
        assert!(run_file_name(t, 9) < run_file_name(t + Duration::from_secs(1), 1));
    }

    #[test]
    fn dirs() {
        let env: HashMap<String, String> = [("HOME", "/home/u")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            default_dir(&env),
            Some(PathBuf::from("/home/u/.local/state/anyclaude"))
        );
        let mut with_xdg = env.clone();
        with_xdg.insert("XDG_STATE_HOME".into(), "/s".into());
        assert_eq!(default_dir(&with_xdg), Some(PathBuf::from("/s/anyclaude")));
        with_xdg.insert("XDG_STATE_HOME".into(), "relative".into());
        assert_eq!(
            default_dir(&with_xdg),
            Some(PathBuf::from("/home/u/.local/state/anyclaude"))
        );
        assert_eq!(default_dir(&HashMap::new()), None);
    }

    #[test]
    fn prunes_oldest() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..25 {
            fs::write(
                dir.path().join(format!("anyclaude-2024010{i:02}-1.log")),
                "",
            )
            .unwrap();
        }
        fs::write(dir.path().join("keep-me.txt"), "").unwrap();
        prune(dir.path(), 20);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left.len(), 21);
        assert_eq!(left[0], "anyclaude-202401005-1.log");
        assert!(left.contains(&"keep-me.txt".to_owned()));
    }
}
