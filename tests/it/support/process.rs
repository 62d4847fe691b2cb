//! Waiting on child processes and their output with bounded timeouts, without sleeping:
//! a thread blocks on the pipe or on `wait`, the test blocks on a channel with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A generous bound for anything a test waits for.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How a watched process ended, with everything it wrote.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr.
    pub stderr: String,
}

impl Finished {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn assert_code(&self, want: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(want),
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A running process whose stdout is read line by line as it comes.
pub struct Watched {
    pid: Pid,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Receiver<String>,
    exit: Receiver<std::io::Result<ExitStatus>>,
    done: bool,
}

impl Watched {
    /// Watches `child`, which must have been spawned with piped stdout and stderr.
    pub fn new(mut child: Child) -> Watched {
        let pid = Pid::from_raw(child.id() as i32);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout piped");
        let mut stderr = child.stderr.take().expect("stderr piped");
        let (line_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, stderr_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = err_tx.send(s);
        });
        let (exit_tx, exit) = mpsc::channel();
        thread::spawn(move || {
            let _ = exit_tx.send(child.wait());
        });
        Watched {
            pid,
            stdin,
            lines,
            seen: Vec::new(),
            stderr: stderr_rx,
            exit,
            done: false,
        }
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Sends a signal to the process (only to it, not its group).
    pub fn signal(&self, sig: Signal) {
        kill(self.pid, sig).expect("signal");
    }

    /// Writes to its stdin.
    pub fn write_stdin(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin piped");
        stdin.write_all(text.as_bytes()).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits (at most [`TIMEOUT`]) for a stdout line satisfying `pred`; returns it.
    #[track_caller]
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} on stdout within {TIMEOUT:?}; saw {:?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed before {what}; saw {:?}", self.seen)
                }
            }
        }
    }

    /// Waits (at most `within`) for stdout to reach its end, which comes only once every
    /// process holding it (the child and whatever it started) is gone; returns how long it
    /// took, or `None` when it stayed open.
    pub fn stdout_closed_within(&mut self, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return Some(start.elapsed()),
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
    }

    /// Whether the process is still running after waiting up to `within` for it to end.
    pub fn still_running_after(&mut self, within: Duration) -> bool {
        match self.exit.recv_timeout(within) {
            Err(RecvTimeoutError::Timeout) => true,
            Ok(status) => {
                // Put it back for `finish`.
                let (tx, rx) = mpsc::channel();
                let _ = tx.send(status);
                self.exit = rx;
                false
            }
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Waits (at most `within`) for the process to exit; kills it and panics if it does not.
    /// Its stdin stays open until this value is gone (a child reading it must not see EOF
    /// while a test still waits on a signal).
    #[track_caller]
    pub fn finish_within(mut self, within: Duration) -> Finished {
        let status = match self.exit.recv_timeout(within) {
            Ok(status) => status.expect("wait"),
            Err(_) => {
                let _ = kill(self.pid, Signal::SIGKILL);
                panic!(
                    "still running after {within:?}; stdout so far {:?}",
                    self.seen
                )
            }
        };
        self.done = true;
        // Read to the end of both pipes; a bound, because a grandchild could hold them open.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        let stdout = self.seen.join("\n");
        let stderr = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| "(stderr still open)".to_owned());
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// [`Watched::finish_within`] with [`TIMEOUT`].
    #[track_caller]
    pub fn finish(self) -> Finished {
        self.finish_within(TIMEOUT)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.done {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}
