//! One progress line on stderr, redrawn ten times a second, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

const WIDTH: usize = 30;

/// The progress line while it is shown; [`Progress::finish`] clears it.
pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Show `done` out of `total` until finished; does nothing unless stderr is a terminal.
    pub fn start(done: Arc<AtomicU64>, total: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { task: None };
        }
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let line = line(done.load(Ordering::Relaxed), total, started.elapsed());
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line}");
                let _ = err.flush();
            }
        });
        Progress { task: Some(task) }
    }

    /// Stop and erase the line.
    pub fn finish(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `[#########.....] 4500/10000 requests  2.1 s`
fn line(done: u64, total: u64, elapsed: Duration) -> String {
    let filled = if total == 0 {
        WIDTH
    } else {
        (done.min(total) as f64 / total as f64 * WIDTH as f64) as usize
    };
    format!(
        "[{}{}] {done}/{total} requests  {:.1} s",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_share_done() {
        let l = line(50, 100, Duration::from_millis(1500));
        assert_eq!(
            l,
            format!(
                "[{}{}] 50/100 requests  1.5 s",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        assert!(line(100, 100, Duration::ZERO).starts_with(&format!("[{}]", "#".repeat(WIDTH))));
    }
}
