//! The dashboard's behaviour, driven by messages with no terminal.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Effect, Msg};
use super::chat::{AnswerStatus, Entry};
use super::fixtures::{self, name};
use crate::backend::{BackendError, FinalStats, Role, TimeoutKind};
use crate::config::StrategyKind;
use crate::engine::{AllFailed, Answer, AttemptError, ReplyEvent, RequestId};
use crate::events::Event;

fn key(app: &mut App, base: Instant, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, mods)), fixtures::now(base))
}

fn type_text(app: &mut App, base: Instant, text: &str) {
    for c in text.chars() {
        key(app, base, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn send(app: &mut App, base: Instant, text: &str) -> Vec<Effect> {
    type_text(app, base, text);
    key(app, base, KeyCode::Enter, KeyModifiers::NONE)
}

fn reply(app: &mut App, base: Instant, event: ReplyEvent) {
    app.update(Msg::Reply(event), fixtures::now(base));
}

fn last_answer(app: &App) -> &super::chat::AnswerEntry {
    app.chat
        .entries()
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::Answer(a) => Some(a),
            _ => None,
        })
        .expect("an answer in the chat")
}

fn notices(app: &App) -> Vec<String> {
    app.chat
        .entries()
        .iter()
        .filter_map(|e| match e {
            Entry::Notice(_, text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn timeout() -> AttemptError {
    AttemptError::Backend(BackendError::Timeout {
        kind: TimeoutKind::FirstToken,
        after: Duration::from_secs(5),
    })
}

fn answer(model: &str, text: &str) -> Answer {
    Answer {
        model: name(model),
        text: text.into(),
        fallbacks: Vec::new(),
        time_to_first_token: Some(Duration::from_millis(180)),
        total: Duration::from_millis(1250),
        tokens_per_sec: Some(42.0),
        stats: FinalStats::default(),
    }
}

#[test]
fn enter_submits_the_prompt_with_the_conversation_and_clears_the_input() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let effects = send(&mut app, base, "why is the sky blue?");
    let [Effect::Submit(request)] = effects.as_slice() else {
        panic!("expected one submit: {effects:?}")
    };
    assert_eq!(request.messages.len(), 1);
    assert_eq!(request.messages[0].role, Role::User);
    assert_eq!(request.messages[0].content, "why is the sky blue?");
    assert!(app.input_text().is_empty());
    assert!(app.streaming);

    reply(
        &mut app,
        base,
        ReplyEvent::Done(answer("gemma3:1b", "Rayleigh scattering.")),
    );
    let effects = send(&mut app, base, "and at sunset?");
    let [Effect::Submit(request)] = effects.as_slice() else {
        panic!("expected one submit")
    };
    let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
}

#[test]
fn alt_enter_inserts_a_new_line_instead_of_sending() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    type_text(&mut app, base, "line one");
    assert!(key(&mut app, base, KeyCode::Enter, KeyModifiers::ALT).is_empty());
    type_text(&mut app, base, "line two");
    assert_eq!(app.input_text(), "line one\nline two");
    let effects = key(&mut app, base, KeyCode::Enter, KeyModifiers::NONE);
    let [Effect::Submit(request)] = effects.as_slice() else {
        panic!("expected one submit")
    };
    assert_eq!(request.messages[0].content, "line one\nline two");
}

#[test]
fn tokens_append_to_the_answer_under_the_routed_model() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "hi");
    assert_eq!(last_answer(&app).status, AnswerStatus::Waiting);
    reply(
        &mut app,
        base,
        ReplyEvent::Routed {
            id: RequestId(1),
            model: name("gemma3:1b"),
            reason: "lowest p95".into(),
        },
    );
    reply(&mut app, base, ReplyEvent::Token("Hel".into()));
    reply(&mut app, base, ReplyEvent::Token("lo".into()));
    let a = last_answer(&app);
    assert_eq!(a.text, "Hello");
    assert_eq!(a.model.as_deref(), Some("gemma3:1b"));
    assert_eq!(a.status, AnswerStatus::Streaming);
}

#[test]
fn retrying_discards_the_failed_attempts_partial_text_and_says_so() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "hi");
    reply(
        &mut app,
        base,
        ReplyEvent::Routed {
            id: RequestId(1),
            model: name("gemma3:1b"),
            reason: "r".into(),
        },
    );
    reply(&mut app, base, ReplyEvent::Token("half an ans".into()));
    reply(
        &mut app,
        base,
        ReplyEvent::Retrying {
            failed: name("gemma3:1b"),
            error: timeout(),
            next: name("gemma2:2b"),
        },
    );
    let a = last_answer(&app);
    assert_eq!(a.text, "");
    assert_eq!(a.model.as_deref(), Some("gemma2:2b"));
    assert_eq!(a.retries.len(), 1);
    assert!(
        a.retries[0].contains(&format!("gemma3:1b failed ({})", timeout())),
        "{}",
        a.retries[0]
    );
    assert!(a.retries[0].contains("partial answer was discarded"));
    reply(&mut app, base, ReplyEvent::Token("Whole answer".into()));
    assert_eq!(last_answer(&app).text, "Whole answer");
}

#[test]
fn done_labels_the_answer_with_its_figures_and_fallbacks() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "hi");
    let mut done = answer("gemma2:2b", "final text");
    done.fallbacks = vec![(name("gemma3:1b"), timeout())];
    reply(&mut app, base, ReplyEvent::Done(done));
    let a = last_answer(&app);
    assert_eq!(a.text, "final text");
    assert_eq!(a.fallbacks, [(name("gemma3:1b"), timeout().to_string())]);
    assert!(matches!(
        a.status,
        AnswerStatus::Done {
            tokens_per_sec: Some(_),
            ..
        }
    ));
    assert!(!app.streaming);
    assert!(
        app.chat
            .to_markdown()
            .contains("gemma2:2b · 1.2 s · first token 180 ms · 42 tok/s")
    );
    assert!(
        app.chat
            .to_markdown()
            .contains("by fallback: gemma3:1b (timed out")
    );
}

#[test]
fn every_model_failing_puts_the_prompt_back_in_the_input() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "a prompt\nover two lines");
    let all = AllFailed {
        attempts: vec![
            (
                name("gemma3:1b"),
                AttemptError::CircuitOpen {
                    next_probe_in: Duration::from_secs(7),
                },
            ),
            (name("gemma2:2b"), timeout()),
        ],
    };
    reply(&mut app, base, ReplyEvent::Failed(all.clone()));
    assert_eq!(app.input_text(), "a prompt\nover two lines");
    assert!(!app.streaming);
    assert_eq!(
        last_answer(&app).status,
        AnswerStatus::Failed(all.to_string())
    );
    let md = app.chat.to_markdown();
    assert!(
        md.contains("gemma3:1b: circuit open, next probe in 7 s; gemma2:2b: timed out"),
        "{md}"
    );
    assert!(md.contains("Your prompt is back in the input box"));
}

#[test]
fn a_reply_that_ends_without_an_answer_also_restores_the_prompt() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "keep me");
    app.update(Msg::ReplyEnded, fixtures::now(base));
    assert_eq!(app.input_text(), "keep me");
    assert!(matches!(last_answer(&app).status, AnswerStatus::Failed(_)));
}

#[test]
fn esc_cancels_the_streaming_answer_and_keeps_its_text() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    assert!(
        key(&mut app, base, KeyCode::Esc, KeyModifiers::NONE).is_empty(),
        "nothing to cancel yet"
    );
    send(&mut app, base, "hi");
    reply(&mut app, base, ReplyEvent::Token("partial".into()));
    let effects = key(&mut app, base, KeyCode::Esc, KeyModifiers::NONE);
    assert!(matches!(effects.as_slice(), [Effect::Cancel]));
    assert_eq!(last_answer(&app).status, AnswerStatus::Cancelled);
    assert_eq!(last_answer(&app).text, "partial");
    // Late events of the dropped reply change nothing.
    reply(&mut app, base, ReplyEvent::Token("more".into()));
    assert_eq!(last_answer(&app).text, "partial");
}

#[test]
fn ctrl_c_cancels_a_streaming_answer_first_then_quits() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "hi");
    let effects = key(&mut app, base, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(effects.as_slice(), [Effect::Cancel]));
    let effects = key(&mut app, base, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(effects.as_slice(), [Effect::Quit]));
    let effects = key(&mut app, base, KeyCode::Char('q'), KeyModifiers::CONTROL);
    assert!(matches!(effects.as_slice(), [Effect::Quit]));
}

#[test]
fn trip_and_reset_keys_name_the_right_model() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let effects = key(&mut app, base, KeyCode::F(3), KeyModifiers::NONE);
    assert!(matches!(effects.as_slice(), [Effect::Trip(m)] if &**m == "gemma2:2b"));
    let effects = key(&mut app, base, KeyCode::Char('1'), KeyModifiers::ALT);
    assert!(matches!(effects.as_slice(), [Effect::Trip(m)] if &**m == "gemma3:1b"));
    let effects = key(&mut app, base, KeyCode::F(2), KeyModifiers::SHIFT);
    assert!(matches!(effects.as_slice(), [Effect::Reset(m)] if &**m == "gemma3:1b"));
    assert!(app.input_text().is_empty(), "breaker keys type nothing");
}

#[test]
fn typed_commands_trip_reset_and_change_strategy() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let effects = send(&mut app, base, "/trip gemma2:2b");
    assert!(matches!(effects.as_slice(), [Effect::Trip(m)] if &**m == "gemma2:2b"));
    let effects = send(&mut app, base, "/reset 1");
    assert!(matches!(effects.as_slice(), [Effect::Reset(m)] if &**m == "gemma3:1b"));
    let effects = send(&mut app, base, "/strategy round-robin");
    assert!(matches!(
        effects.as_slice(),
        [Effect::SetStrategy(StrategyKind::RoundRobin)]
    ));

    assert!(send(&mut app, base, "/trip nosuch").is_empty());
    assert!(send(&mut app, base, "/strategy fastest").is_empty());
    let notes = notices(&app);
    assert_eq!(
        notes[0],
        "No model 'nosuch'. Models: 1 gemma3:1b, 2 gemma2:2b"
    );
    // Every strategy the engine has is offered, the original two among them.
    let every: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
    assert!(every.contains(&"p95") && every.contains(&"round-robin"));
    assert_eq!(
        notes[1],
        format!("No strategy 'fastest'. Strategies: {}", every.join(", "))
    );
}

#[test]
fn metrics_and_exit_work_typed_bare_as_in_the_original() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    assert!(send(&mut app, base, "metrics").is_empty());
    let Some(Entry::Table(table)) = app.chat.entries().last() else {
        panic!("expected a table")
    };
    assert!(
        table.contains("gemma3:1b") && table.contains("p95") && table.contains("ttft95"),
        "{table}"
    );
    assert!(table.contains("98%"), "success rate 39/40: {table}");
    assert!(matches!(
        send(&mut app, base, "exit").as_slice(),
        [Effect::Quit]
    ));
    assert!(matches!(
        send(&mut app, base, "/quit").as_slice(),
        [Effect::Quit]
    ));
}

#[test]
fn unknown_command_lists_the_commands_and_keeps_the_text() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    assert!(send(&mut app, base, "/nope").is_empty());
    assert!(notices(&app)[0].starts_with("unknown command '/nope'. Commands: /metrics"));
    assert_eq!(
        app.input_text(),
        "/nope",
        "the mistyped command stays to be fixed"
    );
}

#[test]
fn save_defaults_to_a_timestamped_markdown_file() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "q");
    reply(&mut app, base, ReplyEvent::Done(answer("gemma3:1b", "a")));
    let effects = send(&mut app, base, "/save");
    let [Effect::Save { path, markdown }] = effects.as_slice() else {
        panic!("expected save")
    };
    assert_eq!(path.to_str(), Some("signalbox-chat-20261203-120000.md"));
    assert!(markdown.starts_with("# signalbox chat"));
    assert!(markdown.contains("## You\n\nq"));
}

#[test]
fn a_prompt_typed_while_an_answer_streams_is_kept_not_sent() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "first");
    assert!(send(&mut app, base, "second").is_empty());
    assert_eq!(app.input_text(), "second");
}

#[test]
fn retry_key_sends_the_last_prompt_again() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "again please");
    reply(&mut app, base, ReplyEvent::Done(answer("gemma3:1b", "ok")));
    let effects = key(&mut app, base, KeyCode::Char('r'), KeyModifiers::CONTROL);
    let [Effect::Submit(request)] = effects.as_slice() else {
        panic!("expected submit")
    };
    assert_eq!(
        request.messages.last().map(|m| m.content.as_str()),
        Some("again please")
    );
}

fn draw(app: &mut App, base: Instant, width: u16, height: u16) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| super::view::render(f, app, base))
        .expect("draw");
}

#[test]
fn streaming_follows_the_bottom_unless_scrolled_up() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    for i in 0..30 {
        app.chat.push(Entry::User(format!("message {i}")));
    }
    send(&mut app, base, "long one");
    draw(&mut app, base, 80, 24);
    assert!(app.chat.following());

    // Following: tokens keep the view at the bottom.
    reply(&mut app, base, ReplyEvent::Token("line\n".repeat(5)));
    draw(&mut app, base, 80, 24);
    assert!(app.chat.following());
    assert_eq!(app.chat.rows_below(), 0);

    // Scrolled up: new tokens do not move the view; what is below grows.
    key(&mut app, base, KeyCode::PageUp, KeyModifiers::NONE);
    draw(&mut app, base, 80, 24);
    assert!(!app.chat.following());
    let below = app.chat.rows_below();
    reply(&mut app, base, ReplyEvent::Token("more\n".repeat(3)));
    draw(&mut app, base, 80, 24);
    assert_eq!(app.chat.rows_below(), below + 3);

    // Back down to the bottom: following again.
    key(&mut app, base, KeyCode::End, KeyModifiers::CONTROL);
    draw(&mut app, base, 80, 24);
    assert!(app.chat.following());
}

#[test]
fn breaker_event_starts_a_countdown_that_ticks_down() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    assert!(!app.needs_tick(base), "no countdown, no tick");
    app.update(Msg::Bus(fixtures::breaker_opened()), fixtures::now(base));
    assert!(app.needs_tick(base));
    assert_eq!(
        app.board.countdown(1, fixtures::later(base, 3).at),
        Some(Duration::from_secs(7))
    );
    let due = fixtures::later(base, 10).at;
    assert!(
        !app.needs_tick(due),
        "the clock stops once the probe is due"
    );
    let log = app.board.log.back().expect("a log line");
    assert_eq!(
        log.text,
        "gemma2:2b breaker closed → open: 2 failures in a row (open 10 s)"
    );
}

#[test]
fn a_lagging_bus_marks_figures_stale_until_a_snapshot_arrives() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let effects = app.update(Msg::Lagged(42), fixtures::now(base));
    assert!(matches!(effects.as_slice(), [Effect::RefreshSnapshot]));
    assert!(app.board.stale);
    let snapshot = std::sync::Arc::new(fixtures::snapshot());
    app.update(Msg::Bus(Event::Snapshot(snapshot)), fixtures::now(base));
    assert!(!app.board.stale);
}

#[test]
fn the_event_log_is_bounded() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    for i in 0..(super::board::LOG_CAPACITY + 50) {
        app.board.log(
            fixtures::now(base).wall,
            super::board::Level::Info,
            format!("line {i}"),
        );
    }
    assert_eq!(app.board.log.len(), super::board::LOG_CAPACITY);
    assert_eq!(
        app.board.log.back().map(|l| l.text.as_str()),
        Some("line 249")
    );
}

#[test]
fn a_prompt_retried_after_a_failure_is_sent_once() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, "first");
    reply(
        &mut app,
        base,
        ReplyEvent::Failed(AllFailed {
            attempts: Vec::new(),
        }),
    );
    let effects = key(&mut app, base, KeyCode::Enter, KeyModifiers::NONE);
    let [Effect::Submit(request)] = effects.as_slice() else {
        panic!("expected submit")
    };
    let texts: Vec<&str> = request
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(texts, ["first"]);
}

#[test]
fn a_resize_lays_the_chat_out_again_at_the_new_width() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    send(&mut app, base, &"word ".repeat(40));
    let theme = app.theme;
    let wide = app.chat.visible(100, 40, &theme);
    let narrow = app.chat.visible(30, 40, &theme);
    assert!(narrow.len() > wide.len());
    assert!(
        narrow.iter().all(|l| l.width() <= 30),
        "every row fits the new width"
    );
}

#[test]
fn a_request_from_the_api_shows_its_client_in_the_log_and_the_routing_line() {
    let base = Instant::now();
    let mut app = fixtures::app(base);
    let event = Event::Routed {
        id: RequestId(7),
        origin: crate::engine::Origin::Proxy("127.0.0.1:51234".into()),
        strategy: "p95",
        candidates: vec![name("gemma3:1b"), name("gemma2:2b")],
        reason: "lowest p95".into(),
    };
    app.update(Msg::Bus(event), fixtures::now(base));
    let log = app.board.log.back().expect("a log line");
    assert_eq!(log.text, "#7 API request from 127.0.0.1:51234 → gemma3:1b");
    assert_eq!(
        app.board.last_route.as_deref(),
        Some("#7 (API 127.0.0.1:51234) → gemma3:1b (then gemma2:2b): lowest p95")
    );
}
