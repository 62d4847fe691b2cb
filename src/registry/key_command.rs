//! Key commands: a provider's `key_command` in the config file (`pass show openai`, `op read
//! op://…`) is run once at start through `sh -c`, and its standard output, trimmed, is the
//! key. It gets the terminal's standard input and error (a password manager may ask
//! there); its output is never shown, not even when it fails.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a key command may take (a password manager may wait for a fingerprint or a
/// passphrase).
pub const KEY_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The most output read from a key command: a key is far shorter.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Why a key command gave no key. The messages never include its output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyCommandError {
    /// It could not be started.
    #[error("could not be started: {0}")]
    Spawn(String),
    /// It exited unsuccessfully.
    #[error("failed ({0})")]
    Failed(String),
    /// It did not finish in time (and was killed).
    #[error("did not finish within {0:?} and was stopped")]
    Timeout(Duration),
    /// It printed nothing but whitespace.
    #[error("printed no key")]
    Empty,
    /// It printed more than one line of text.
    #[error("printed more than one line; a key command must print only the key")]
    Lines,
}

/// Runs key commands (a fake in tests of the registry).
pub trait RunKeyCommand {
    /// Runs `command` for `provider`; its output, trimmed, is the key.
    fn run(&self, provider: &str, command: &str) -> Result<String, KeyCommandError>;
}

/// Runs nothing: for a registry built without a config file.
#[derive(Debug, Clone, Copy)]
pub struct NoKeyCommands;

impl RunKeyCommand for NoKeyCommands {
    fn run(&self, _provider: &str, _command: &str) -> Result<String, KeyCommandError> {
        Err(KeyCommandError::Spawn("no key commands here".to_owned()))
    }
}

/// Runs key commands with `sh -c`, each within `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct ShellKeyCommand {
    /// The longest a command may take.
    pub timeout: Duration,
}

impl Default for ShellKeyCommand {
    fn default() -> Self {
        ShellKeyCommand {
            timeout: KEY_COMMAND_TIMEOUT,
        }
    }
}

impl RunKeyCommand for ShellKeyCommand {
    fn run(&self, _provider: &str, command: &str) -> Result<String, KeyCommandError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| KeyCommandError::Spawn(e.to_string()))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // The output is read on a thread so that a command that never ends can be waited
        // for with a deadline; the thread ends when the pipe closes.
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let read = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut out);
            let _ = tx.send(read.map(|_| out));
        });
        let output = match rx.recv_timeout(self.timeout) {
            Ok(read) => read,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(KeyCommandError::Timeout(self.timeout));
            }
        };
        let status = child
            .wait()
            .map_err(|e| KeyCommandError::Failed(e.to_string()))?;
        if !status.success() {
            return Err(KeyCommandError::Failed(status.to_string()));
        }
        let output = output.map_err(|e| KeyCommandError::Failed(e.to_string()))?;
        let text = String::from_utf8_lossy(&output);
        let key = text.trim();
        if key.is_empty() {
            return Err(KeyCommandError::Empty);
        }
        if key.lines().count() > 1 {
            return Err(KeyCommandError::Lines);
        }
        Ok(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(timeout_ms: u64) -> ShellKeyCommand {
        ShellKeyCommand {
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn prints_the_key() {
        assert_eq!(
            shell(10_000).run("p", "printf '  sk-from-command\\n'"),
            Ok("sk-from-command".to_owned())
        );
    }

    #[test]
    fn failures_never_show_the_output() {
        let err = shell(10_000)
            .run("p", "echo sk-leaked-secret; exit 3")
            .unwrap_err();
        assert_eq!(err, KeyCommandError::Failed("exit status: 3".to_owned()));
        assert!(!err.to_string().contains("sk-leaked"), "{err}");
        assert_eq!(
            shell(10_000).run("p", "printf '\\n  \\n'"),
            Err(KeyCommandError::Empty)
        );
        let err = shell(10_000)
            .run("p", "printf 'usage: sk-a\\nsk-b\\n'")
            .unwrap_err();
        assert_eq!(err, KeyCommandError::Lines);
        assert!(!err.to_string().contains("sk-"), "{err}");
        assert_eq!(
            shell(10_000).run("p", "/nonexistent/key-tool"),
            Err(KeyCommandError::Failed("exit status: 127".to_owned()))
        );
    }

    #[test]
    fn a_command_that_hangs_is_stopped() {
        let started = std::time::Instant::now();
        let err = shell(300).run("p", "exec sleep 30").unwrap_err();
        assert_eq!(err, KeyCommandError::Timeout(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
