//! The board matrix: every QEMU test on each configuration that applies,
//! two QEMU runs at a time, a result line per test and configuration, a
//! summary per configuration, and the KVM-safety plugin's verdict in the
//! KVM-like configuration.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::harness::{self, QemuTest};
use crate::kvmprobe;
use crate::kvmreport::{self, KvmReport};
use crate::qemu::{self, Board, Platform, PluginRun};
use crate::symbols::Symbolizer;
use crate::windowmap;

/// One configuration of the matrix.
#[derive(Clone, Debug)]
pub struct MatrixConfig {
    /// Short name, printed in every result line (`--config NAME`).
    pub name: String,
    /// Board, GIC, CPU and semihosting; a test adds `virtualization`.
    pub platform: Platform,
    /// Load the KVM-safety plugin and fail a test on any flagged access.
    pub kvmcheck: bool,
}

/// The three configurations of `./run.sh test`, in the order they run.
pub fn configs() -> Vec<MatrixConfig> {
    vec![
        MatrixConfig {
            name: "vexpress".into(),
            platform: Platform::default(),
            kvmcheck: false,
        },
        MatrixConfig {
            name: "virt-gicv2".into(),
            platform: Platform {
                board: Board::Virt,
                gic: Some(2),
                cpu: Some("cortex-a15".into()),
                ..Platform::default()
            },
            kvmcheck: false,
        },
        // What a KVM guest gets: no semihosting, an ARMv8 core in AArch32,
        // the GICv3 system-register interface; the plugin checks every
        // I/O access could be emulated by KVM.
        MatrixConfig {
            name: "virt-kvmlike".into(),
            platform: Platform {
                board: Board::Virt,
                gic: Some(3),
                cpu: Some("max".into()),
                semihosting: false,
                ..Platform::default()
            },
            kvmcheck: true,
        },
    ]
}

/// The configurations `test` runs when `--config` names none.
pub const DEFAULT_CONFIGS: &[&str] = &["vexpress", "virt-gicv2", "virt-kvmlike"];

/// Picks configurations by name (`all` = every one).
pub fn select(names: &[String]) -> Result<Vec<MatrixConfig>, String> {
    let all = configs();
    let wanted: Vec<String> = if names.is_empty() {
        DEFAULT_CONFIGS.iter().map(|s| s.to_string()).collect()
    } else if names.iter().any(|n| n == "all") {
        all.iter().map(|c| c.name.clone()).collect()
    } else {
        names.to_vec()
    };
    wanted
        .iter()
        .map(|n| {
            all.iter().find(|c| &c.name == n).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "unknown configuration '{n}' (known: {}, all)",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// How one test ran in one configuration.
struct TestResult {
    config: usize,
    name: &'static str,
    problems: Vec<String>,
    elapsed: Duration,
    log_path: PathBuf,
    tail: Vec<String>,
    kvm: Option<KvmReport>,
}

/// Tests of one configuration that must run one after the other, in
/// order: those sharing a disk image (a second boot reads what the first
/// wrote).
struct Chain {
    config: usize,
    tests: Vec<QemuTest>,
}

/// What the workers share: the configurations, their kernels, the plugin.
struct Shared {
    configs: Vec<MatrixConfig>,
    kernels: Vec<PathBuf>,
    plugin: Option<PathBuf>,
    log_root: PathBuf,
    /// `--raw`: a failure's log tail as printed, not symbolized.
    raw: bool,
}

fn log_dir(shared: &Shared, config: usize) -> PathBuf {
    shared.log_root.join(&shared.configs[config].name)
}

/// Runs `selected(board)` on every configuration of `configs`, `jobs` QEMU
/// runs at a time. Returns whether every test passed.
pub fn run(
    configs: Vec<MatrixConfig>,
    selected: &dyn Fn(&Platform) -> Vec<QemuTest>,
    jobs: usize,
    raw: bool,
) -> Result<bool, String> {
    for c in &configs {
        c.platform
            .validate()
            .map_err(|e| format!("configuration {}: {e}", c.name))?;
    }
    // The plugin first, if a configuration loads it.
    let log_root = qemu::target_dir().join("qemu-logs");
    let _ = std::fs::create_dir_all(&log_root);
    let plugin = if configs.iter().any(|c| c.kvmcheck) {
        let lib = qemu::build_kvmcheck()?;
        // The check must be able to fail: a probe with unsafe MMIO first.
        println!("{}", kvmprobe::self_test(&lib, &log_root)?);
        Some(lib)
    } else {
        None
    };
    // Build each board's kernel once.
    let mut built: Vec<(Board, PathBuf)> = Vec::new();
    let mut kernels = Vec::new();
    for c in &configs {
        let board = c.platform.board;
        let elf = match built.iter().find(|(b, _)| *b == board) {
            Some((_, e)) => e.clone(),
            None => {
                let e = qemu::build_kernel(board)?;
                built.push((board, e.clone()));
                e
            }
        };
        kernels.push(elf);
    }
    let shared = Arc::new(Shared {
        configs,
        kernels,
        plugin,
        log_root,
        raw,
    });
    let symbolizer = Arc::new(Symbolizer::load(
        built.iter().map(|(_, e)| e.clone()).collect(),
        qemu::user_task_elfs(),
    ));

    // The work list: per configuration, each test on its own, except
    // tests sharing a disk image, which form one chain.
    let mut queue = VecDeque::new();
    let mut not_applicable: Vec<Vec<(&'static str, &'static str)>> =
        vec![Vec::new(); shared.configs.len()];
    let mut planned = vec![0usize; shared.configs.len()];
    for (ci, c) in shared.configs.iter().enumerate() {
        let _ = std::fs::create_dir_all(log_dir(&shared, ci));
        let mut chains: Vec<Chain> = Vec::new();
        for t in selected(&c.platform) {
            if !t.boards.includes(c.platform.board) {
                not_applicable[ci].push((t.name, t.about));
                continue;
            }
            planned[ci] += 1;
            let image = t.config.disk.map(|d| d.image);
            let joined = image.and_then(|img| {
                chains.iter_mut().find(|ch| {
                    ch.tests
                        .iter()
                        .any(|o| o.config.disk.map(|d| d.image) == Some(img))
                })
            });
            match joined {
                Some(chain) => chain.tests.push(t),
                None => chains.push(Chain {
                    config: ci,
                    tests: vec![t],
                }),
            }
        }
        queue.extend(chains);
    }
    for (ci, c) in shared.configs.iter().enumerate() {
        println!(
            "qemu [{}]: {} ({} tests{})",
            c.name,
            c.platform.describe() + if c.kvmcheck { ", kvmcheck plugin" } else { "" },
            planned[ci],
            if not_applicable[ci].is_empty() {
                String::new()
            } else {
                format!(", {} not applicable", not_applicable[ci].len())
            }
        );
        for (name, about) in &not_applicable[ci] {
            println!("qemu test [{}] {name:32} not applicable: {about}", c.name);
        }
    }

    let queue = Arc::new(Mutex::new(queue));
    let (tx, rx) = mpsc::channel::<Result<TestResult, String>>();
    let mut workers = Vec::new();
    for _ in 0..jobs.max(1) {
        let queue = Arc::clone(&queue);
        let shared = Arc::clone(&shared);
        let symbolizer = Arc::clone(&symbolizer);
        let tx = tx.clone();
        workers.push(std::thread::spawn(move || loop {
            let next = queue.lock().map(|mut q| q.pop_front());
            let Ok(Some(chain)) = next else { break };
            for t in &chain.tests {
                let r = run_one(&shared, &symbolizer, chain.config, t);
                if tx.send(r).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);

    let n = shared.configs.len();
    let (mut passed, mut failed) = (vec![0usize; n], vec![0usize; n]);
    let mut kvm_totals: Vec<Option<(u64, u64, usize)>> = vec![None; n];
    let mut fatal = None;
    for r in rx {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                fatal.get_or_insert(e);
                continue;
            }
        };
        let cname = &shared.configs[r.config].name;
        if let Some(k) = &r.kvm {
            let t = kvm_totals[r.config].get_or_insert((0, 0, 0));
            t.0 += k.checked;
            t.1 += k.flagged;
            t.2 += 1;
        }
        let kvm_note = r
            .kvm
            .as_ref()
            .map(|k| {
                format!(
                    ", kvmcheck {} I/O accesses, {} flagged",
                    k.checked, k.flagged
                )
            })
            .unwrap_or_default();
        if r.problems.is_empty() {
            passed[r.config] += 1;
            println!(
                "qemu test [{cname}] {:32} ok ({:.1?}{kvm_note})",
                r.name, r.elapsed
            );
        } else {
            failed[r.config] += 1;
            println!(
                "qemu test [{cname}] {:32} FAILED ({:.1?}{kvm_note})",
                r.name, r.elapsed
            );
            for p in &r.problems {
                println!("    {p}");
            }
            println!("    console log: {}", r.log_path.display());
            for l in &r.tail {
                println!("    | {l}");
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    println!();
    for (ci, c) in shared.configs.iter().enumerate() {
        let kvm = kvm_totals[ci]
            .map(|(checked, flagged, runs)| {
                format!(
                    "; kvmcheck: {checked} I/O accesses checked in {runs} runs, {flagged} flagged"
                )
            })
            .unwrap_or_default();
        println!(
            "qemu [{}] {}: {} passed, {} failed, {} not applicable{kvm}",
            c.name,
            c.platform.describe(),
            passed[ci],
            failed[ci],
            not_applicable[ci].len()
        );
    }
    let (p, f): (usize, usize) = (passed.iter().sum(), failed.iter().sum());
    println!("qemu: {p} passed, {f} failed");
    Ok(f == 0)
}

/// Runs one test in configuration `ci`.
fn run_one(
    shared: &Shared,
    symbolizer: &Symbolizer,
    ci: usize,
    t: &QemuTest,
) -> Result<TestResult, String> {
    let c = &shared.configs[ci];
    let dir = log_dir(shared, ci);
    // The plugin's memory callbacks slow memory-heavy tests 3-5 times; the
    // time limits are safety nets, not measurements.
    let scaled;
    let t = if c.kvmcheck {
        scaled = QemuTest {
            timeout: t.timeout * 3,
            ..t.clone()
        };
        &scaled
    } else {
        t
    };
    let mut cfg = t.config.clone();
    cfg.platform = Platform {
        virtualization: t.config.platform.virtualization,
        ..c.platform.clone()
    };
    let report_path = dir.join(format!("{}.kvmcheck", t.name));
    if let (true, Some(lib)) = (c.kvmcheck, &shared.plugin) {
        let _ = std::fs::remove_file(&report_path);
        cfg.plugin = Some(PluginRun {
            library: lib.clone(),
            report: report_path.clone(),
        });
    }
    let (cfg, disk) = harness::with_disk(&cfg, &dir);
    let mut problems = Vec::new();
    if let Err(e) = harness::prepare_disk(&cfg, disk.as_deref()) {
        problems.push(format!("disk image not prepared: {e}"));
    }
    let elf = &shared.kernels[ci];
    // This configuration's kernel and the task ELFs name the console's
    // addresses; `NAME.log` is the symbolized console, `NAME.raw.log` the
    // console as printed.
    let console_symbols = Symbolizer::load(vec![elf.clone()], qemu::user_task_elfs());
    let outcome = harness::boot(
        elf,
        &cfg,
        t.timeout,
        harness::Echo::Quiet,
        Some(&console_symbols),
    )?;
    let log_path = dir.join(format!("{}.log", t.name));
    let command = qemu::describe(&qemu::command(elf, &cfg));
    let _ = std::fs::write(&log_path, format!("$ {command}\n{}", outcome.symbolized));
    let _ = std::fs::write(
        dir.join(format!("{}.raw.log", t.name)),
        format!("$ {command}\n{}", outcome.log),
    );
    problems.extend(harness::check(t, &outcome, cfg.platform.semihosting));
    // A console with window-map dumps is drawn (`NAME.window-map.svg`) and
    // each snapshot's counts checked against its vmallocinfo lines.
    let map_path = dir.join(format!("{}.window-map.svg", t.name));
    match windowmap::render_and_check(&outcome.log, t.name, &map_path) {
        Ok((_, map_problems)) => problems.extend(map_problems),
        Err(e) => problems.push(e),
    }
    if let Err(e) = harness::verify_disk(&cfg, disk.as_deref()) {
        problems.push(format!("disk image check: {e}"));
    }
    let kvm = if cfg.plugin.is_some() {
        match kvmreport::read(&report_path) {
            Ok(report) => {
                problems.extend(report.problems(symbolizer));
                Some(report)
            }
            Err(e) => {
                problems.push(format!("kvmcheck: {e}"));
                None
            }
        }
    } else {
        None
    };
    let shown = if shared.raw {
        &outcome.log
    } else {
        &outcome.symbolized
    };
    let lines: Vec<&str> = shown.lines().collect();
    Ok(TestResult {
        config: ci,
        name: t.name,
        problems,
        elapsed: outcome.elapsed,
        log_path,
        tail: lines[lines.len().saturating_sub(25)..]
            .iter()
            .map(|l| l.to_string())
            .collect(),
        kvm,
    })
}

/// The configuration `test` runs when board options are given instead of
/// `--config`: exactly those options, named `custom-<board>` (its logs go
/// to `qemu-logs/custom-<board>/`).
pub fn custom(platform: Platform, kvmcheck: bool) -> MatrixConfig {
    MatrixConfig {
        name: format!("custom-{}", platform.board.name()),
        platform,
        kvmcheck,
    }
}

/// A path under the log directory for a one-off run's plugin report.
pub fn run_report_path(dir: &Path) -> PathBuf {
    dir.join("run.kvmcheck")
}
