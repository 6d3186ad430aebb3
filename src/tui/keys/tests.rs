//! The key table: which key does what, and when.

use super::*;

fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

fn map() -> KeyMap {
    KeyMap::new(&["gemma3:1b", "gemma2:2b"])
}

#[test]
fn function_and_alt_digit_keys_trip_the_right_model() {
    let ctx = Context::default();
    let m = map();
    assert_eq!(
        m.action(&key(KeyCode::F(2), KeyModifiers::NONE), ctx),
        Some(Action::Trip(0))
    );
    assert_eq!(
        m.action(&key(KeyCode::F(3), KeyModifiers::NONE), ctx),
        Some(Action::Trip(1))
    );
    assert_eq!(
        m.action(&key(KeyCode::Char('2'), KeyModifiers::ALT), ctx),
        Some(Action::Trip(1))
    );
    assert_eq!(m.action(&key(KeyCode::F(4), KeyModifiers::NONE), ctx), None);
    assert_eq!(
        m.action(&key(KeyCode::F(3), KeyModifiers::SHIFT), ctx),
        Some(Action::Reset(1))
    );
    assert_eq!(
        m.action(&key(KeyCode::F(2), KeyModifiers::CONTROL), ctx),
        Some(Action::Reset(0))
    );
}

#[test]
fn plain_digits_and_question_mark_in_a_prompt_are_typed_not_bound() {
    let typing = Context {
        input_empty: false,
        ..Context::default()
    };
    let m = map();
    assert_eq!(
        m.action(&key(KeyCode::Char('1'), KeyModifiers::NONE), typing),
        None
    );
    assert_eq!(
        m.action(&key(KeyCode::Char('?'), KeyModifiers::SHIFT), typing),
        None
    );
    let empty = Context {
        input_empty: true,
        ..Context::default()
    };
    assert_eq!(
        m.action(&key(KeyCode::Char('?'), KeyModifiers::SHIFT), empty),
        Some(Action::ToggleHelp)
    );
}

#[test]
fn esc_cancels_only_while_streaming() {
    let m = map();
    let esc = key(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(m.action(&esc, Context::default()), None);
    let streaming = Context {
        streaming: true,
        ..Context::default()
    };
    assert_eq!(m.action(&esc, streaming), Some(Action::Cancel));
}

#[test]
fn enter_sends_and_alt_or_shift_enter_make_a_new_line() {
    let m = map();
    let ctx = Context::default();
    assert_eq!(
        m.action(&key(KeyCode::Enter, KeyModifiers::NONE), ctx),
        Some(Action::Send)
    );
    assert_eq!(
        m.action(&key(KeyCode::Enter, KeyModifiers::ALT), ctx),
        Some(Action::NewLine)
    );
    assert_eq!(
        m.action(&key(KeyCode::Enter, KeyModifiers::SHIFT), ctx),
        Some(Action::NewLine)
    );
}

#[test]
fn help_overlay_takes_esc_and_keeps_only_quit_keys() {
    let m = map();
    let help = Context {
        help_open: true,
        streaming: true,
        ..Context::default()
    };
    assert_eq!(
        m.action(&key(KeyCode::Esc, KeyModifiers::NONE), help),
        Some(Action::CloseHelp)
    );
    assert_eq!(
        m.action(&key(KeyCode::F(2), KeyModifiers::NONE), help),
        None
    );
    assert_eq!(
        m.action(&key(KeyCode::Char('q'), KeyModifiers::CONTROL), help),
        Some(Action::Quit)
    );
}

#[test]
fn footer_shows_cancel_only_while_streaming() {
    let m = map();
    let idle: Vec<_> = m
        .footer(Context::default())
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert!(!idle.contains(&"cancel".to_string()));
    assert!(idle.contains(&"trip".to_string()));
    let streaming = Context {
        streaming: true,
        ..Context::default()
    };
    let busy: Vec<_> = m.footer(streaming).into_iter().map(|(_, l)| l).collect();
    assert!(busy.contains(&"cancel".to_string()));
}

#[test]
fn alt_shift_digit_resets_the_right_model() {
    let m = map();
    let ctx = Context::default();
    let alt_at = key(KeyCode::Char('@'), KeyModifiers::ALT | KeyModifiers::SHIFT);
    assert_eq!(m.action(&alt_at, ctx), Some(Action::Reset(1)));
    let alt_bang = key(KeyCode::Char('!'), KeyModifiers::ALT);
    assert_eq!(m.action(&alt_bang, ctx), Some(Action::Reset(0)));
}
