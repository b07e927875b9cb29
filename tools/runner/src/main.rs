//! `runner`: builds the kernel image, boots it under QEMU and runs the QEMU
//! test suite.
//!
//! ```text
//! runner run   [options] [-- qemu args]   boot, show the console, exit with the guest's status
//! runner gdb   [options]                  boot halted with the gdb stub on :1234
//! runner test  [--list] [--config C]... [--jobs N] [NAME...]
//!                                         run the QEMU tests on the board matrix (all, or those
//!                                         whose name contains NAME; --config picks configurations)
//! runner bench [options]                  boot system=bench under -icount, exit with the guest's status
//! runner fuzz  [--seed S] [--count N] [options]
//!                                         boot system=fuzz (three fuzz instances, seeds S, S+1, S+2,
//!                                         N requests each), exit with the guest's status
//! runner kvm   [options]                  boot the virt kernel under KVM (AArch64 host with
//!                                         AArch32 EL1 only; otherwise says why, exit 69)
//! runner build [--board B]                build the kernel image and print its path
//! runner symbolize [--board B] ADDR[:INSN]...
//!                                         name guest addresses with the kernel and task symbols
//! runner map [SYSTEM]                    boot SYSTEM (default stress), draw its window-map dumps
//!                                         into target/window-map.svg
//! every console line shown passes through the symbolizer (console.rs); --raw shows them as printed
//! board options: --board vexpress-a9|virt  --gic 2|3  --cpu NAME  --virtualization
//!                --no-semihosting  --kvmcheck
//! run options:   --icount  --smp N  --mem SIZE  --mem-param  --append "k=v ..."
//!                --drive FILE  --timeout SECS (0 = none)
//! ```

mod benchplot;
mod blk_tests;
mod console;
mod harness;
mod kvm;
mod kvmprobe;
mod kvmreport;
mod matrix;
mod qemu;
mod symbols;
mod tests;
mod windowmap;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use qemu::{Accel, Board, QemuConfig};

fn usage() -> ExitCode {
    eprintln!(
        "usage: runner run|gdb|test|bench|fuzz|kvm|build [--board vexpress-a9|virt] [--gic 2|3] \
         [--cpu NAME] [--virtualization] [--no-semihosting] [--kvmcheck] [--icount] [--smp N] \
         [--mem SIZE] [--mem-param] [--append \"k=v ...\"] [--drive FILE] [--timeout SECS] \
         [--raw] [--list] [--config NAME] [--jobs N] [--seed S] [--count N] [NAME...] [-- QEMU ARGS]"
    );
    ExitCode::from(64)
}

struct Options {
    cfg: QemuConfig,
    /// Whether any board option (--board, --gic, --cpu, --virtualization,
    /// --no-semihosting, --kvmcheck) was given: `test` then runs that one
    /// configuration.
    platform_given: bool,
    /// `--kvmcheck`: load the KVM-safety plugin and fail on a flagged access.
    kvmcheck: bool,
    timeout: Option<Duration>,
    list: bool,
    names: Vec<String>,
    /// `test`: the matrix configurations to run (default: all).
    configs: Vec<String>,
    /// `test`: QEMU runs at once.
    jobs: usize,
    /// `fuzz`: first seed (default: the manifest's seeds 1-3).
    seed: Option<u32>,
    /// `fuzz`: requests per instance (default: the image's).
    count: Option<u32>,
    /// `--raw`: show console lines as printed, without the symbolizer.
    raw: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        cfg: QemuConfig::default(),
        platform_given: false,
        kvmcheck: false,
        timeout: Some(Duration::from_secs(300)),
        list: false,
        names: Vec::new(),
        configs: Vec::new(),
        jobs: 2,
        seed: None,
        count: None,
        raw: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--board" => {
                o.cfg.platform.board = Board::parse(&value("--board")?)?;
                o.platform_given = true;
            }
            "--gic" => {
                o.cfg.platform.gic = Some(
                    value("--gic")?
                        .parse()
                        .map_err(|_| "--gic takes 2 or 3".to_string())?,
                );
                o.platform_given = true;
            }
            "--cpu" => {
                o.cfg.platform.cpu = Some(value("--cpu")?);
                o.platform_given = true;
            }
            "--virtualization" => {
                o.cfg.platform.virtualization = true;
                o.platform_given = true;
            }
            "--no-semihosting" => {
                o.cfg.platform.semihosting = false;
                o.platform_given = true;
            }
            "--kvmcheck" => {
                o.kvmcheck = true;
                o.platform_given = true;
            }
            "--icount" => o.cfg.icount = true,
            "--smp" => {
                o.cfg.smp = value("--smp")?
                    .parse()
                    .map_err(|_| "--smp takes a number".to_string())?
            }
            "--mem" => o.cfg.mem = value("--mem")?,
            "--mem-param" => o.cfg.mem_param = true,
            "--append" => o
                .cfg
                .append
                .extend(value("--append")?.split_whitespace().map(String::from)),
            "--drive" => o.cfg.drives.push(PathBuf::from(value("--drive")?)),
            "--timeout" => {
                let secs: u64 = value("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout takes seconds".to_string())?;
                o.timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "--list" => o.list = true,
            "--raw" => o.raw = true,
            "--config" => o.configs.push(value("--config")?),
            "--jobs" => {
                o.jobs = value("--jobs")?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| "--jobs takes a number above 0".to_string())?
            }
            "--seed" => {
                o.seed = Some(
                    value("--seed")?
                        .parse()
                        .map_err(|_| "--seed takes a number (u32)".to_string())?,
                )
            }
            "--count" => {
                o.count = Some(
                    value("--count")?
                        .parse()
                        .map_err(|_| "--count takes a number (u32)".to_string())?,
                )
            }
            "--" => {
                o.cfg.extra.extend(it.by_ref().cloned());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            name => o.names.push(name.to_string()),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((verb, rest)) = args.split_first() else {
        return usage();
    };
    let opts = match parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("runner: {e}");
            return usage();
        }
    };
    if let Err(e) = opts.cfg.platform.validate() {
        eprintln!("runner: {e}");
        return usage();
    }
    match verb.as_str() {
        "build" => match qemu::build_kernel(opts.cfg.platform.board) {
            Ok(elf) => {
                println!("{}", elf.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        "run" => run(opts),
        "gdb" => gdb(opts),
        "test" => test(opts),
        "bench" => bench(opts),
        "fuzz" => fuzz(opts),
        "kvm" => kvm(opts),
        "symbolize" => symbolize(opts),
        "map" => map(opts),
        _ => usage(),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("runner: {msg}");
    ExitCode::FAILURE
}

/// The system `run` boots when the command line names none.
const DEFAULT_SYSTEM: &str = "system=demo";

fn with_default_system(opts: &mut Options) {
    let names_system = opts
        .cfg
        .append
        .iter()
        .any(|w| w.starts_with("system=") || w.starts_with("selftest="));
    if !names_system {
        opts.cfg.append.push(DEFAULT_SYSTEM.into());
    }
}

fn run(mut opts: Options) -> ExitCode {
    with_default_system(&mut opts);
    let elf = match qemu::build_kernel(opts.cfg.platform.board) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    boot_and_report(&elf, opts, "")
}

/// Boots `elf` showing the console; returns the guest's status (from
/// QEMU's exit status with semihosting, from the kernel's status line
/// without). With `--kvmcheck` the plugin's report follows, and a flagged
/// access turns a status of 0 into 1.
fn boot_and_report(elf: &std::path::Path, opts: Options, what: &str) -> ExitCode {
    boot_and_log(elf, opts, what).0
}

/// [`boot_and_report`], also returning the console log as printed (`None`
/// if QEMU could not start).
fn boot_and_log(
    elf: &std::path::Path,
    mut opts: Options,
    what: &str,
) -> (ExitCode, Option<String>) {
    if opts.kvmcheck {
        let lib = match qemu::build_kvmcheck() {
            Ok(l) => l,
            Err(e) => return (fail(&e), None),
        };
        let dir = qemu::target_dir().join("qemu-logs");
        let _ = std::fs::create_dir_all(&dir);
        let report = matrix::run_report_path(&dir);
        let _ = std::fs::remove_file(&report);
        opts.cfg.plugin = Some(qemu::PluginRun {
            library: lib,
            report,
        });
    }
    eprintln!(
        "runner: {what}{}; {}",
        opts.cfg.platform.describe(),
        qemu::describe(&qemu::command(elf, &opts.cfg))
    );
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let symbols = symbols::Symbolizer::load(vec![elf.to_path_buf()], qemu::user_task_elfs());
    let echo = if opts.raw {
        harness::Echo::Raw
    } else {
        harness::Echo::Symbolized
    };
    let out = match harness::boot(elf, &opts.cfg, timeout, echo, Some(&symbols)) {
        Ok(o) => o,
        Err(e) => return (fail(&e), None),
    };
    let Some(code) = out.exit_code else {
        let killed = format!("time limit reached after {:.1?}: qemu killed", out.elapsed);
        return (fail(&killed), Some(out.log));
    };
    let status = match harness::guest_status(&out.log, code, opts.cfg.platform.semihosting) {
        Ok(s) => s,
        Err(e) => return (fail(&e), Some(out.log)),
    };
    eprintln!(
        "runner: guest exited with status {status} after {:.1?}",
        out.elapsed
    );
    let mut flagged = false;
    if let Some(plugin) = &opts.cfg.plugin {
        match kvmreport::read(&plugin.report) {
            Ok(r) => {
                eprintln!(
                    "runner: kvmcheck: {} I/O accesses checked, {} flagged",
                    r.checked, r.flagged
                );
                for p in r.problems(&symbols) {
                    eprintln!("runner: {p}");
                }
                flagged = r.flagged > 0;
            }
            Err(e) => {
                eprintln!("runner: kvmcheck: {e}");
                flagged = true;
            }
        }
    }
    let status = if flagged && status == 0 { 1 } else { status };
    (ExitCode::from(status.clamp(0, 255) as u8), Some(out.log))
}

/// The memory server's client-side benchmark (`userland/memtools/src/
/// bench.rs`): its figures are guest instructions, so it always runs under
/// `-icount shift=0`.
fn bench(mut opts: Options) -> ExitCode {
    opts.cfg.icount = true;
    opts.cfg.append.retain(|w| !w.starts_with("system="));
    opts.cfg.append.push("system=bench".into());
    let elf = match qemu::build_kernel(opts.cfg.platform.board) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let board = opts.cfg.platform.describe();
    let (code, log) = boot_and_log(&elf, opts, "");
    if let Some(log) = log {
        if let Err(e) = write_bench_outputs(&log, &board) {
            eprintln!("runner: {e}");
            return ExitCode::FAILURE;
        }
    }
    code
}

/// `target/bench.svg` and `target/bench.md` from a `system=bench` console.
fn write_bench_outputs(log: &str, board: &str) -> Result<(), String> {
    let rows = benchplot::parse_rows(log);
    if rows.is_empty() {
        return Err("bench: no table rows in the console: no bench.svg written".into());
    }
    let first_line = |cmd: &mut std::process::Command| {
        cmd.output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let mut commit =
        first_line(std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]));
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        commit.push_str(" (with uncommitted changes)");
    }
    let qemu = first_line(std::process::Command::new("qemu-system-arm").arg("--version"));
    let date = benchplot::utc_now();
    let title = format!("memory-server client cost beside Linux 6.1 ({board}, {date})");
    let dir = qemu::target_dir();
    let svg = dir.join("bench.svg");
    let md = dir.join("bench.md");
    std::fs::write(&svg, benchplot::svg(&rows, &title))
        .map_err(|e| format!("write {}: {e}", svg.display()))?;
    let text = benchplot::markdown(log, &date, &commit, &format!("{qemu}; {board}"));
    std::fs::write(&md, text).map_err(|e| format!("write {}: {e}", md.display()))?;
    eprintln!(
        "runner: bench: {} rows plotted in {}; tables in {}",
        rows.len(),
        svg.display(),
        md.display()
    );
    Ok(())
}

/// Where the fuzz role's run-time parameters start in the kernel image
/// (`userland/memtools/src/fuzz.rs`, `FUZZ_PARAMS`: this magic, then the
/// seed and the request count as little-endian u32s).
const FUZZ_PARAMS_MAGIC: &[u8; 8] = b"FUZZPRM1";

/// A copy of the kernel image `elf` with the fuzz parameters patched in.
/// The kernel passes no boot argument to tasks, so the seed and count
/// travel in the embedded memtools image itself.
fn patch_fuzz_params(
    elf: &std::path::Path,
    board: Board,
    seed: Option<u32>,
    count: Option<u32>,
) -> Result<PathBuf, String> {
    let mut image = std::fs::read(elf).map_err(|e| format!("read {}: {e}", elf.display()))?;
    patch_fuzz_bytes(&mut image, seed, count).map_err(|e| format!("{e} in {}", elf.display()))?;
    let out = qemu::target_dir().join(format!("fuzz-kernel-{}.elf", board.name()));
    std::fs::write(&out, image).map_err(|e| format!("write {}: {e}", out.display()))?;
    Ok(out)
}

/// Writes the fuzz parameters after the one [`FUZZ_PARAMS_MAGIC`] in `image`.
fn patch_fuzz_bytes(image: &mut [u8], seed: Option<u32>, count: Option<u32>) -> Result<(), String> {
    let found: Vec<usize> = image
        .windows(FUZZ_PARAMS_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| w == FUZZ_PARAMS_MAGIC)
        .map(|(i, _)| i)
        .collect();
    let [at] = found[..] else {
        return Err(format!(
            "the fuzz parameters appear {} times (expected once)",
            found.len()
        ));
    };
    if at + FUZZ_PARAMS_MAGIC.len() + 12 > image.len() {
        return Err("the fuzz parameters are cut off".into());
    }
    // Words after the magic: which values are given (bit 0 seed, bit 1
    // count), the seed, the count.
    let values = at + FUZZ_PARAMS_MAGIC.len();
    let given = u32::from(seed.is_some()) | u32::from(count.is_some()) << 1;
    image[values..values + 4].copy_from_slice(&given.to_le_bytes());
    image[values + 4..values + 8].copy_from_slice(&seed.unwrap_or(0).to_le_bytes());
    image[values + 8..values + 12].copy_from_slice(&count.unwrap_or(0).to_le_bytes());
    Ok(())
}

/// The in-guest fuzzer, longer or with other seeds than the QEMU test.
fn fuzz(mut opts: Options) -> ExitCode {
    opts.cfg.append.retain(|w| !w.starts_with("system="));
    opts.cfg.append.push("system=fuzz".into());
    let board = opts.cfg.platform.board;
    let elf = match qemu::build_kernel(board) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let elf = match patch_fuzz_params(&elf, board, opts.seed, opts.count) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let seeds = match opts.seed {
        Some(s) => format!("{s}, {}, {}", s.wrapping_add(1), s.wrapping_add(2)),
        None => "1, 2, 3".to_string(),
    };
    let count = opts
        .count
        .map_or_else(|| "the default number of".to_string(), |n| n.to_string());
    boot_and_report(
        &elf,
        opts,
        &format!("fuzz: seeds {seeds}, {count} requests per instance; "),
    )
}

/// The `virt` kernel under KVM, on a host that can run it; otherwise the
/// reason and [`kvm::KVM_UNAVAILABLE`].
fn kvm(mut opts: Options) -> ExitCode {
    if let Some(why) = kvm::unavailable() {
        eprintln!("{why}");
        return ExitCode::from(kvm::KVM_UNAVAILABLE);
    }
    if opts.kvmcheck {
        return fail("--kvmcheck is a TCG plugin: it cannot watch a KVM guest");
    }
    opts.cfg.platform.board = Board::Virt;
    opts.cfg.platform.accel = Accel::Kvm;
    opts.cfg.platform.semihosting = false;
    if let Err(e) = opts.cfg.platform.validate() {
        return fail(&e);
    }
    with_default_system(&mut opts);
    let elf = match qemu::build_kernel(Board::Virt) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    boot_and_report(&elf, opts, "KVM: ")
}

/// `runner map [SYSTEM]`: boots SYSTEM (default `stress`) and draws the
/// window-map dumps its observer prints into `target/window-map.svg`,
/// checking each snapshot's counts against its vmallocinfo lines.
fn map(mut opts: Options) -> ExitCode {
    let system = opts
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| "stress".into());
    opts.cfg.append.retain(|w| !w.starts_with("system="));
    opts.cfg.append.push(format!("system={system}"));
    let elf = match qemu::build_kernel(opts.cfg.platform.board) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let board = opts.cfg.platform.describe();
    let (code, log) = boot_and_log(&elf, opts, "");
    let Some(log) = log else { return code };
    let out = qemu::target_dir().join("window-map.svg");
    let title = format!("vmalloc window of system={system} ({board})");
    match windowmap::render_and_check(&log, &title, &out) {
        Ok((0, _)) => fail(&format!(
            "system={system} printed no window-map dump (only observer clients print them)"
        )),
        Ok((n, problems)) => {
            eprintln!("runner: map: {n} snapshots drawn in {}", out.display());
            for p in &problems {
                eprintln!("runner: map: {p}");
            }
            if problems.is_empty() {
                code
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e),
    }
}

/// Names guest addresses (`runner symbolize [--board B] ADDR[:INSN]...`)
/// with the board's kernel and the task ELFs, as the KVM-safety report does.
fn symbolize(opts: Options) -> ExitCode {
    let symbols = symbols::Symbolizer::load(
        vec![qemu::kernel_elf(opts.cfg.platform.board)],
        qemu::user_task_elfs(),
    );
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    for name in &opts.names {
        let (addr, insn) = name.split_once(':').unwrap_or((name, ""));
        let Some(pc) = hex(addr) else {
            return fail(&format!("'{name}' is not ADDR or ADDR:INSN in hex"));
        };
        let insn = hex(insn).map(|w| (w as u32, 4));
        println!("{pc:#010x}: {}", symbols.describe_matching(pc, insn));
    }
    ExitCode::SUCCESS
}

fn gdb(mut opts: Options) -> ExitCode {
    with_default_system(&mut opts);
    let elf = match qemu::build_kernel(opts.cfg.platform.board) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    opts.cfg.gdb = true;
    let mut cmd = qemu::command(&elf, &opts.cfg);
    println!("QEMU is waiting for gdb on localhost:1234. In another terminal run:\n");
    println!(
        "  gdb-multiarch -q {} -ex 'target remote localhost:1234' -ex 'break kmain' -ex continue\n",
        elf.display()
    );
    println!("(the console appears here; quit QEMU with Ctrl-A x)");
    cmd.stdin(std::process::Stdio::inherit());
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => fail(&format!(
            "cannot start {}: {e}",
            qemu::qemu_binary(&opts.cfg.platform)
        )),
    }
}

fn test(opts: Options) -> ExitCode {
    let selected = |platform: &qemu::Platform| -> Vec<harness::QemuTest> {
        tests::all(platform)
            .into_iter()
            .filter(|t| {
                opts.names.is_empty() || opts.names.iter().any(|n| t.name.contains(n.as_str()))
            })
            .collect()
    };
    if opts.list {
        for t in selected(&qemu::Platform::default()) {
            let boards = match t.boards {
                harness::Boards::All => "all boards".to_string(),
                harness::Boards::Only(b) => format!("{} only", b.name()),
            };
            println!("{:32} [{boards}] {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let configs = if opts.platform_given {
        if !opts.configs.is_empty() {
            return fail("give either --config or board options, not both");
        }
        vec![matrix::custom(opts.cfg.platform.clone(), opts.kvmcheck)]
    } else {
        match matrix::select(&opts.configs) {
            Ok(c) => c,
            Err(e) => return fail(&e),
        }
    };
    match matrix::run(configs, &selected, opts.jobs, opts.raw) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod fuzz_params_tests {
    use super::*;

    #[test]
    fn fuzz_parameters_are_patched_after_the_one_magic() {
        let mut image = vec![0xeeu8; 64];
        image[20..28].copy_from_slice(FUZZ_PARAMS_MAGIC);
        patch_fuzz_bytes(&mut image, Some(7), None).unwrap();
        assert_eq!(
            &image[28..32],
            &1u32.to_le_bytes(),
            "only the seed is given"
        );
        assert_eq!(&image[32..36], &7u32.to_le_bytes());
        assert_eq!(&image[36..40], &0u32.to_le_bytes());
        assert_eq!(image[40], 0xee, "nothing after the parameters changes");
        patch_fuzz_bytes(&mut image, None, Some(9)).unwrap();
        assert_eq!(&image[28..32], &2u32.to_le_bytes());
        assert_eq!(&image[36..40], &9u32.to_le_bytes());

        let mut twice = image.clone();
        twice[44..52].copy_from_slice(FUZZ_PARAMS_MAGIC);
        assert!(patch_fuzz_bytes(&mut twice, Some(1), Some(1)).is_err());
        assert!(patch_fuzz_bytes(&mut [0u8; 16], Some(1), Some(1)).is_err());
        let mut cut = FUZZ_PARAMS_MAGIC.to_vec();
        cut.extend([0; 4]);
        assert!(patch_fuzz_bytes(&mut cut, Some(1), Some(1)).is_err());
    }
}
