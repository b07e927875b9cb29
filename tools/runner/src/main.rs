//! `runner`: builds the kernel image, boots it under QEMU and runs the QEMU
//! test suite.
//!
//! ```text
//! runner run   [options] [-- qemu args]   boot, show the console, exit with the guest's status
//! runner gdb   [options]                  boot halted with the gdb stub on :1234
//! runner test  [--list] [NAME...]         run the QEMU tests (all, or those whose name contains NAME)
//! runner bench [options]                 boot system=bench under -icount, exit with the guest's status
//! runner fuzz  [--seed S] [--count N] [options]
//!                                         boot system=fuzz (three fuzz instances, seeds S, S+1, S+2,
//!                                         N requests each), exit with the guest's status
//! runner build                            build the kernel image and print its path
//! options: --icount  --smp N  --mem SIZE  --mem-param  --append "k=v ..."
//!          --drive FILE  --timeout SECS (0 = none)
//! ```

mod blk_tests;
mod harness;
mod qemu;
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use qemu::QemuConfig;

fn usage() -> ExitCode {
    eprintln!(
        "usage: runner run|gdb|test|bench|fuzz|build [--icount] [--smp N] [--mem SIZE] [--mem-param] \
         [--append \"k=v ...\"] [--drive FILE] [--timeout SECS] [--list] [--seed S] [--count N] \
         [NAME...] [-- QEMU ARGS]"
    );
    ExitCode::from(64)
}

struct Options {
    cfg: QemuConfig,
    timeout: Option<Duration>,
    list: bool,
    names: Vec<String>,
    /// `fuzz`: first seed (default: the manifest's seeds 1-3).
    seed: Option<u32>,
    /// `fuzz`: requests per instance (default: the image's).
    count: Option<u32>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        cfg: QemuConfig::default(),
        timeout: Some(Duration::from_secs(300)),
        list: false,
        names: Vec::new(),
        seed: None,
        count: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
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
    match verb.as_str() {
        "build" => match qemu::build_kernel() {
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
        _ => usage(),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("runner: {msg}");
    ExitCode::FAILURE
}

/// The system `run` boots when the command line names none.
const DEFAULT_SYSTEM: &str = "system=demo";

fn run(mut opts: Options) -> ExitCode {
    let names_system = opts
        .cfg
        .append
        .iter()
        .any(|w| w.starts_with("system=") || w.starts_with("selftest="));
    if !names_system {
        opts.cfg.append.push(DEFAULT_SYSTEM.into());
    }
    let elf = match qemu::build_kernel() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    eprintln!(
        "runner: {}",
        qemu::describe(&qemu::command(&elf, &opts.cfg))
    );
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    match harness::boot(&elf, &opts.cfg, timeout, true) {
        Ok(out) => match out.exit_code {
            Some(code) => {
                eprintln!(
                    "runner: guest exited with status {code} after {:.1?}",
                    out.elapsed
                );
                ExitCode::from(code.clamp(0, 255) as u8)
            }
            None => fail(&format!(
                "time limit reached after {:.1?}: qemu killed",
                out.elapsed
            )),
        },
        Err(e) => fail(&e),
    }
}

/// The memory server's client-side benchmark (`userland/memtools/src/
/// bench.rs`): its figures are guest instructions, so it always runs under
/// `-icount shift=0`.
fn bench(mut opts: Options) -> ExitCode {
    opts.cfg.icount = true;
    opts.cfg.append.retain(|w| !w.starts_with("system="));
    opts.cfg.append.push("system=bench".into());
    run(opts)
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
    seed: Option<u32>,
    count: Option<u32>,
) -> Result<PathBuf, String> {
    let mut image = std::fs::read(elf).map_err(|e| format!("read {}: {e}", elf.display()))?;
    patch_fuzz_bytes(&mut image, seed, count).map_err(|e| format!("{e} in {}", elf.display()))?;
    let out = qemu::target_dir().join("fuzz-kernel.elf");
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
    let elf = match qemu::build_kernel() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let elf = match patch_fuzz_params(&elf, opts.seed, opts.count) {
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
    eprintln!(
        "runner: fuzz: seeds {seeds}, {count} requests per instance; {}",
        qemu::describe(&qemu::command(&elf, &opts.cfg))
    );
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(u64::MAX / 4));
    match harness::boot(&elf, &opts.cfg, timeout, true) {
        Ok(out) => match out.exit_code {
            Some(code) => {
                eprintln!(
                    "runner: guest exited with status {code} after {:.1?}",
                    out.elapsed
                );
                ExitCode::from(code.clamp(0, 255) as u8)
            }
            None => fail(&format!(
                "time limit reached after {:.1?}: qemu killed",
                out.elapsed
            )),
        },
        Err(e) => fail(&e),
    }
}

fn gdb(mut opts: Options) -> ExitCode {
    let elf = match qemu::build_kernel() {
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
        Err(e) => fail(&format!("cannot start qemu-system-arm: {e}")),
    }
}

fn test(opts: Options) -> ExitCode {
    let selected: Vec<_> = tests::all()
        .into_iter()
        .filter(|t| opts.names.is_empty() || opts.names.iter().any(|n| t.name.contains(n.as_str())))
        .collect();
    if opts.list {
        for t in &selected {
            println!("{:32} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let elf = match qemu::build_kernel() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let log_dir = qemu::target_dir().join("qemu-logs");
    let _ = std::fs::create_dir_all(&log_dir);
    let (mut passed, mut failed) = (0, 0);
    for t in &selected {
        let (cfg, disk) = harness::with_disk(&t.config, &log_dir);
        let mut problems = Vec::new();
        if let Err(e) = harness::prepare_disk(&cfg, disk.as_deref()) {
            problems.push(format!("disk image not prepared: {e}"));
        }
        let outcome = match harness::boot(&elf, &cfg, t.timeout, false) {
            Ok(o) => o,
            Err(e) => return fail(&e),
        };
        let log_path = log_dir.join(format!("{}.log", t.name));
        let _ = std::fs::write(
            &log_path,
            format!(
                "$ {}\n{}",
                qemu::describe(&qemu::command(&elf, &cfg)),
                outcome.log
            ),
        );
        problems.extend(harness::check(t, &outcome));
        if let Err(e) = harness::verify_disk(&cfg, disk.as_deref()) {
            problems.push(format!("disk image check: {e}"));
        }
        if problems.is_empty() {
            passed += 1;
            println!("qemu test {:32} ok ({:.1?})", t.name, outcome.elapsed);
        } else {
            failed += 1;
            println!("qemu test {:32} FAILED ({:.1?})", t.name, outcome.elapsed);
            for p in &problems {
                println!("    {p}");
            }
            println!("    console log: {}", log_path.display());
            let lines: Vec<&str> = outcome.log.lines().collect();
            for l in &lines[lines.len().saturating_sub(25)..] {
                println!("    | {l}");
            }
        }
    }
    println!("\nqemu: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
