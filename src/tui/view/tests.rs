//! Whole-screen snapshots over ratatui's test backend, from deterministic state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::backend::{BackendError, TimeoutKind};
use crate::engine::{AllFailed, AttemptError, BreakerState, ReplyEvent, RequestId};
use crate::events::{Event, Health};
use crate::tui::app::{App, AppOptions, Msg};
use crate::tui::fixtures::{self, name};

fn screen(app: &mut App, now: Instant, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|f| super::render(f, app, now)).expect("draw");
    terminal.backend().to_string()
}

fn ask(app: &mut App, base: Instant, prompt: &str) {
    for c in prompt.chars() {
        app.update(
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            fixtures::now(base),
        );
    }
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        fixtures::now(base),
    );
}

fn streaming_app(base: Instant) -> App {
    let mut app = fixtures::app(base);
    ask(&mut app, base, "How do I read a file in Rust?");
    let routed = Event::Routed {
        id: RequestId(13),
        origin: Default::default(),
        strategy: "p95",
        candidates: vec![name("gemma3:1b"), name("gemma2:2b")],
        reason: "lowest p95".into(),
    };
    app.update(Msg::Bus(routed), fixtures::now(base));
    let events = [
        ReplyEvent::Routed {
            id: RequestId(13),
            model: name("gemma3:1b"),
            reason: "lowest p95".into(),
        },
        ReplyEvent::Token("Use `std::fs::read_to_string`:\n\n```rust\nfn main() {\n".into()),
        ReplyEvent::Token(
            "    let text = std::fs::read_to_string(\"notes.txt\").unwrap();\n".into(),
        ),
        ReplyEvent::Token(
            "    println!(\"{text}\");\n}\n```\n\n- it reads the whole file into memory at once\n"
                .into(),
        ),
        ReplyEvent::Token("- errors".into()),
    ];
    for event in events {
        app.update(Msg::Reply(event), fixtures::now(base));
    }
    app
}

fn open_breaker(app: &mut App, base: Instant) {
    app.update(Msg::Bus(fixtures::breaker_opened()), fixtures::now(base));
    if let Some(s) = &mut app.board.snapshot {
        s.models[1].breaker.consecutive_failures = 2;
    }
}

#[test]
fn empty_start_80x24() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    assert_snapshot!(screen(&mut app, base, 80, 24));
}

#[test]
fn empty_start_before_any_figures_120x40() {
    let base = Instant::now();
    let models = vec![name("gemma3:1b"), name("gemma2:2b")];
    let banner = "Demo mode: no Ollama found at http://127.0.0.1:11434 — models are emulated";
    let mut app = App::new(
        models,
        AppOptions {
            banner: Some(banner.into()),
            ..AppOptions::default()
        },
    );
    assert_snapshot!(screen(&mut app, base, 120, 40));
}

#[test]
fn answer_streaming_120x40() {
    let base = Instant::now();
    let mut app = streaming_app(base);
    assert_snapshot!(screen(&mut app, base, 120, 40));
}

#[test]
fn answer_streaming_80x24() {
    let base = Instant::now();
    let mut app = streaming_app(base);
    assert_snapshot!(screen(&mut app, base, 80, 24));
}

#[test]
fn breaker_open_with_countdown_120x40() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    open_breaker(&mut app, base);
    // Three seconds later the countdown reads 7 s.
    let text = screen(&mut app, fixtures::later(base, 3).at, 120, 40);
    assert!(
        text.contains("○ open · probe in 7 s · 2 failures"),
        "{text}"
    );
    assert_snapshot!(text);
}

#[test]
fn breaker_half_open_and_model_not_installed_120x40() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let half = Event::Breaker {
        model: name("gemma3:1b"),
        from: BreakerState::Open,
        to: BreakerState::HalfOpen,
        reason: "open period over".into(),
        open_for: None,
    };
    app.update(Msg::Bus(half), fixtures::now(base));
    let missing = Event::Health {
        model: name("gemma2:2b"),
        health: Health::NotInstalled {
            fix: "ollama pull gemma2:2b".into(),
        },
    };
    app.update(Msg::Bus(missing), fixtures::now(base));
    let text = screen(&mut app, base, 120, 40);
    assert!(text.contains("◐ half-open"), "{text}");
    assert!(text.contains("ollama pull gemma2:2b"), "{text}");
    assert_snapshot!(text);
}

#[test]
fn every_model_failed_80x24() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    open_breaker(&mut app, base);
    ask(&mut app, base, "still there?");
    let all = AllFailed {
        attempts: vec![
            (
                name("gemma3:1b"),
                AttemptError::Backend(BackendError::Timeout {
                    kind: TimeoutKind::Total,
                    after: Duration::from_secs(20),
                }),
            ),
            (
                name("gemma2:2b"),
                AttemptError::CircuitOpen {
                    next_probe_in: Duration::from_secs(10),
                },
            ),
        ],
    };
    app.update(Msg::Reply(ReplyEvent::Failed(all)), fixtures::now(base));
    let text = screen(&mut app, base, 80, 24);
    assert!(
        text.contains("still there?"),
        "the prompt is back in the input: {text}"
    );
    assert_snapshot!(text);
}

#[test]
fn help_overlay_120x40() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)),
        fixtures::now(base),
    );
    let text = screen(&mut app, base, 120, 40);
    assert!(text.contains("/tmp/signalbox.log"), "{text}");
    assert_snapshot!(text);
}

#[test]
fn help_overlay_scrolls_on_a_small_terminal() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let f1 = KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE);
    app.update(Msg::Key(f1), fixtures::now(base));
    assert!(!screen(&mut app, base, 60, 20).contains("Log file"));
    for _ in 0..30 {
        let down = KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE);
        app.update(Msg::Key(down), fixtures::now(base));
    }
    let text = screen(&mut app, base, 60, 20);
    assert!(text.contains("Log file"), "{text}");
    assert_snapshot!(text);
}

#[test]
fn small_terminal_60x20_shows_one_line_per_model() {
    let base = Instant::now();
    let mut app = streaming_app(base);
    open_breaker(&mut app, base);
    let text = screen(&mut app, base, 60, 20);
    assert!(!text.contains("events (UTC)"), "no event log at 60×20");
    assert!(text.contains("○ gemma2:2b open · probe in 10 s"), "{text}");
    assert_snapshot!(text);
}

#[test]
fn no_color_keeps_the_shapes() {
    let base = Instant::now();
    let models = vec![name("gemma3:1b"), name("gemma2:2b")];
    let mut app = App::new(
        models,
        AppOptions {
            no_color: true,
            ..AppOptions::default()
        },
    );
    app.board.apply_snapshot(fixtures::snapshot(), base);
    open_breaker(&mut app, base);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    terminal
        .draw(|f| super::render(f, &mut app, base))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    let text = terminal.backend().to_string();
    assert!(text.contains("● gemma3:1b") && text.contains("○ gemma2:2b"));
}

#[test]
fn a_snapshot_from_the_bus_replaces_the_figures_shown() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let mut s = fixtures::snapshot();
    s.strategy = "round-robin";
    app.update(Msg::Bus(Event::Snapshot(Arc::new(s))), fixtures::now(base));
    assert!(screen(&mut app, base, 120, 40).contains("strategy round-robin"));
}

/// Measures one frame at 120×40 with 500 messages in the chat. Run with
/// `cargo test --lib render_bench -- --ignored --nocapture` (add `--release` for real figures).
#[test]
#[ignore = "a measurement, not a check"]
fn render_bench() {
    use crate::tui::chat::{AnswerEntry, AnswerStatus, Entry};

    let base = Instant::now();
    let mut app = fixtures::app(base);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let frames = 200;
    let started = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|f| super::render(f, &mut app, base))
            .expect("draw");
    }
    let empty = started.elapsed() / frames;
    let body = "Here is how:\n\n```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n- first point that is long enough to wrap around the chat pane at least once\n- second";
    for i in 0..250 {
        app.chat.push(Entry::User(format!(
            "question {i}: how do I print in Rust, and why does it work?"
        )));
        app.chat.push(Entry::Answer(AnswerEntry {
            model: Some(name("gemma3:1b")),
            text: body.to_string(),
            status: AnswerStatus::Done {
                total: Duration::from_millis(900),
                first_token: None,
                tokens_per_sec: None,
            },
            fallbacks: Vec::new(),
            retries: Vec::new(),
            reason: None,
        }));
    }
    let started = Instant::now();
    terminal
        .draw(|f| super::render(f, &mut app, base))
        .expect("draw");
    let cold = started.elapsed();

    let started = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|f| super::render(f, &mut app, base))
            .expect("draw");
    }
    let warm = started.elapsed() / frames;

    ask(&mut app, base, "one more");
    let started = Instant::now();
    for _ in 0..frames {
        app.update(
            Msg::Reply(ReplyEvent::Token("tok ".into())),
            fixtures::now(base),
        );
        terminal
            .draw(|f| super::render(f, &mut app, base))
            .expect("draw");
    }
    let streaming = started.elapsed() / frames;
    println!(
        "120x40: empty chat {empty:?}; 500 messages: first frame {cold:?}, cached frame {warm:?}, frame per streamed token {streaming:?}"
    );
}

#[test]
fn tiny_terminals_draw_without_panicking() {
    let base = Instant::now();
    let mut app = streaming_app(base);
    open_breaker(&mut app, base);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)),
        fixtures::now(base),
    );
    for (width, height) in [(1, 1), (10, 5), (20, 8), (40, 12), (75, 30), (200, 60)] {
        let text = screen(&mut app, base, width, height);
        assert_eq!(text.lines().count(), height as usize);
    }
}
