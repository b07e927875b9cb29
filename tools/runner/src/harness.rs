//! Runs QEMU under a time limit, captures the serial log and checks it:
//! expected lines in order (regexes), forbidden lines, and the exit status.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::qemu::{self, QemuConfig};

/// One QEMU test.
#[derive(Clone, Debug)]
pub struct QemuTest {
    /// Unique name (used for filtering and the log file).
    pub name: &'static str,
    /// What it proves.
    pub about: &'static str,
    /// Board and command line.
    pub config: QemuConfig,
    /// Regexes that must match console lines, in this order.
    pub expect: Vec<&'static str>,
    /// Regexes that must each match some console line, in any order (lines
    /// of concurrently running tasks).
    pub expect_unordered: Vec<&'static str>,
    /// Regexes no console line may match.
    pub forbid: Vec<&'static str>,
    /// The QEMU exit status the run must end with.
    pub exit_code: i32,
    /// Wall-clock limit.
    pub timeout: Duration,
}

/// How one run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The full console log.
    pub log: String,
    /// QEMU's exit status; `None` if it was killed at the time limit.
    pub exit_code: Option<i32>,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

/// Boots `elf` with `cfg`, echoing the console if `echo`; kills QEMU at
/// `timeout`.
pub fn boot(
    elf: &Path,
    cfg: &QemuConfig,
    timeout: Duration,
    echo: bool,
) -> Result<Outcome, String> {
    let mut cmd = qemu::command(elf, cfg);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        format!("cannot start qemu-system-arm: {e} (run ./run.sh once to install it)")
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
                if echo {
                    println!("{line}");
                    let _ = std::io::stdout().flush();
                }
                log.push_str(&line);
                log.push('\n');
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
        log.push_str(&line);
        log.push('\n');
    }
    Ok(Outcome {
        log,
        exit_code: if killed { None } else { status.code() },
        elapsed: start.elapsed(),
    })
}

/// Checks an outcome against a test's expectations; returns the failures.
pub fn check(test: &QemuTest, outcome: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    let compile = |p: &str| {
        Regex::new(p).unwrap_or_else(|e| panic!("bad regex {p:?} in test {}: {e}", test.name))
    };
    let expect: Vec<Regex> = test.expect.iter().map(|p| compile(p)).collect();
    let forbid: Vec<Regex> = test.forbid.iter().map(|p| compile(p)).collect();
    for p in &test.expect_unordered {
        let re = compile(p);
        if !outcome.log.lines().any(|l| re.is_match(l)) {
            problems.push(format!("expected line not found (any order): /{p}/"));
        }
    }
    let mut next = 0;
    for line in outcome.log.lines() {
        if let Some(re) = expect.get(next) {
            if re.is_match(line) {
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
        Some(code) if code != test.exit_code => {
            problems.push(format!("exit status {code}, expected {}", test.exit_code))
        }
        Some(_) => {}
    }
    problems
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
