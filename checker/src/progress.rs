//! Progress of every search and pass on stderr: an indicatif line when
//! stderr is a terminal (phase, states, unique states/s, depth, frontier,
//! elapsed), a plain line every few seconds otherwise, nothing with
//! `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
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
    let phase = if s.phase.is_empty() {
        "search"
    } else {
        s.phase
    };
    let states = if s.states > 0 {
        format!("{} states, ", s.states)
    } else {
        String::new()
    };
    let depth = if s.max_depth > 0 {
        format!(", depth {}", s.max_depth)
    } else {
        String::new()
    };
    let queue = s
        .queue
        .map(|q| format!(", frontier {q}"))
        .unwrap_or_default();
    format!(
        "{name}: {phase}: {states}{} unique, {rate:.0} unique/s{depth}{queue}, {:.1}s",
        s.unique_states, s.seconds
    )
}

/// One scenario's progress display; `update` takes `&self`, so a pass can
/// report through a shared reference.
pub struct Progress {
    mode: Mode,
    name: String,
    bar: Option<ProgressBar>,
    last_plain: Mutex<Instant>,
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
            last_plain: Mutex::new(Instant::now()),
        }
    }

    pub fn update(&self, s: &Snapshot) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(b) = &self.bar {
                    b.set_message(line(&self.name, s));
                }
            }
            Mode::Plain => {
                let mut last = self.last_plain.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    sayln!("klpcheck: {}", line(&self.name, s));
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

/// The peak resident memory of this process (VmHWM), when the system says.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
