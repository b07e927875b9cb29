//! Runs QEMU under a time limit, captures the serial log and checks it:
//! expected lines in order (regexes), forbidden lines, and the exit status.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::console::ConsoleSymbolizer;
use crate::qemu::{self, Board, QemuConfig};
use crate::symbols::Symbolizer;

/// The boards a test applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boards {
    /// Every board (every configuration of the matrix).
    All,
    /// One board only; the test's `about` says why (checked by a unit test).
    Only(Board),
}

impl Boards {
    /// Whether a test for these boards runs on `board`.
    pub fn includes(self, board: Board) -> bool {
        match self {
            Boards::All => true,
            Boards::Only(b) => b == board,
        }
    }
}

/// One QEMU test.
#[derive(Clone, Debug)]
pub struct QemuTest {
    /// Unique name (used for filtering and the log file).
    pub name: &'static str,
    /// What it proves (and, for a test of one board, why only that one).
    pub about: &'static str,
    /// The boards it applies to.
    pub boards: Boards,
    /// Run options and command line; the matrix configuration supplies
    /// the platform (board, GIC, CPU, semihosting) except
    /// `virtualization`, which the test sets.
    pub config: QemuConfig,
    /// Regexes that must match console lines, in this order.
    pub expect: Vec<&'static str>,
    /// Regexes that must each match some console line, in any order (lines
    /// of concurrently running tasks).
    pub expect_unordered: Vec<&'static str>,
    /// Regexes no console line may match.
    pub forbid: Vec<&'static str>,
    /// The guest status the run must end with (QEMU's exit status with
    /// semihosting, the kernel's `system: exit status N` line without).
    pub exit_code: i32,
    /// Wall-clock limit.
    pub timeout: Duration,
}

/// Which console lines [`boot`] shows as they arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// None.
    Quiet,
    /// As the guest printed them (`--raw`).
    Raw,
    /// Through the console symbolizer.
    Symbolized,
}

/// How one run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The full console log, as the guest printed it.
    pub log: String,
    /// The same lines through the console symbolizer (equal to `log`
    /// when the run had no symbols).
    pub symbolized: String,
    /// QEMU's exit status; `None` if it was killed at the time limit.
    pub exit_code: Option<i32>,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

/// Boots `elf` with `cfg`, showing the console as `echo` says; kills QEMU
/// at `timeout`. With `symbols`, each line also passes through the console
/// symbolizer ([`Outcome::symbolized`]).
pub fn boot(
    elf: &Path,
    cfg: &QemuConfig,
    timeout: Duration,
    echo: Echo,
    symbols: Option<&Symbolizer>,
) -> Result<Outcome, String> {
    let mut console = symbols.map(ConsoleSymbolizer::new);
    let mut cmd = qemu::command(elf, cfg);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (run ./run.sh once to install it)",
            qemu::qemu_binary(&cfg.platform)
        )
    })?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let tx2 = tx.clone();
    let out_thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    let err_thread = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx2.send(format!("[qemu stderr] {line}")).is_err() {
                break;
            }
        }
    });
    let deadline = start + timeout;
    let mut log = String::new();
    let mut symbolized = String::new();
    let mut keep = |line: &str, log: &mut String, symbolized: &mut String| -> String {
        let named = match console.as_mut() {
            Some(c) => c.line(line),
            None => line.to_string(),
        };
        log.push_str(line);
        log.push('\n');
        symbolized.push_str(&named);
        symbolized.push('\n');
        named
    };
    let mut killed = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            killed = true;
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                let named = keep(&line, &mut log, &mut symbolized);
                let shown = match echo {
                    Echo::Quiet => None,
                    Echo::Raw => Some(&line),
                    Echo::Symbolized => Some(&named),
                };
                if let Some(shown) = shown {
                    println!("{shown}");
                    let _ = std::io::stdout().flush();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for qemu: {e}"))?;
    let _ = out_thread.join();
    let _ = err_thread.join();
    // Lines that raced the end of the process.
    while let Ok(line) = rx.try_recv() {
        keep(&line, &mut log, &mut symbolized);
    }
    Ok(Outcome {
        log,
        symbolized,
        exit_code: if killed { None } else { status.code() },
        elapsed: start.elapsed(),
    })
}

/// Runs `cmd` without showing its output; returns its exit status, or
/// `None` if it was killed at `timeout`.
pub fn run_quiet(
    cmd: &mut std::process::Command,
    timeout: Duration,
) -> Result<Option<i32>, String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.code()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {:?}: {e}", cmd.get_program())),
        }
    }
}

/// Checks an outcome of a run with (or without) semihosting against a
/// test's expectations; returns the failures. An expected line matches a
/// console line as printed or as symbolized; forbidden lines are checked
/// as printed (a symbol name is no evidence).
pub fn check(test: &QemuTest, outcome: &Outcome, semihosting: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let compile = |p: &str| {
        Regex::new(p).unwrap_or_else(|e| panic!("bad regex {p:?} in test {}: {e}", test.name))
    };
    let expect: Vec<Regex> = test.expect.iter().map(|p| compile(p)).collect();
    let forbid: Vec<Regex> = test.forbid.iter().map(|p| compile(p)).collect();
    // (raw, symbolized) pairs; a run without symbols has the raw text twice.
    let symbolized = if outcome.symbolized.lines().count() == outcome.log.lines().count() {
        &outcome.symbolized
    } else {
        &outcome.log
    };
    let lines: Vec<(&str, &str)> = outcome.log.lines().zip(symbolized.lines()).collect();
    let matches = |re: &Regex, (raw, named): (&str, &str)| re.is_match(raw) || re.is_match(named);
    for p in &test.expect_unordered {
        let re = compile(p);
        if !lines.iter().any(|&l| matches(&re, l)) {
            problems.push(format!("expected line not found (any order): /{p}/"));
        }
    }
    let mut next = 0;
    for &(line, named) in &lines {
        if let Some(re) = expect.get(next) {
            if matches(re, (line, named)) {
                next += 1;
            }
        }
        for re in &forbid {
            if re.is_match(line) {
                problems.push(format!("forbidden line (/{}/): {line}", re.as_str()));
            }
        }
    }
    if let Some(missing) = test.expect.get(next) {
        problems.push(format!(
            "expected line {} of {} not found (in order): /{missing}/",
            next + 1,
            test.expect.len()
        ));
    }
    match outcome.exit_code {
        None => problems.push(format!(
            "time limit of {:?} reached: qemu killed",
            test.timeout
        )),
        Some(code) => match guest_status(&outcome.log, code, semihosting) {
            Ok(status) if status != test.exit_code => {
                problems.push(format!("exit status {status}, expected {}", test.exit_code))
            }
            Ok(_) => {}
            Err(e) => problems.push(e),
        },
    }
    problems
}

/// The status in the kernel's last `system: exit status N` line, if any.
pub fn status_line(log: &str) -> Option<i32> {
    log.lines().rev().find_map(|l| {
        let rest = l.trim_end().split("system: exit status ").nth(1)?;
        rest.parse().ok()
    })
}

/// The guest's exit status from a run QEMU ended with `qemu_code`.
///
/// With semihosting it is QEMU's exit status (SYS_EXIT_EXTENDED), and a
/// `system: exit status N` line, when the kernel printed one, must agree.
/// Without, the kernel powers the board off after that line: QEMU must
/// have exited 0 and the last such line gives the status; a run that
/// ended without one failed.
pub fn guest_status(log: &str, qemu_code: i32, semihosting: bool) -> Result<i32, String> {
    let line = status_line(log);
    if semihosting {
        match line {
            Some(n) if n != qemu_code => Err(format!(
                "the kernel's status line says exit status {n} but QEMU exited with {qemu_code}"
            )),
            _ => Ok(qemu_code),
        }
    } else {
        match line {
            None if qemu_code != 0 => Err(format!(
                "run ended without a status line (QEMU exited with {qemu_code})"
            )),
            None => Err("run ended without a status line".into()),
            Some(_) if qemu_code != 0 => Err(format!(
                "QEMU exited with {qemu_code} instead of 0 after the kernel's power-off"
            )),
            Some(n) => Ok(n),
        }
    }
}

/// `cfg` with its test disk (if any) attached as the first drive, and the
/// disk's path (`<dir>/<image>`).
pub fn with_disk(cfg: &QemuConfig, dir: &Path) -> (QemuConfig, Option<PathBuf>) {
    let mut cfg = cfg.clone();
    let path = cfg.disk.map(|d| dir.join(d.image));
    if let Some(p) = &path {
        cfg.drives.insert(0, p.clone());
    }
    (cfg, path)
}

/// Runs the test disk's `prepare` hook.
pub fn prepare_disk(cfg: &QemuConfig, path: Option<&Path>) -> Result<(), String> {
    match (cfg.disk.and_then(|d| d.prepare), path) {
        (Some(prepare), Some(p)) => prepare(p),
        _ => Ok(()),
    }
}

/// Runs the test disk's `verify` hook.
pub fn verify_disk(cfg: &QemuConfig, path: Option<&Path>) -> Result<(), String> {
    match (cfg.disk.and_then(|d| d.verify), path) {
        (Some(verify), Some(p)) => verify(p),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    const LOG: &str = "[    0.1] INFO  system: root task memserver ended (exit 0), shutting down\n\
                       [    0.2] INFO  system: exit status 0\n";

    #[test]
    fn with_semihosting_the_status_is_qemus_and_the_line_must_agree() {
        assert_eq!(guest_status(LOG, 0, true), Ok(0));
        assert_eq!(guest_status("no line\n", 3, true), Ok(3));
        assert!(guest_status(LOG, 1, true)
            .unwrap_err()
            .contains("status line says exit status 0"));
    }

    #[test]
    fn without_semihosting_the_last_status_line_counts() {
        assert_eq!(guest_status(LOG, 0, false), Ok(0));
        let two = "system: exit status 0\nlater: system: exit status 2\n";
        assert_eq!(guest_status(two, 0, false), Ok(2));
        assert_eq!(
            guest_status("boot complete\n", 0, false),
            Err("run ended without a status line".into())
        );
        assert!(guest_status(LOG, 1, false)
            .unwrap_err()
            .contains("instead of 0"));
        assert_eq!(status_line("system: exit status x\n"), None);
    }
}
