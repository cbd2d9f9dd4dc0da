//! `klpcheck check`: load every scenario, search it, print its report, and
//! write what `--out`, `--junit`, `--sarif` and GitHub Actions ask for.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use klp_model::{KlpModel, Profile};
use klp_reports::ci::Checked;
use klp_reports::text::TextOptions;
use klp_reports::ScenarioReport;

use crate::cli::{CheckArgs, Format};
use crate::engines::Bounds;
use crate::load::{expand, load_all};
use crate::progress::{Mode, Progress};
use crate::run::{usage_error, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE};

/// One checked scenario and what was written for it.
#[derive(Clone)]
pub struct ScenarioRun {
    pub report: ScenarioReport,
    /// Trace folder per violated property (with `--out`).
    pub folders: BTreeMap<String, String>,
    pub spec_text: String,
}

pub fn check(args: &CheckArgs) -> i32 {
    let started = Instant::now();
    let profiles = args.profile.clone();
    let variant = args.variant;
    if args.threads == Some(0) {
        return usage_error("--threads must be at least 1");
    }
    // Each worker reserves a thread stack; past this many (far more than
    // the cores of any machine the search is for) a memory limit turns
    // thread creation into an abort rather than a usage error.
    const MAX_THREADS: usize = 256;
    if args.threads.is_some_and(|t| t > MAX_THREADS) {
        return usage_error(format!("--threads must be at most {MAX_THREADS}"));
    }
    if args.max_states == Some(0) {
        return usage_error("--max-states must be at least 1");
    }
    let files = match expand(&args.specs) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    // Load everything first: bad input is reported (every error of every
    // file) before any search runs.
    let loaded = match load_all(&files) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                sayln!("{e}");
            }
            sayln!(
                "klpcheck: {} error{} in {} file{}; nothing was checked",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                errors
                    .iter()
                    .map(|e| e.path())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                if files.len() == 1 { "" } else { "s" }
            );
            return EXIT_USAGE;
        }
    };
    if let Some(dir) = &args.out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return usage_error(format!("--out {}: {e}", dir.display()));
        }
    }
    let total = loaded.len();
    {
        let files = OutFiles::of(args);
        crate::interrupt::install(Box::new(move |runs| {
            let _ = files.write(runs);
            sayln!("{}", interrupted_summary(runs, total));
        }));
    }
    let bounds = Bounds {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        max_states: args.max_states,
        timeout: args.timeout,
        // Symmetry reduction is on by default for the native engine.
        symmetry: if args.symmetry {
            true
        } else if args.no_symmetry {
            false
        } else {
            args.engine == crate::engines::EngineKind::Native
        },
        memory: args.memory,
        first_table: None,
        no_liveness: args.no_liveness,
        // The timeout bounds the whole command, every pass included.
        deadline: args.timeout.map(|t| started + t),
    };
    let mode = Mode::detect(args.quiet);
    let text_opts = TextOptions {
        verbose: args.verbose,
        color: args.color.enabled(),
    };
    let mut failed = false;
    let mut runs = Vec::new();
    let mut tally = Tally::default();
    let mut out = std::io::stdout().lock();
    for (mut l, spec_text) in loaded {
        if crate::interrupt::requested() {
            break;
        }
        if let Some(v) = variant {
            l.scenario.variant = v;
        }
        // One run per profile asked for (the scenario's own by default).
        let many = profiles.len() > 1;
        let runs_for: Vec<Profile> = if profiles.is_empty() {
            vec![l.scenario.profile]
        } else {
            profiles.clone()
        };
        let mut these = Vec::new();
        for prof in runs_for {
            if crate::interrupt::requested() {
                break;
            }
            let mut sc = l.scenario.clone();
            sc.profile = prof;
            let model = KlpModel::new(sc);
            let progress = Progress::start(mode, &model.sc.name);
            // One search answers the properties, counts the actions and
            // (without symmetry) records the liveness graph.
            let all = crate::engines::run_all(
                &model,
                args.engine,
                &bounds,
                crate::engines::Passes {
                    coverage: !args.no_coverage,
                    liveness: !bounds.no_liveness,
                },
                &mut |s| progress.update(s),
            );
            let interrupted = crate::interrupt::requested();
            let mut these_bounds = bounds.clone();
            these_bounds.no_liveness |= interrupted;
            let mut report = crate::check::report_from(
                &l.path,
                &model,
                args.engine.name(),
                &these_bounds,
                &all.outcome,
                all.liveness,
            );
            if interrupted {
                report.complete = false;
                report.incomplete_reason = Some("interrupted".to_string());
            }
            if let (Some(counts), false) = (all.coverage, interrupted) {
                let cov = crate::coverage::finish(&model, &report, counts);
                for w in &cov.warnings {
                    say!(
                        "{}",
                        klp_reports::escape::neutralise_workflow_commands(&format!(
                            "klpcheck: warning: {}: {w}\n",
                            report.spec.name
                        ))
                    );
                }
                failed |= args.fail_on_vacuous && cov.vacuous;
                report.coverage = Some(cov);
            }
            progress.finish();
            let mut folders = BTreeMap::new();
            if let Some(dir) = &args.out {
                let dir = if many {
                    dir.join(prof.name())
                } else {
                    dir.clone()
                };
                let spec_json: serde_json::Value =
                    serde_json::from_str(&spec_text).unwrap_or(serde_json::Value::Null);
                match crate::out::write_traces(&dir, &report, &model, &spec_json) {
                    Ok(w) => {
                        folders = w
                            .into_iter()
                            .map(|(k, v)| (k, v.display().to_string()))
                            .collect()
                    }
                    Err(e) => return usage_error(format!("--out {}: {e}", dir.display())),
                }
            }
            failed |= !report.ok;
            tally.add(&report);
            let run = ScenarioRun {
                report,
                folders,
                spec_text: spec_text.clone(),
            };
            crate::interrupt::record(run.clone());
            these.push(run);
        }
        let quiet_pass = args.quiet && these.iter().all(|r| r.report.ok && r.report.complete);
        let mut text = match args.format {
            Format::Json => these
                .iter()
                .map(|r| {
                    klp_reports::escape::json_line(
                        &serde_json::to_string(&r.report).expect("report serializes"),
                    ) + "\n"
                })
                .collect(),
            Format::Text if quiet_pass => String::new(),
            Format::Text if many => {
                let reports: Vec<ScenarioReport> = these.iter().map(|r| r.report.clone()).collect();
                klp_reports::text::render_side_by_side(&reports)
            }
            Format::Text => klp_reports::text::render_with(&these[0].report, text_opts),
        };
        if args.format == Format::Text && !quiet_pass {
            for r in &these {
                for (id, folder) in &r.folders {
                    text += &format!("  {id}: traces in {folder}/\n");
                }
                if args.coverage {
                    if let Some(c) = &r.report.coverage {
                        text += &klp_reports::text::render_coverage(c);
                    }
                }
            }
        }
        // Names and log lines are data: no line may read as a CI workflow
        // command (klp_reports::escape).
        let text = match args.format {
            Format::Text => klp_reports::escape::neutralise_workflow_commands(&text),
            Format::Json => text,
        };
        let _ = out.write_all(text.as_bytes());
        runs.extend(these);
    }
    // The closing summary: on stdout with text, on stderr with JSON (stdout
    // stays JSON lines).
    let summary = tally.line(started.elapsed(), text_opts);
    if args.format == Format::Json {
        sayln!("{summary}");
    } else {
        let _ = writeln!(out, "{summary}");
    }
    drop(out);
    let written = crate::interrupt::finish(|| write_ci_outputs(args, &runs));
    if let Err(code) = written {
        return code;
    }
    if crate::interrupt::requested() {
        sayln!("{}", interrupted_summary(&runs, total));
        return crate::interrupt::EXIT_INTERRUPTED;
    }
    if failed {
        EXIT_FAILED
    } else if tally.incomplete > 0 && !args.allow_incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// The report files `check` writes: report.json under `--out`, `--junit`,
/// `--sarif`; each whole or not at all.
struct OutFiles {
    out: Option<PathBuf>,
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
}

impl OutFiles {
    fn of(args: &CheckArgs) -> Self {
        OutFiles {
            out: args.out.clone(),
            junit: args.junit.clone(),
            sarif: args.sarif.clone(),
        }
    }

    fn write(&self, runs: &[ScenarioRun]) -> Result<(), String> {
        let checked: Vec<Checked> = runs
            .iter()
            .map(|r| Checked {
                report: &r.report,
                folders: &r.folders,
                spec_text: Some(&r.spec_text),
            })
            .collect();
        let file = |path: &Path, text: &str, what: &str| {
            crate::out::write_atomic(path, text.as_bytes(), 0o644)
                .map_err(|e| format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = &self.out {
            let reports: Vec<ScenarioReport> = runs.iter().map(|r| r.report.clone()).collect();
            crate::out::write_report_json(dir, &reports)
                .map_err(|e| format!("--out {}: {e}", dir.display()))?;
        }
        if let Some(path) = &self.junit {
            file(path, &klp_reports::junit::junit(&checked, true), "--junit")?;
        }
        if let Some(path) = &self.sarif {
            file(path, &klp_reports::sarif::sarif(&checked), "--sarif")?;
        }
        Ok(())
    }
}

/// What an interrupted run says on stderr: how far it got and the
/// statistics of each scenario checked.
fn interrupted_summary(runs: &[ScenarioRun], total: usize) -> String {
    let mut s = format!(
        "klpcheck: interrupted after {} of {total} scenarios; the reports written are partial",
        runs.len()
    );
    for r in runs {
        let st = &r.report.stats;
        s += &format!(
            "\n  {}: {} states, {} unique, depth {}, {:.2}s{}",
            klp_reports::escape::neutralise_workflow_commands(&r.report.spec.name),
            st.states,
            st.unique_states,
            st.max_depth,
            st.seconds,
            if r.report.complete {
                ""
            } else {
                " (incomplete)"
            }
        );
    }
    s
}

/// Counts for the closing summary.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    incomplete: usize,
}

impl Tally {
    fn add(&mut self, r: &ScenarioReport) {
        if !r.ok {
            self.failed += 1;
        } else if !r.complete {
            self.incomplete += 1;
        } else {
            self.passed += 1;
        }
    }

    /// `klpcheck: 12 passed, 1 failed, 0 incomplete in 3.2s, peak memory 151 MiB`.
    fn line(&self, elapsed: Duration, opt: TextOptions) -> String {
        let paint = |code: &str, n: usize, what: &str| {
            let t = format!("{n} {what}");
            if opt.color && n > 0 {
                format!("\x1b[{code}m{t}\x1b[0m")
            } else {
                t
            }
        };
        let memory = crate::progress::peak_memory_bytes()
            .map(|b| format!(", peak memory {}", bytesize::ByteSize::b(b).display().iec()))
            .unwrap_or_default();
        format!(
            "klpcheck: {}, {}, {} in {:.1}s{memory}",
            paint("32", self.passed, "passed"),
            paint("31", self.failed, "failed"),
            paint("33", self.incomplete, "incomplete"),
            elapsed.as_secs_f64()
        )
    }
}

/// report.json, JUnit, SARIF, and GitHub Actions annotations and summary.
fn write_ci_outputs(args: &CheckArgs, runs: &[ScenarioRun]) -> Result<(), i32> {
    let checked: Vec<Checked> = runs
        .iter()
        .map(|r| Checked {
            report: &r.report,
            folders: &r.folders,
            spec_text: Some(&r.spec_text),
        })
        .collect();
    OutFiles::of(args).write(runs).map_err(usage_error)?;
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        let notes = klp_reports::github::annotations(&checked);
        // The runner reads workflow commands from stdout and stderr; keep
        // stdout pure JSON lines with --format json.
        if args.format == Format::Json {
            say!("{notes}");
        } else {
            out!("{notes}");
        }
        if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
            let diagrams: Vec<(String, String, String)> = runs
                .iter()
                .flat_map(|r| {
                    r.folders.iter().filter_map(|(id, folder)| {
                        let md =
                            std::fs::read_to_string(Path::new(folder).join("trace.md")).ok()?;
                        Some((r.report.spec.name.clone(), id.clone(), md))
                    })
                })
                .collect();
            let text = klp_reports::github::step_summary(&checked, &diagrams);
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = appended {
                sayln!("klpcheck: GITHUB_STEP_SUMMARY {summary}: {e}");
                return Err(EXIT_USAGE);
            }
        }
    }
    Ok(())
}
