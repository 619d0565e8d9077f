//! Progress bars that appear only for work that lasts longer than a second, only on a
//! terminal, and never with `--quiet`.
//!
//! A bar starts hidden; a watcher thread waits one second and, if the work is still
//! running, points the bar at stderr. `finish` stops the watcher and clears the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long work runs before its bar is shown.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A progress bar (with a length) or spinner (without), possibly never shown.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    stop: Option<mpsc::Sender<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar for `len` steps (or a spinner when `len` is `None`) labelled `message`.
    /// `enabled` is false under `--quiet`; a non-terminal stderr disables it too.
    pub fn start(enabled: bool, len: Option<u64>, message: String) -> Progress {
        let bar = match len {
            Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()),
            None => ProgressBar::hidden(),
        };
        let style = match len {
            Some(_) => ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {human_pos}/{human_len} ({elapsed}, eta {eta})",
            ),
            None => ProgressStyle::with_template("{msg:>12} {spinner} {elapsed}"),
        };
        if let Ok(style) = style {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress {
                bar,
                stop: None,
                watcher: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let shown = bar.clone();
        let watcher = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SHOW_AFTER) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(200));
            }
        });
        Progress {
            bar,
            stop: Some(stop),
            watcher: Some(watcher),
        }
    }

    /// A handle for worker threads to advance the bar.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Stop the watcher and clear the bar.
    pub fn finish(mut self) {
        self.stop_watcher();
        self.bar.finish_and_clear();
    }

    fn stop_watcher(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The watcher may have exited already (bar shown); then the send fails and
            // there is nothing to stop.
            let _ = stop.send(());
        }
        if let Some(watcher) = self.watcher.take() {
            // A panic in the watcher (inside indicatif) must not take the run with it.
            let _ = watcher.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_watcher();
        self.bar.finish_and_clear();
    }
}
