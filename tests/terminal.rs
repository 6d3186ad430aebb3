//! The dashboard in a real terminal: the binary runs in a tmux pane with the emulated demo
//! models; keys go in with `send-keys` and the screen comes back with `capture-pane`.
//!
//! Skipped (with a message) where tmux is not installed.

use std::process::Command;
use std::time::{Duration, Instant};

/// How the binary is started for these tests.
const DEMO_ARGS: &str = "--demo";

struct Pane {
    session: String,
}

impl Pane {
    /// Starts the binary in a detached tmux session of the given size. After the binary
    /// exits, the pane saves the terminal modes (`stty -a`), prints `EXIT=<code>`, then waits.
    fn start(width: u16, height: u16, args: &str, env: &[(&str, &str)]) -> Option<Pane> {
        if Command::new("tmux").arg("-V").output().is_err() {
            // CI installs tmux, so there a missing tmux is a broken setup, not a skip.
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is not installed; .ci/run installs it (apt-get install tmux)"
            );
            eprintln!("tmux not installed; skipping the real-terminal test");
            return None;
        }
        let session = format!("signalbox-test-{}", std::process::id());
        let bin = env!("CARGO_BIN_EXE_signalbox");
        let state = std::env::temp_dir().join(&session);
        let exports: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        let script = format!(
            "stty -a > '{dir}.before'; {exports}XDG_STATE_HOME='{dir}' '{bin}' {args}; code=$?; \
             stty -a > '{dir}.after'; echo EXIT=$code; sleep 600",
            dir = state.display()
        );
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(script)
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux could not start a session");
        Some(Pane { session })
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "send-keys {keys:?}");
    }

    fn text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "send-keys -l {text}");
    }

    /// Types `line` into the input and presses Enter.
    fn submit(&self, line: &str) {
        self.text(line);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Waits (at most `limit`) until the screen satisfies `check`; returns the last screen.
    fn wait_for(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < limit,
                "waited {limit:?} for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn contains(needle: &'static str) -> impl Fn(&str) -> bool {
    move |screen| screen.contains(needle)
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn demo_answers_trips_heals_and_restores_the_terminal() {
    let Some(pane) = Pane::start(120, 50, &format!("{DEMO_ARGS} --speed 20"), &[]) else {
        return;
    };
    let dir = std::env::temp_dir().join(&pane.session);

    // The dashboard is up, both models closed.
    pane.wait_for(
        "the dashboard",
        LIMIT,
        contains("Ask a question in the box below"),
    );
    pane.wait_for("both signals green", LIMIT, |s| {
        s.contains("● gemma3:1b") && s.contains("● gemma2:2b")
    });

    // A question is answered, labelled with its model.
    pane.submit("What does a signal box do?");
    pane.wait_for("the first answer", LIMIT, |s| {
        s.contains("‹ gemma3:1b ·") || s.contains("‹ gemma2:2b ·")
    });
    pane.wait_for("the answer to finish", LIMIT, |s| {
        s.contains("ok 100% of 1")
    });

    // F2 trips model 1: its panel shows open with a countdown; the next answer comes from model 2.
    pane.keys(&["F2"]);
    pane.wait_for("gemma3:1b open", LIMIT, |s| {
        s.contains("○ gemma3:1b") && s.contains("open · probe in")
    });
    pane.submit("And a breaker?");
    pane.wait_for(
        "routing around the open breaker",
        LIMIT,
        contains("#2 → gemma2:2b"),
    );
    pane.wait_for("the second answer", LIMIT, contains("‹ gemma2:2b ·"));

    // The answers, with their labels and figures, as /save writes them.
    let saved = format!("{}.md", dir.display());
    let wait_done = |s: &str| !s.contains("Esc  cancel");
    pane.wait_for("the second answer to finish", LIMIT, wait_done);
    pane.submit(&format!("/save {saved}"));
    pane.wait_for("the save notice", LIMIT, contains("Saved the chat to"));
    let markdown = std::fs::read_to_string(&saved).expect("the chat was saved");
    assert!(markdown.contains("## gemma2:2b · "), "{markdown}");
    assert!(markdown.contains("first token"), "{markdown}");

    // After the open period the breaker goes half-open; the next request is its probe and closes it.
    pane.wait_for(
        "gemma3:1b half-open",
        Duration::from_secs(30),
        contains("◐ gemma3:1b"),
    );
    pane.submit("Is it healed?");
    pane.wait_for(
        "gemma3:1b closed again",
        LIMIT,
        contains("half-open → closed"),
    );
    pane.wait_for("green again", LIMIT, contains("● gemma3:1b"));

    // Ctrl+Q quits cleanly and the terminal is as it was.
    pane.keys(&["C-q"]);
    pane.wait_for("a clean exit", LIMIT, contains("EXIT=0"));
    let before = std::fs::read_to_string(format!("{}.before", dir.display())).expect("stty before");
    let after = std::fs::read_to_string(format!("{}.after", dir.display())).expect("stty after");
    assert_eq!(before, after, "terminal modes restored");
    for file in ["md", "before", "after"] {
        let _ = std::fs::remove_file(format!("{}.{file}", dir.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
