//! Progress of a search on stderr: an indicatif spinner line when stderr is
//! a terminal, a plain line every few seconds otherwise, nothing with
//! `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::engines::Snapshot;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Plain,
    Quiet,
}

impl Mode {
    /// The bar on a terminal, plain lines otherwise, none when quiet.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Plain
        }
    }
}

/// How often a plain line is printed.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The line both modes show.
pub fn line(name: &str, s: &Snapshot) -> String {
    let rate = if s.seconds > 0.0 {
        s.unique_states as f64 / s.seconds
    } else {
        0.0
    };
    let queue = s.queue.map(|q| format!(", queue {q}")).unwrap_or_default();
    format!(
        "{name}: {} states, {} unique, depth {}, {rate:.0} states/s{queue}",
        s.states, s.unique_states, s.max_depth
    )
}

/// One scenario's progress display.
pub struct Progress {
    mode: Mode,
    name: String,
    bar: Option<ProgressBar>,
    last_plain: Instant,
}

impl Progress {
    pub fn start(mode: Mode, name: &str) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("template"));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            mode,
            name: name.to_string(),
            bar,
            last_plain: Instant::now(),
        }
    }

    pub fn update(&mut self, s: &Snapshot) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(b) = &self.bar {
                    b.set_message(line(&self.name, s));
                }
            }
            Mode::Plain => {
                if self.last_plain.elapsed() >= PLAIN_EVERY {
                    self.last_plain = Instant::now();
                    eprintln!("klpcheck: {}", line(&self.name, s));
                }
            }
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
