//! The interactive case, as a person uses it: the real Claude Code started through anyclaude
//! in a terminal (a private tmux server), past its first-run screens, a prompt typed, the
//! streamed answer read off the screen, then Ctrl-C until it quits. anyclaude must exit with
//! claude's code, close its port and leave the terminal sane.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::chat_script;
use crate::claude::{self, Claude};
use crate::scripted::{Reply, Upstream};

/// A private tmux server (its own socket) running one session `t`.
pub struct Tmux {
    /// The socket name.
    pub socket: String,
}

impl Tmux {
    /// Starts a detached session `t`, `width` columns by 40 lines, on its own server
    /// `socket`, running `bash <script>`.
    pub fn start(socket: String, width: u16, script: &Path) -> Tmux {
        let tmux = Tmux { socket };
        let started = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            "40",
            &format!("bash {}", shell_quote(script)),
        ]);
        assert!(
            started.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    /// Quits Claude Code with two Ctrl-C in a row and waits until the session's script has
    /// written `exit_file`. The first Ctrl-C asks to press it again (within a short window,
    /// which a loaded machine can miss), so the second is pressed once that hint shows, and
    /// it starts over while Claude Code is still there.
    pub fn quit_claude(&self, exit_file: &Path) {
        for _ in 0..4 {
            self.cmd(&["send-keys", "-t", "t", "C-c"]);
            let _ = self.try_wait_for(Duration::from_secs(3), |s| {
                s.to_lowercase().contains("again to exit") || exit_file.exists()
            });
            self.cmd(&["send-keys", "-t", "t", "C-c"]);
            if self
                .try_wait_for(Duration::from_secs(10), |_| exit_file.exists())
                .is_some()
            {
                break;
            }
        }
        self.wait_for("exit", Duration::from_secs(5), |_| exit_file.exists());
    }

    /// Runs a tmux command on this server.
    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Reads the screen until `pred` holds, or gives up after `deadline`.
    pub fn try_wait_for(&self, deadline: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return Some(screen);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads the screen until `pred` holds; the screen is all there is to watch.
    pub fn wait_for(&self, what: &str, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < deadline,
                "no {what} on screen within {deadline:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends only the tmux server this test started, on its private socket.
        let _ = self.cmd(&["kill-server"]);
    }
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &Path) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

/// `export` lines (for a session's script) setting claude's base test environment under
/// `home` (see [`claude::base_env`]).
pub fn env_exports(home: &Path) -> String {
    claude::base_env(home)
        .into_iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(Path::new(&v))))
        .collect()
}

async fn interactive(claude: &Claude) {
    let upstream = Upstream::with_handler(|_| {
        Reply::sse(chat_script::text(&["Hello from ", "the terminal test"]))
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    let project = project.canonicalize().unwrap();
    claude::prepared_home(&home, &project, &claude.version);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exit_file = root.path().join("exit.txt");
    let stty_file = root.path().join("stty.txt");
    let script = root.path().join("run.sh");
    let env_lines = env_exports(&home);
    std::fs::write(
        &script,
        format!(
            "{env_lines}export XDG_STATE_HOME={state}\nexport OPENAI_BASE_URL=http://{addr}/v1\nexport OPENAI_API_KEY=sk-tty\nexport TERM=xterm-256color\ncd {project}\n{bin} --claude {claude} --model openai/gpt-tty --port {port}\nstatus=$?\nstty -a > {stty}.part && mv {stty}.part {stty}\necho \"EXIT=$status\" > {exit}.part && mv {exit}.part {exit}\nsleep 300\n",
            state = shell_quote(&home.join("state")),
            addr = upstream.addr,
            project = shell_quote(&project),
            bin = shell_quote(Path::new(env!("CARGO_BIN_EXE_anyclaude"))),
            claude = shell_quote(&claude.bin),
            exit = shell_quote(&exit_file),
            stty = shell_quote(&stty_file),
        ),
    )
    .unwrap();
    let tmux = Tmux::start(
        format!("anyclaude-e2e-{}-{port}", std::process::id()),
        120,
        &script,
    );
    let version = claude.version.clone();
    let ready = tokio::task::spawn_blocking(move || {
        tmux.wait_for("prompt", Duration::from_secs(60), |s| {
            s.contains("shortcuts") || s.contains('❯') || s.contains("│ >")
        });
        tmux.cmd(&["send-keys", "-t", "t", "-l", "say hi"]);
        // Enter only once the prompt shows the text: 2.0.x takes keys arriving with the
        // text as part of a paste, and an Enter inside it does not submit.
        tmux.wait_for("typed prompt", Duration::from_secs(30), |s| {
            s.contains("say hi")
        });
        // 2.0.x under load can still take the first Enter as part of the paste: an Enter
        // on a prompt already sent is harmless, so press it again while no answer shows.
        let mut screen = None;
        for _ in 0..4 {
            tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
            screen =
                tmux.try_wait_for(Duration::from_secs(15), |s| s.contains("the terminal test"));
            if screen.is_some() {
                break;
            }
        }
        let screen =
            screen.unwrap_or_else(|| panic!("{version}: no answer on screen:\n{}", tmux.screen()));
        assert!(
            screen.contains("Hello from the terminal test"),
            "{version}:\n{screen}"
        );
        // The stty state and the exit file are renamed into place whole, the stty first.
        tmux.quit_claude(&exit_file);
        let exit = std::fs::read_to_string(&exit_file).unwrap();
        let stty = std::fs::read_to_string(&stty_file).unwrap();
        (exit, stty, tmux)
    })
    .await
    .unwrap();
    let (exit, stty, tmux) = ready;
    assert_eq!(exit.trim(), "EXIT=0", "{}", claude.version);
    // The terminal is left as a shell expects it: canonical mode and echo on.
    assert!(
        stty.contains(" icanon") && !stty.contains("-icanon"),
        "{stty}"
    );
    assert!(
        stty.contains(" echo ") && !stty.contains("-echo "),
        "{stty}"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the proxy port is closed after exit"
    );
    drop(tmux);
}

#[tokio::test]
async fn e2e_interactive_session_in_a_terminal() {
    const NAME: &str = "e2e_interactive_session_in_a_terminal";
    if !claude::tool_present(NAME, "tmux", "apt-get install tmux") {
        return;
    }
    for claude in claude::pinned(NAME) {
        interactive(&claude).await;
        claude::record(NAME, &claude);
    }
}
