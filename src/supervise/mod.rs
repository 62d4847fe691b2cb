//! Running `claude` as a child and supervising it.
//!
//! The child inherits stdin, stdout, stderr and the terminal, and stays in anyclaude's
//! process group (no `setpgid`/`setsid`: a TUI in a background group gets SIGTTOU). The
//! terminal delivers SIGINT, SIGQUIT, SIGTSTP and SIGWINCH to the whole foreground group,
//! so anyclaude merely survives SIGINT and SIGQUIT (listeners registered before the spawn,
//! never `SIG_IGN`, which the child would inherit) and forwards SIGTERM and SIGHUP, which
//! are sent to anyclaude alone. A child still alive [`KILL_GRACE`] after a forwarded signal
//! is killed.

pub mod env;
pub mod exit;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep_until};

/// How long claude gets to exit after a forwarded SIGTERM or SIGHUP before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// Where to get Claude Code, for messages.
pub const INSTALL_HINT: &str = "install it with `npm install -g @anthropic-ai/claude-code`, \
     or point --claude (or ANYCLAUDE_CLAUDE_PATH) at it";

/// Why claude could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// No such program (exit status 127).
    #[error("cannot find Claude Code ({program}); {INSTALL_HINT}")]
    NotFound {
        /// As given.
        program: String,
    },
    /// A file that cannot be executed (exit status 126).
    #[error(
        "{path} is not executable; fix its permissions (chmod +x) or point --claude at \
             the real program"
    )]
    NotExecutable {
        /// The file found.
        path: String,
    },
    /// Spawning failed otherwise.
    #[error("cannot run {path}")]
    Io {
        /// The program.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl SpawnError {
    /// The exit status it maps to, as a shell's.
    pub fn exit_code(&self) -> u8 {
        match self {
            SpawnError::NotFound { .. } => 127,
            SpawnError::NotExecutable { .. } => 126,
            SpawnError::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => 127,
                io::ErrorKind::PermissionDenied => 126,
                _ if source.raw_os_error() == Some(nix::libc::ENOEXEC) => 126,
                _ => 1,
            },
        }
    }
}

/// Finds the program to run: a path (anything with a `/`) is checked as is; a bare name is
/// looked up in `path_var` (the user's `PATH`).
pub fn resolve(program: &OsStr, path_var: Option<&str>) -> Result<PathBuf, SpawnError> {
    let shown = program.to_string_lossy().into_owned();
    if program.as_encoded_bytes().contains(&b'/') {
        return check_executable(Path::new(program), &shown);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    match which::which_in(program, path_var, &cwd) {
        Ok(path) => Ok(path),
        Err(_) => {
            // `which` skips files without execute permission; name one if there is one.
            let found = path_var
                .into_iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file());
            match found {
                Some(path) => check_executable(&path, &shown),
                None => Err(SpawnError::NotFound { program: shown }),
            }
        }
    }
}

fn check_executable(path: &Path, shown: &str) -> Result<PathBuf, SpawnError> {
    match std::fs::metadata(path) {
        Err(_) => Err(SpawnError::NotFound {
            program: shown.to_owned(),
        }),
        Ok(meta) if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 => {
            Err(SpawnError::NotExecutable {
                path: path.display().to_string(),
            })
        }
        Ok(_) => Ok(path.to_owned()),
    }
}

/// The signals anyclaude handles, registered together before the child is spawned.
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the listeners; from now on these signals no longer end anyclaude. Must be
    /// called inside a tokio runtime.
    pub fn register() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for a request to stop (`--proxy-only`): SIGINT, SIGTERM, SIGHUP or SIGQUIT.
    /// Returns the signal's name.
    pub async fn stop_requested(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
            _ = self.quit.recv() => "SIGQUIT",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The resolved program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables set on top of the inherited environment.
    pub env: Vec<(String, String)>,
}

/// Spawns the child and supervises it until it exits; returns how it ended.
pub async fn run(spec: ChildSpec, signals: &mut Signals) -> Result<ExitStatus, SpawnError> {
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| SpawnError::Io {
        path: spec.program.display().to_string(),
        source,
    })?;
    let pid = child.id().map(|id| Pid::from_raw(id as i32));
    tracing::info!(pid = ?pid.map(|p| p.as_raw()), program = %spec.program.display(), "claude started");

    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|source| SpawnError::Io {
                    path: spec.program.display().to_string(),
                    source,
                })?;
                tracing::info!(%status, "claude exited");
                return Ok(status);
            }
            _ = signals.term.recv() => forward(pid, Signal::SIGTERM, &mut deadline),
            _ = signals.hup.recv() => forward(pid, Signal::SIGHUP, &mut deadline),
            _ = signals.int.recv() => tracing::debug!("SIGINT: the terminal delivers it to claude too; ignored"),
            _ = signals.quit.recv() => tracing::debug!("SIGQUIT: the terminal delivers it to claude too; ignored"),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                tracing::warn!(grace = ?KILL_GRACE, "claude still running after a forwarded signal; killing it");
                deadline = None;
                if let Err(err) = child.start_kill() {
                    tracing::warn!(error = %err, "cannot kill claude");
                }
            }
        }
    }
}

/// Makes the kernel SIGKILL the child when anyclaude dies, however it dies (SIGKILL, the
/// OOM killer, a crash): `kill_on_drop` and the forwarded signals only run while anyclaude
/// does. A claude that outlived it would keep retrying the dead port, and whatever bound
/// that port next would receive the per-run token, the conversation and Claude Code's own
/// credentials. SIGKILL rather than SIGTERM, because only it bounds how long claude lingers.
///
/// The kernel sends the signal when the *thread* that spawned the child exits; the child is
/// spawned from the runtime's `block_on` on the main thread, which lives until anyclaude
/// exits.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    let hook = move || -> io::Result<()> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        // The parent may have died between fork and prctl: then the signal never comes and
        // the child has been re-parented, so its parent pid is no longer anyclaude's.
        if nix::unistd::getppid() != parent {
            return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: `pre_exec` runs the hook in the forked child before exec, where only
    // async-signal-safe operations are sound (another thread may have held a lock at fork
    // time). The hook makes two system calls, prctl(2) and getppid(2), both
    // async-signal-safe; it allocates nothing, takes no lock and touches no shared state
    // (the captured pid is a plain integer copied into the closure), and its error is built
    // from a raw errno without allocating. There is no safe API for a parent-death signal:
    // setting it in the child between fork and exec is the only place it can go, and this is
    // the smallest hook that does it.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Elsewhere there is no parent-death signal; claude is ended by `kill_on_drop` and the
/// forwarded signals only.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut tokio::process::Command) {}

/// Sends `sig` to the child (not yet reaped, so its pid cannot have been reused) and starts
/// the grace period if it is not running yet.
fn forward(pid: Option<Pid>, sig: Signal, deadline: &mut Option<Instant>) {
    tracing::info!(signal = %sig, "forwarding to claude");
    if let Some(pid) = pid
        && let Err(err) = kill(pid, sig)
    {
        tracing::debug!(error = %err, "forwarding failed (claude already gone?)");
    }
    deadline.get_or_insert_with(|| Instant::now() + KILL_GRACE);
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn resolves() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("claude");
        fs::write(&exe, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().to_str().unwrap();

        assert_eq!(resolve(OsStr::new("claude"), Some(path)).unwrap(), exe);
        assert_eq!(resolve(exe.as_os_str(), None).unwrap(), exe);
        let missing = resolve(OsStr::new("claude"), Some("/nonexistent")).unwrap_err();
        assert_eq!(missing.exit_code(), 127);
        assert!(
            missing
                .to_string()
                .contains("npm install -g @anthropic-ai/claude-code")
        );

        fs::set_permissions(&exe, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(resolve(exe.as_os_str(), None).unwrap_err().exit_code(), 126);
        assert_eq!(
            resolve(OsStr::new("claude"), Some(path))
                .unwrap_err()
                .exit_code(),
            126
        );
        assert_eq!(
            resolve(dir.path().as_os_str(), None)
                .unwrap_err()
                .exit_code(),
            126
        );
    }
}
