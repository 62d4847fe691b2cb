//! Hardening against a hostile neighbour and a broken world: claude never outlives a killed
//! anyclaude, idle connections cannot exhaust file descriptors, odd but recoverable request
//! bodies (lone surrogates, compression) are served, and the log file is safe to open.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::cli::Anyclaude;

/// Whether `pid` is alive (a zombie counts as gone: it runs no more code).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn libc_sigkill() -> i32 {
    Signal::SIGKILL as i32
}

#[test]
fn claude_dies_within_a_second_of_a_sigkilled_anyclaude() {
    let mut a = Anyclaude::with_fake("wait");
    let mut running = a.spawn();
    running.wait_line("READY", |l| l == "READY");
    let claude = a.record().0["pid"].as_i64().expect("pid") as i32;
    assert!(alive(claude), "the fake claude runs before the kill");

    let killed = Instant::now();
    running.signal(Signal::SIGKILL);
    // stdout is shared by anyclaude and claude: it ends once both have closed it, which a
    // dying process does just before it becomes a zombie; then poll /proc (a foreign pid
    // cannot be awaited) for the last few milliseconds.
    let closed = running.stdout_closed_within(Duration::from_secs(5));
    let deadline = killed + Duration::from_secs(5);
    while alive(claude) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = killed.elapsed();
    let still = alive(claude);
    if still {
        let _ = kill(Pid::from_raw(claude), Signal::SIGKILL);
    }
    assert!(
        !still,
        "claude (pid {claude}) outlived a SIGKILLed anyclaude"
    );
    assert!(closed.is_some(), "claude's stdout stayed open");
    assert!(
        took < Duration::from_secs(1),
        "claude lingered {took:?} after anyclaude was killed"
    );
    eprintln!("claude ended {took:?} after anyclaude's SIGKILL");
    assert_eq!(running.finish().status.signal(), Some(libc_sigkill()));
}
