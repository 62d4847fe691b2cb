//! The exit status anyclaude passes on: claude's exit code, or 128+N when claude died of
//! signal N (as a shell reports it). Pure, so it is unit-tested without processes.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The status to exit with after claude ended with `status`.
pub fn exit_code(status: ExitStatus) -> u8 {
    from_parts(status.code(), status.signal())
}

/// [`exit_code`] from its parts: the exit code if there is one, else 128 + the signal, else
/// 1 (a status that is neither, which Unix does not produce for an ended process).
pub fn from_parts(code: Option<i32>, signal: Option<i32>) -> u8 {
    match (code, signal) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => 128u8.saturating_add((sig & 0x7f) as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_signals() {
        let cases = [
            (Some(0), None, 0),
            (Some(7), None, 7),
            (Some(255), None, 255),
            (None, Some(15), 143),
            (None, Some(9), 137),
            (None, Some(2), 130),
            (None, None, 1),
        ];
        for (code, signal, want) in cases {
            assert_eq!(from_parts(code, signal), want, "{code:?} {signal:?}");
        }
    }

    #[test]
    fn from_wait_statuses() {
        // Raw wait(2) statuses: exit code in the high byte, signal in the low bits.
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        // Killed by SIGSEGV with a core dump (0x80 flag).
        assert_eq!(exit_code(ExitStatus::from_raw(11 | 0x80)), 139);
    }
}
