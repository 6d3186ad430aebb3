//! The loop end to end: the real engine over fake backends, a test terminal and scripted
//! keys, on a paused clock.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use tokio::time::sleep;

use super::app::{App, AppOptions, Now};
use super::chat::{AnswerEntry, AnswerStatus, Entry};
use super::event_loop::event_loop;
use crate::backend::Backend;
use crate::backend::fake::{FakeBackend, Script};
use crate::config::{Config, ModelConfig};
use crate::engine::{BreakerState, Engine};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Models `fast` and `slow`, answering with these scripts.
fn engine(fast: Script, slow: Script) -> (Engine, Vec<FakeBackend>) {
    let url = url::Url::parse("http://127.0.0.1:1").expect("a valid URL");
    let mut config = Config::default_for(url.clone());
    config.models = ["fast", "slow"]
        .iter()
        .map(|n| ModelConfig::ollama(*n, url.clone(), Duration::from_secs(20)))
        .collect();
    config.routing.warmup = 0;
    config.routing.probe_every = 0;
    let fakes = vec![FakeBackend::new(fast), FakeBackend::new(slow)];
    let backends = fakes
        .iter()
        .map(|f| Arc::new(f.clone()) as Arc<dyn Backend>)
        .collect();
    (Engine::with_backends(&config, backends), fakes)
}

/// Keys typed into the loop.
struct Keyboard(mpsc::UnboundedSender<io::Result<TermEvent>>);

impl Keyboard {
    fn key(&self, code: KeyCode, mods: KeyModifiers) {
        let _ = self.0.send(Ok(TermEvent::Key(KeyEvent::new(code, mods))));
    }

    fn type_line(&self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c), KeyModifiers::NONE);
        }
        self.key(KeyCode::Enter, KeyModifiers::NONE);
    }
}

struct Run {
    app: App,
    screen: String,
}

/// Runs the loop while `script` types; returns the final state and screen.
async fn run<F>(engine: &Engine, script: impl FnOnce(Keyboard) -> F) -> Run
where
    F: Future<Output = ()>,
{
    let mut app = App::new(engine.model_names(), AppOptions::default());
    app.board
        .apply_snapshot(engine.snapshot(), Now::system().at);
    let mut bus = engine.subscribe();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let (tx, rx) = mpsc::unbounded_channel();
    let input = Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let (result, ()) = tokio::join!(
        event_loop(engine, &mut app, &mut terminal, input, &mut bus),
        script(Keyboard(tx))
    );
    result.expect("the loop ends cleanly");
    let screen = terminal.backend().to_string();
    Run { app, screen }
}

fn answers(app: &App) -> Vec<&AnswerEntry> {
    app.chat
        .entries()
        .iter()
        .filter_map(|e| match e {
            Entry::Answer(a) => Some(a),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn answer_streams_in_then_a_tripped_breaker_moves_traffic_to_the_other_model() {
    let (engine, _fakes) = engine(
        Script::answer("from fast", 3).every(ms(20)),
        Script::answer("from slow", 3).every(ms(20)),
    );
    let run = run(&engine, |keys| async move {
        keys.type_line("hello");
        sleep(ms(1000)).await;
        keys.key(KeyCode::F(2), KeyModifiers::NONE);
        sleep(ms(100)).await;
        keys.type_line("again");
        sleep(ms(1000)).await;
        keys.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    })
    .await;

    let answers = answers(&run.app);
    assert_eq!(answers.len(), 2);
    let first = answers[0].model.as_deref().expect("first answer labelled");
    assert_eq!(answers[0].text, format!("from {first}"));
    assert!(matches!(answers[0].status, AnswerStatus::Done { .. }));
    assert_eq!(
        answers[1].model.as_deref(),
        Some("slow"),
        "fast's breaker is open"
    );
    assert_eq!(answers[1].text, "from slow");

    let fast = run
        .app
        .board
        .snapshot
        .as_ref()
        .and_then(|s| s.model("fast"))
        .expect("fast");
    assert_eq!(fast.breaker.state, BreakerState::Open);
    assert!(run.screen.contains("○ fast"), "{}", run.screen);
    assert!(run.screen.contains("open · probe in"), "{}", run.screen);
    assert!(run.screen.contains("‹ slow ·"), "{}", run.screen);
}

#[tokio::test(start_paused = true)]
async fn esc_cancels_the_answer_and_the_server_stream_is_dropped() {
    let slow = Script::answer(&"word ".repeat(50), 50).every(ms(100));
    let (engine, fakes) = engine(slow.clone(), slow);
    let run = run(&engine, |keys| async move {
        keys.type_line("tell me a long story");
        sleep(ms(500)).await;
        keys.key(KeyCode::Esc, KeyModifiers::NONE);
        sleep(ms(200)).await;
        keys.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    })
    .await;

    let answers = answers(&run.app);
    assert_eq!(answers[0].status, AnswerStatus::Cancelled);
    assert!(
        !answers[0].text.is_empty(),
        "the partial answer stays on screen"
    );
    let dropped: u64 = fakes.iter().map(FakeBackend::dropped).sum();
    assert_eq!(dropped, 1, "the cancel reached the backend");
}

#[tokio::test(start_paused = true)]
async fn when_every_model_fails_the_prompt_is_back_in_the_input() {
    let (engine, _fakes) = engine(Script::refused(), Script::refused());
    let run = run(&engine, |keys| async move {
        keys.type_line("are you there?");
        sleep(ms(1000)).await;
        keys.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    })
    .await;

    assert!(matches!(
        answers(&run.app)[0].status,
        AnswerStatus::Failed(_)
    ));
    assert_eq!(run.app.input_text(), "are you there?");
    assert!(run.screen.contains("every model failed"), "{}", run.screen);
}
