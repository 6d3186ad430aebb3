//! Fallback: the order it follows, refusals skipped without waiting, busy counted apart,
//! bad requests not retried, and a failure message that names every model and why.

use futures_util::StreamExt;
use signalbox::backend::BackendError;
use signalbox::backend::fake::Script;
use signalbox::engine::{AttemptError, BreakerState, ReplyEvent};
use signalbox::events::Health;
use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_falls_back_to_the_next_candidate_with_the_same_messages() {
    let (engine, fakes) = engine(&config(3, limits(5, 5, 20)), Script::answer("fine", 2));
    fakes[0].push(Script::server_error());
    fakes[1].push(
        Script::answer("half", 2)
            .every(ms(10))
            .fail_at(1, BackendError::CutShort),
    );
    let mut reply = engine.submit(to("a", true));
    let mut events = Vec::new();
    while let Some(event) = reply.next().await {
        events.push(event);
    }
    let retries: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            ReplyEvent::Retrying { failed, next, .. } => {
                Some((failed.to_string(), next.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [("a".into(), "b".into()), ("b".into(), "c".into())]
    );
    let Some(ReplyEvent::Done(answer)) = events.last() else {
        panic!("no answer: {events:?}")
    };
    assert_eq!((&*answer.model, answer.text.as_str()), ("c", "fine"));
    let fell: Vec<&str> = answer.fallbacks.iter().map(|(m, _)| &**m).collect();
    assert_eq!(fell, ["a", "b"]);
    assert_eq!(fakes[2].last_request().unwrap().messages, ask().messages);
    assert_eq!(fakes[0].last_request().unwrap().messages, ask().messages);
}

#[tokio::test(start_paused = true)]
async fn open_full_and_not_installed_models_are_skipped_without_waiting() {
    let mut cfg = config(4, limits(5, 5, 20));
    cfg.models[1].bulkhead.max_in_flight = 1;
    cfg.models[1].bulkhead.queue_capacity = 0;
    let (engine, fakes) = engine(&cfg, Script::answer("ok", 1));
    fakes[1].set_default(Script::hang());
    engine.trip("a").unwrap();
    let _holder = engine.submit(to("b", false));
    tokio::task::yield_now().await;
    engine.set_health(
        "c",
        Health::NotInstalled {
            fix: "ollama pull c".into(),
        },
    );

    fakes[3].set_default(Script::refused());

    // The strategy puts the model known not installed last.
    let start = Instant::now();
    let failed = engine.submit(to("a", true)).answer().await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no refusal made the request wait"
    );
    let reasons: Vec<String> = failed
        .attempts
        .iter()
        .map(|(m, e)| format!("{m}: {e}"))
        .collect();
    assert_eq!(
        reasons,
        [
            "a: circuit open, next probe in 10 s",
            "b: bulkhead full (1 in flight, 0 queued)",
            "d: cannot connect to http://127.0.0.1:11434: connection refused",
            "c: not installed; run `ollama pull c`",
        ]
    );
    assert_eq!(fakes[0].calls() + fakes[2].calls(), 0);
    let snap = engine.snapshot();
    let c = |name: &str| snap.model(name).unwrap().counters;
    assert_eq!(
        (
            c("a").rejected_open,
            c("b").rejected_full,
            c("c").rejected_not_installed
        ),
        (1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn busy_falls_back_at_once_and_is_counted_apart() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].set_default(Script::busy());
    for _ in 0..3 {
        let answer = engine.submit(to("a", true)).answer().await.unwrap();
        assert_eq!(&*answer.model, "b");
    }
    let a = engine.snapshot().models[0].clone();
    assert_eq!((a.counters.busy, a.counters.failures), (3, 0));
    assert_eq!(
        a.breaker.state,
        BreakerState::Closed,
        "busy is back-pressure, not a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_404_marks_the_model_not_installed_until_a_health_check_finds_it() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].push(Script::not_installed("a"));
    let answer = engine.submit(to("a", true)).answer().await.unwrap();
    assert_eq!(
        answer.fallbacks[0].1,
        AttemptError::NotInstalled {
            model: "a".into(),
            kind: signalbox::backend::BackendKind::Ollama,
        }
    );
    let answer = engine.submit(to("a", true)).answer().await.unwrap();
    assert_eq!(&*answer.model, "b");
    assert_eq!(fakes[0].calls(), 1, "known not installed: not sent again");
    let ready = Health::Ready {
        server_version: None,
        loaded: None,
        vram_bytes: None,
        expires_in: None,
    };
    engine.set_health("a", ready);
    assert_eq!(
        &*engine.submit(to("a", true)).answer().await.unwrap().model,
        "a"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_fails_at_once_without_falling_back() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].set_default(Script::bad_request());
    let failed = engine.submit(to("a", true)).answer().await.unwrap_err();
    assert_eq!(
        failed.to_string(),
        "a: bad request (HTTP 400): invalid request"
    );
    assert_eq!(fakes[1].calls(), 0);
    let a = &engine.snapshot().models[0];
    assert_eq!((a.counters.bad_requests, a.counters.failures), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn all_failed_names_every_model_and_why_in_order() {
    let (engine, fakes) = engine(&config(3, limits(5, 5, 20)), Script::hang());
    fakes[1].set_default(Script::refused());
    engine.trip("c").unwrap();
    let failed = engine.submit(to("a", true)).answer().await.unwrap_err();
    assert_eq!(
        failed.to_string(),
        "a: timed out after 5 s waiting for the first token; \
         b: cannot connect to http://127.0.0.1:11434: connection refused; \
         c: circuit open, next probe in 5 s"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_model_fails_with_the_configured_names() {
    let (engine, _) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    let failed = engine
        .submit(to("gemma9", true))
        .answer()
        .await
        .unwrap_err();
    assert_eq!(
        failed.to_string(),
        "gemma9: no model named 'gemma9'; configured: a, b"
    );
}

#[tokio::test(start_paused = true)]
async fn naming_a_model_without_fallback_tries_only_that_model() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].set_default(Script::server_error());
    let failed = engine.submit(to("a", false)).answer().await.unwrap_err();
    assert_eq!(failed.attempts.len(), 1);
    assert_eq!(fakes[1].calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_after_two_failures_and_traffic_moves() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].set_default(Script::server_error());
    for _ in 0..4 {
        assert_eq!(
            &*engine.submit(to("a", true)).answer().await.unwrap().model,
            "b"
        );
    }
    assert_eq!(fakes[0].calls(), 2);
    assert_eq!(
        engine.snapshot().models[0].breaker.state,
        BreakerState::Open
    );
}

#[tokio::test(start_paused = true)]
async fn answer_times_run_from_submit_across_fallbacks() {
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::hang());
    fakes[1].set_default(
        Script::answer("late but fine", 2)
            .first_after(secs(1))
            .every(secs(1)),
    );
    let answer = engine.submit(to("a", true)).answer().await.unwrap();
    assert_eq!(&*answer.model, "b");
    assert_eq!(
        answer.time_to_first_token,
        Some(secs(6)),
        "5 s lost on a, then 1 s on b"
    );
    assert_eq!(answer.total, secs(7));
    assert_eq!(answer.stats.completion_tokens, Some(2));
    assert_eq!(answer.tokens_per_sec, Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn the_bus_tells_the_story_of_a_fallback() {
    use signalbox::events::{Event, Outcome};
    let (engine, fakes) = engine(&config(2, limits(5, 5, 20)), Script::answer("ok", 1));
    fakes[0].set_default(Script::server_error());
    let mut events = engine.subscribe();
    engine.submit(to("a", true)).answer().await.unwrap();
    let mut story = Vec::new();
    while let Ok(event) = events.try_recv() {
        story.push(match event {
            Event::Routed { candidates, .. } => format!("routed {candidates:?}"),
            Event::Started { model, attempt, .. } => format!("started {model} #{attempt}"),
            Event::FirstToken { model, .. } => format!("first token {model}"),
            Event::Finished {
                model,
                outcome: Outcome::Success,
                timings,
                ..
            } => {
                format!("finished {model} ok, {} token", timings.tokens)
            }
            Event::Finished { model, outcome, .. } => format!("finished {model} {outcome:?}"),
            Event::Fallback {
                from, to, reason, ..
            } => format!("fallback {from} -> {to}: {reason}"),
            Event::Snapshot(_) => continue,
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        story,
        [
            r#"routed ["a", "b"]"#,
            "started a #1",
            r#"finished a Failed(Backend(Status { status: 500, message: "internal error" }))"#,
            "fallback a -> b: HTTP 500: internal error",
            "started b #2",
            "first token b",
            "finished b ok, 1 token",
        ]
    );
}
