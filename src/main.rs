//! The `anyclaude` binary: everything lives in the library; see [`anyclaude::app`].

fn main() -> std::process::ExitCode {
    anyclaude::app::main()
}
