//! The fuzz driver (see fuzz/README.md):
//!
//! ```text
//! cargo run --release -p klp-checker --example fuzz -- [--seconds N] [--inputs N]
//!     [--target loader|run|replay|all] [--seed S] [--shallow] > /dev/null
//! ```
//!
//! Seeds: every `*.json` of the repository (scenarios, oracle cases,
//! scripts, module definitions) and `fuzz/corpus/<target>/`. Each input is
//! a mutation of a seed or of an input that was refused for a reason not
//! seen before. Time (`--seconds`, default 60) is split evenly between the
//! targets; `--inputs` caps inputs per target. A panic, or an input that
//! runs longer than 20 seconds, is a crash: the input is saved as
//! `fuzz/crashes/<target>-<hash>.json` and the driver exits 1 at the end
//! (at once for a hang). Stats go to stderr; `replay` prints each replay on
//! stdout, hence `> /dev/null`.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use klp_checker::fuzz::{self, mutate, Material, Rng, Verdict};

/// The driver's own messages go to the original stderr; the targets'
/// stdout and stderr (replay prints every step, errors are messages) go to
/// /dev/null.
fn quiet_targets() -> Box<dyn std::io::Write + Send> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: plain fd calls; `saved` is a fresh descriptor owned by the
        // File returned.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved >= 0 && null >= 0 {
                libc::dup2(null, 1);
                libc::dup2(null, 2);
                libc::close(null);
                return Box::new(std::fs::File::from_raw_fd(saved));
            }
        }
    }
    Box::new(std::io::stderr())
}

static LOG: Mutex<Option<Box<dyn std::io::Write + Send>>> = Mutex::new(None);

/// An abort (an allocation failure, a stack overflow) cannot be caught
/// like a panic; a SIGABRT handler writes the input being run to
/// `fuzz/crashes/abort.json` and tells so on the driver's stderr, with
/// only async-signal-safe calls, then lets the abort go on (exit 134).
#[cfg(target_os = "linux")]
mod on_abort {
    use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

    static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
    static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
    static PATH: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
    static LOG_FD: AtomicI32 = AtomicI32::new(-1);
    const MESSAGE: &[u8] = b"fuzz: ABORT (SIGABRT: an allocation failure or a stack overflow), \
        input saved as fuzz/crashes/abort.json\n";

    /// The input the target is about to run (it must outlive the run).
    pub fn running(input: &[u8]) {
        INPUT_LEN.store(0, Ordering::SeqCst);
        INPUT.store(input.as_ptr() as *mut u8, Ordering::SeqCst);
        INPUT_LEN.store(input.len(), Ordering::SeqCst);
    }

    extern "C" fn handler(_: libc::c_int) {
        // SAFETY: open, write, close, signal and raise are async-signal-safe;
        // the pointers were published before the run and stay valid.
        unsafe {
            let path = PATH.load(Ordering::SeqCst);
            let (ptr, len) = (
                INPUT.load(Ordering::SeqCst),
                INPUT_LEN.load(Ordering::SeqCst),
            );
            if !path.is_null() && !ptr.is_null() {
                let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
                if fd >= 0 {
                    libc::write(fd, ptr as *const libc::c_void, len);
                    libc::close(fd);
                }
            }
            let log = LOG_FD.load(Ordering::SeqCst);
            if log >= 0 {
                libc::write(log, MESSAGE.as_ptr() as *const libc::c_void, MESSAGE.len());
            }
            libc::signal(libc::SIGABRT, libc::SIG_DFL);
            libc::raise(libc::SIGABRT);
        }
    }

    pub fn install(root: &std::path::Path) {
        let dir = root.join("fuzz/crashes");
        let _ = std::fs::create_dir_all(&dir);
        let Ok(c) = std::ffi::CString::new(dir.join("abort.json").as_os_str().as_encoded_bytes())
        else {
            return;
        };
        PATH.store(c.into_raw(), Ordering::SeqCst);
        // SAFETY: dup of the original stderr, before quiet_targets redirects
        // it; installing a handler that only makes async-signal-safe calls.
        unsafe {
            LOG_FD.store(libc::dup(2), Ordering::SeqCst);
            libc::signal(
                libc::SIGABRT,
                handler as extern "C" fn(libc::c_int) as usize as libc::sighandler_t,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod on_abort {
    pub fn running(_: &[u8]) {}
    pub fn install(_: &std::path::Path) {}
}

macro_rules! say {
    ($($t:tt)*) => {{
        let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = log.as_mut() {
            let _ = writeln!(w, $($t)*);
        }
    }};
}

const HANG: Duration = Duration::from_secs(20);
/// Inputs kept for mutation because they were refused in a new way.
const MAX_POOL: usize = 2000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Loader,
    Run,
    Replay,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Loader => "loader",
            Target::Run => "run",
            Target::Replay => "replay",
        }
    }
}

struct Args {
    seconds: f64,
    inputs: u64,
    targets: Vec<Target>,
    seed: u64,
    deep: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        seconds: 60.0,
        inputs: u64::MAX,
        targets: vec![Target::Loader, Target::Run, Target::Replay],
        seed: 1,
        deep: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| usage("--seconds N")),
            "--inputs" => a.inputs = value().parse().unwrap_or_else(|_| usage("--inputs N")),
            "--seed" => a.seed = value().parse().unwrap_or_else(|_| usage("--seed N")),
            "--shallow" => a.deep = false,
            "--target" => {
                a.targets = match value().as_str() {
                    "loader" => vec![Target::Loader],
                    "run" => vec![Target::Run],
                    "replay" => vec![Target::Replay],
                    "all" => vec![Target::Loader, Target::Run, Target::Replay],
                    other => usage(&format!("unknown target {other}")),
                }
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn usage(msg: &str) -> ! {
    eprintln!("fuzz: {msg}\nusage: fuzz [--seconds N] [--inputs N] [--target loader|run|replay|all] [--seed S] [--shallow]");
    std::process::exit(2)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("checker/ has a parent")
        .to_path_buf()
}

/// Seeds of one target: its corpus folder, and for loader and run every
/// JSON of the repository.
fn material(root: &Path, t: Target) -> (Material, Vec<PathBuf>) {
    let mut m = Material::default();
    let mut specs = Vec::new();
    let corpus = root.join("fuzz/corpus").join(t.name());
    let mut files = fuzz::json_files(&corpus);
    if t != Target::Replay {
        files.extend(fuzz::json_files(&root.join("specs")));
        files.extend(fuzz::json_files(&root.join("checker/tests")));
        files.extend(fuzz::json_files(&root.join("fuzz/corpus")));
    }
    for f in files {
        if let Ok(b) = std::fs::read(&f) {
            if t == Target::Replay {
                // A replay seed names its scenario: "spec": {"path": ...}.
                let spec = serde_json::from_slice::<serde_json::Value>(&b)
                    .ok()
                    .and_then(|v| v["spec"]["path"].as_str().map(|p| root.join(p)));
                match spec {
                    Some(s) if s.exists() => specs.push(s),
                    _ => continue,
                }
            }
            m.add(b);
        }
    }
    (m, specs)
}

struct Stats {
    inputs: u64,
    accepted: u64,
    classes: usize,
    crashes: u64,
}

fn save_crash(root: &Path, t: Target, input: &[u8], spec: Option<&Path>) -> PathBuf {
    let dir = root.join("fuzz/crashes");
    let _ = std::fs::create_dir_all(&dir);
    let h = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let path = dir.join(format!("{}-{h:016x}.json", t.name()));
    let _ = std::fs::write(&path, input);
    if let Some(s) = spec {
        let _ = std::fs::write(path.with_extension("spec"), s.display().to_string());
    }
    path
}

#[allow(clippy::too_many_arguments)]
fn fuzz_target(
    root: &Path,
    t: Target,
    args: &Args,
    budget: Duration,
    current: &Arc<Mutex<(Target, Vec<u8>)>>,
    started_at: &Arc<AtomicU64>,
    epoch: Instant,
    tmp: &Path,
) -> Stats {
    let (m, specs) = material(root, t);
    let mut stats = Stats {
        inputs: 0,
        accepted: 0,
        classes: 0,
        crashes: 0,
    };
    if m.seeds.is_empty() {
        say!("fuzz: {}: no seeds", t.name());
        return stats;
    }
    let mut rng = Rng::new(args.seed ^ ((t as u64 + 1) * 0x1234_5678));
    // Pool entries: (input, index of the seed it comes from, for replay's spec).
    let mut pool: Vec<(Vec<u8>, usize)> = m
        .seeds
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let mut classes: HashSet<String> = HashSet::new();
    let mut crashed: BTreeSet<u64> = BTreeSet::new();
    let input_path = tmp.join(format!("{}-input.json", t.name()));
    let start = Instant::now();
    while stats.inputs < args.inputs && start.elapsed() < budget {
        let (base, origin) = &pool[rng.below(pool.len())];
        let origin = *origin;
        let input = if stats.inputs < m.seeds.len() as u64 {
            // Every seed once as it is.
            m.seeds[stats.inputs as usize].clone()
        } else {
            mutate(&mut rng, base, &m)
        };
        let input = if input.len() > 1 << 20 {
            input[..1 << 20].to_vec()
        } else {
            input
        };
        let origin = if stats.inputs < m.seeds.len() as u64 {
            stats.inputs as usize
        } else {
            origin
        };
        {
            let mut c = current.lock().unwrap_or_else(|e| e.into_inner());
            c.0 = t;
            c.1.clone_from(&input);
        }
        on_abort::running(&input);
        started_at.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Release);
        let spec = specs.get(origin.min(specs.len().saturating_sub(1)));
        let result = catch_unwind(AssertUnwindSafe(|| match t {
            Target::Loader => fuzz::loader(&input, args.deep),
            Target::Run => fuzz::run(&input, &input_path),
            Target::Replay => match spec {
                Some(s) => fuzz::replay(s, &input, &input_path),
                None => Verdict::Refused("no spec".into()),
            },
        }));
        started_at.store(0, Ordering::Release);
        stats.inputs += 1;
        match result {
            Ok(Verdict::Accepted) => stats.accepted += 1,
            Ok(Verdict::Refused(class)) => {
                if classes.insert(class) && pool.len() < MAX_POOL {
                    pool.push((input, origin));
                }
            }
            Err(_) => {
                let h = input
                    .iter()
                    .fold(0u64, |h, &b| h.wrapping_mul(31) ^ b as u64);
                if crashed.insert(h) {
                    stats.crashes += 1;
                    let saved = save_crash(root, t, &input, spec.map(|s| s.as_path()));
                    say!(
                        "fuzz: {}: CRASH, input saved as {}",
                        t.name(),
                        saved.display()
                    );
                }
            }
        }
    }
    stats.classes = classes.len();
    stats
}

fn main() {
    let args = parse_args();
    let root = repo_root();
    on_abort::install(&root);
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(quiet_targets());
    let tmp = std::env::temp_dir().join(format!("klpcheck-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temporary directory");
    let epoch = Instant::now();
    let current = Arc::new(Mutex::new((Target::Loader, Vec::new())));
    let started_at = Arc::new(AtomicU64::new(0));
    {
        // The watchdog: an input running longer than HANG is a crash.
        let (current, started_at, root) = (current.clone(), started_at.clone(), root.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let s = started_at.load(Ordering::Acquire);
            if s != 0 && epoch.elapsed().as_millis() as u64 > s - 1 + HANG.as_millis() as u64 {
                let c = current.lock().unwrap_or_else(|e| e.into_inner());
                let saved = save_crash(&root, c.0, &c.1, None);
                say!(
                    "fuzz: {}: HANG (over {}s), input saved as {}",
                    c.0.name(),
                    HANG.as_secs(),
                    saved.display()
                );
                std::process::exit(1);
            }
        });
    }
    // Panics are counted, not printed one by one.
    let first_panic = Arc::new(Mutex::new(None::<String>));
    {
        let first_panic = first_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            let mut f = first_panic.lock().unwrap_or_else(|e| e.into_inner());
            if f.is_none() {
                *f = Some(info.to_string());
            }
        }));
    }
    let budget = Duration::from_secs_f64(args.seconds / args.targets.len() as f64);
    let mut crashes = 0;
    let mut total = 0;
    for &t in &args.targets {
        let s = fuzz_target(&root, t, &args, budget, &current, &started_at, epoch, &tmp);
        say!(
            "fuzz: {:<7} {:>9} inputs, {:>8} accepted, {:>5} refusal classes, {} crashes",
            t.name(),
            s.inputs,
            s.accepted,
            s.classes,
            s.crashes
        );
        crashes += s.crashes;
        total += s.inputs;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    say!(
        "fuzz: {total} inputs in {:.0}s, {crashes} crashes",
        epoch.elapsed().as_secs_f64()
    );
    if let Some(p) = first_panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        say!("fuzz: first panic: {p}");
    }
    if crashes > 0 {
        std::process::exit(1);
    }
}
