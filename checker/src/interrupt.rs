//! Ctrl-C and SIGTERM during `klpcheck check`.
//!
//! The first signal sets [`requested`]: the native engine stops after its
//! current block of states, a stateright engine is abandoned at its next
//! progress poll, liveness and coverage are skipped, the remaining
//! scenarios are not started, and `check` writes what it has (report.json,
//! JUnit, SARIF; the interrupted scenario marked incomplete, "interrupted")
//! and exits 130. Should the main thread not be done [`GRACE`] after the
//! signal (it is inside a pass that does not poll the flag), the signal
//! thread writes those reports itself from the scenarios finished so far
//! ([`record`]) and exits 130. A second signal exits at once. Every file is
//! written to a temporary name and renamed (`out::write_atomic`), so no
//! reader ever sees half a file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::cmd_check::ScenarioRun;

/// Exit code after an interrupt (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// How long the main thread has to finish after a signal.
pub const GRACE: Duration = Duration::from_millis(800);

/// Set by the first Ctrl-C or SIGTERM.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether an interrupt was requested.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Writes the partial outputs from what was recorded; called with the
/// writing lock held, once.
pub type Writer = Box<dyn Fn(&[ScenarioRun]) + Send>;

struct Registry {
    /// Scenarios checked so far, for the writer.
    done: Vec<ScenarioRun>,
    writer: Option<Writer>,
    /// The main thread has written its outputs (or is about to exit).
    finished: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    done: Vec::new(),
    writer: None,
    finished: false,
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the signal handler (once per process) with the function that
/// writes partial outputs if the main thread does not finish in time.
pub fn install(writer: Writer) {
    registry().writer = Some(writer);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(on_signal);
    });
}

/// Keeps a checked scenario for the fallback writer.
pub fn record(item: ScenarioRun) {
    registry().done.push(item);
}

/// Runs `f` (the main thread's output writing) so that the fallback
/// writer neither interleaves with it nor runs after it; marks the run
/// finished.
pub fn finish<T>(f: impl FnOnce() -> T) -> T {
    let mut reg = registry();
    let out = f();
    reg.finished = true;
    out
}

fn on_signal() {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // A second signal: stop now.
        std::process::exit(EXIT_INTERRUPTED);
    }
    sayln!("klpcheck: interrupted: stopping the search, writing partial reports");
    let start = Instant::now();
    while start.elapsed() < GRACE {
        if registry().finished {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut reg = registry();
    if reg.finished {
        return;
    }
    if let Some(w) = reg.writer.take() {
        w(&reg.done);
    }
    reg.finished = true;
    std::process::exit(EXIT_INTERRUPTED);
}
