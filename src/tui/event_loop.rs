//! The loop: one task selects over terminal input, the event bus, the streaming reply and
//! a clock, and draws only when something changed, at most ~30 times a second. Idle, it
//! sleeps: the clock ticks only while a countdown is on screen.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyEventKind, MouseEventKind};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};

use super::app::{App, Effect, Msg, Now};
use super::view;
use crate::engine::{Engine, Reply, ReplyEvent};
use crate::events::Event;

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(33);

type ReplyStream = Pin<Box<dyn Stream<Item = ReplyEvent> + Send>>;

/// Runs until the user quits or `input` ends. Generic over the terminal and its input so
/// tests can drive it with a test backend and scripted keys.
pub async fn event_loop<B, I>(
    engine: &Engine,
    app: &mut App,
    terminal: &mut Terminal<B>,
    mut input: I,
    bus: &mut broadcast::Receiver<Event>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let mut reply: Option<ReplyStream> = None;
    let mut bus_open = true;
    let mut dirty = true;
    let mut last_frame: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut stop = StopSignals::new()?;

    loop {
        let now = Instant::now();
        let frame_due = last_frame.map_or(now, |t| t + FRAME);
        if dirty && now >= frame_due {
            terminal.draw(|frame| view::render(frame, app, now.into_std()))?;
            dirty = false;
            last_frame = Some(now);
        }

        let msg = tokio::select! {
            event = input.next() => match event {
                Some(Ok(event)) => match to_msg(event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(error)) => return Err(anyhow::anyhow!("cannot read the terminal: {error}")),
                None => return Ok(()),
            },
            event = bus.recv(), if bus_open => match event {
                Ok(event) => Msg::Bus(event),
                Err(RecvError::Lagged(missed)) => Msg::Lagged(missed),
                Err(RecvError::Closed) => {
                    bus_open = false;
                    continue;
                }
            },
            event = next_reply(&mut reply), if reply.is_some() => match event {
                Some(event) => Msg::Reply(event),
                None => {
                    reply = None;
                    Msg::ReplyEnded
                }
            },
            _ = tokio::time::sleep_until(frame_due), if dirty => continue,
            _ = tick.tick(), if app.needs_tick(now.into_std()) => Msg::Tick,
            _ = stop.recv() => return Ok(()),
        };

        // A periodic snapshot that changes nothing on screen costs no frame.
        let quiet = matches!(&msg, Msg::Bus(Event::Snapshot(s)) if app.board.same_figures(s));
        let finished = matches!(msg, Msg::Reply(ReplyEvent::Done(_) | ReplyEvent::Failed(_)));
        for effect in app.update(msg, Now::system()) {
            if !apply(effect, engine, app, &mut reply) {
                return Ok(());
            }
        }
        if finished {
            reply = None;
        }
        dirty |= !quiet;
    }
}

/// Carries out one effect; `false` means quit.
fn apply(effect: Effect, engine: &Engine, app: &mut App, reply: &mut Option<ReplyStream>) -> bool {
    let now = Now::system();
    match effect {
        Effect::Submit(request) => *reply = Some(reply_stream(engine.submit(request))),
        Effect::Cancel => {
            // Dropping the reply cancels the request all the way to the server.
            *reply = None;
            tracing::info!("answer cancelled by the user");
        }
        Effect::Trip(model) => {
            let result = engine
                .trip(&model)
                .map(|()| format!("Tripped {model}'s breaker: open now, then it probes."));
            app.effect_result(result.map_err(|e| e.to_string()));
        }
        Effect::Reset(model) => {
            let result = engine
                .reset(&model)
                .map(|()| format!("Reset {model}'s breaker: closed, backoff cleared."));
            app.effect_result(result.map_err(|e| e.to_string()));
        }
        Effect::SetStrategy(kind) => {
            engine.set_strategy(kind);
            app.effect_result(Ok(format!("Routing strategy is now {}.", kind.name())));
        }
        Effect::RefreshSnapshot => app.board.apply_snapshot(engine.snapshot(), now.at),
        Effect::Save { path, markdown } => {
            let result = std::fs::write(&path, markdown)
                .map(|()| {
                    let shown = std::path::absolute(&path).unwrap_or(path.clone());
                    format!("Saved the chat to {}", shown.display())
                })
                .map_err(|e| format!("Could not save to {}: {e}", path.display()));
            app.effect_result(result);
        }
        Effect::Quit => return false,
    }
    true
}

async fn next_reply(reply: &mut Option<ReplyStream>) -> Option<ReplyEvent> {
    match reply {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// The terminal events the dashboard acts on. Mouse moves and key releases are dropped
/// here so they cost no redraw.
fn to_msg(event: TermEvent) -> Option<Msg> {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
        TermEvent::Mouse(mouse)
            if matches!(
                mouse.kind,
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown
            ) =>
        {
            Some(Msg::Mouse(mouse))
        }
        TermEvent::Paste(text) => Some(Msg::Paste(text)),
        TermEvent::Resize(..) => Some(Msg::Resize),
        _ => None,
    }
}

/// The engine's reply as a boxed stream; dropping it cancels the request.
fn reply_stream(reply: Reply) -> ReplyStream {
    Box::pin(reply)
}

/// SIGTERM, SIGHUP and SIGINT from outside (`kill`) end the dashboard cleanly, restoring
/// the terminal. (Ctrl+C typed in the dashboard is a key, not a signal, in raw mode.)
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                term: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.hangup.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}
