//! Terminal setup and restore. Restoring is idempotent and runs on every exit path: the
//! guard's drop (normal exit, `?` errors), and a panic hook that restores the screen before
//! the previous hook prints the panic.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
    supports_keyboard_enhancement,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is in dashboard mode now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether keyboard enhancement flags were pushed and must be popped.
static ENHANCED: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Enters the alternate screen in raw mode with mouse, paste and (where the terminal
/// supports it) key disambiguation, so Shift+Enter and Alt+Enter arrive as such.
pub fn enter() -> anyhow::Result<TerminalGuard> {
    install_panic_hook(restore);
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut stdout = io::stdout();
    if let Err(error) = execute!(
        stdout,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    ) {
        restore();
        return Err(error.into());
    }
    if supports_keyboard_enhancement().unwrap_or(false) {
        let flags = KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES;
        if execute!(stdout, PushKeyboardEnhancementFlags(flags)).is_ok() {
            ENHANCED.store(true, Ordering::SeqCst);
        }
    }
    match Terminal::new(CrosstermBackend::new(stdout)) {
        Ok(mut terminal) => {
            let _ = terminal.hide_cursor();
            let _ = terminal.clear();
            Ok(TerminalGuard { terminal })
        }
        Err(error) => {
            restore();
            Err(error.into())
        }
    }
}

/// Leaves the alternate screen and raw mode. Safe to call any number of times, from any
/// exit path; only the first call after `enter` does anything.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut stdout = io::stdout();
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout, PopKeyboardEnhancementFlags);
    }
    // Each step is tried even if one fails: a half-restored terminal is still better.
    let _ = execute!(
        stdout,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen
    );
    let _ = execute!(stdout, crossterm::cursor::Show);
    let _ = disable_raw_mode();
    let _ = stdout.flush();
}

/// Installs a panic hook that calls `restore` and then the hook that was there before, so
/// the panic message lands on a normal screen. Installing twice is harmless: `restore` is
/// idempotent.
pub fn install_panic_hook(restore: fn()) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    static RESTORED: AtomicUsize = AtomicUsize::new(0);

    fn count_restore() {
        RESTORED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn restore_outside_dashboard_mode_does_nothing_and_can_repeat() {
        // Not entered: no escape codes are written and raw mode is left alone.
        restore();
        restore();
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }

    #[test]
    fn panic_hook_restores_then_calls_the_previous_hook() {
        static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
        let original = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {
            // The terminal must already be restored when the old hook prints.
            assert_eq!(RESTORED.load(Ordering::SeqCst), 1);
            PREVIOUS.fetch_add(1, Ordering::SeqCst);
        }));
        install_panic_hook(count_restore);

        let result = std::panic::catch_unwind(|| panic!("boom"));

        std::panic::set_hook(original);
        assert!(result.is_err());
        assert_eq!(RESTORED.load(Ordering::SeqCst), 1);
        assert_eq!(PREVIOUS.load(Ordering::SeqCst), 1);
    }
}
