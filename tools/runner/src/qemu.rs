//! Building the kernel image and starting QEMU with the project's flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Board and run options shared by `run`, `gdb` and the tests.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// `-m` size, e.g. `512M`.
    pub mem: String,
    /// Also pass `mem=<size>` on the kernel command line.
    pub mem_param: bool,
    /// `-smp N`.
    pub smp: u32,
    /// `-icount shift=0,align=off,sleep=off`: one instruction = 1 ns.
    pub icount: bool,
    /// Kernel command line words (`-append`).
    pub append: Vec<String>,
    /// Start the gdb stub on :1234 and wait for gdb (`-s -S`).
    pub gdb: bool,
    /// Raw disk images to attach as virtio-blk on transport N.
    pub drives: Vec<PathBuf>,
    /// A disk image a test prepares before the boot and checks after it
    /// (attached as the first drive; `test` only, see [`TestDisk`]).
    pub disk: Option<TestDisk>,
    /// Extra QEMU arguments, verbatim.
    pub extra: Vec<String>,
}

/// A hook on a test's disk image file.
pub type DiskHook = fn(&Path) -> Result<(), String>;

/// A test's disk image: a file in the QEMU log directory, written by
/// `prepare` before QEMU starts and checked by `verify` after it exits.
/// Tests naming the same `image` share the file (a second boot sees what
/// the first wrote).
#[derive(Clone, Copy, Debug)]
pub struct TestDisk {
    /// File name under `<target>/qemu-logs/`.
    pub image: &'static str,
    /// Writes (or checks) the image before the boot.
    pub prepare: Option<DiskHook>,
    /// Checks the image after the boot.
    pub verify: Option<DiskHook>,
}

impl Default for QemuConfig {
    fn default() -> Self {
        Self {
            mem: "512M".into(),
            mem_param: false,
            smp: 1,
            icount: false,
            append: Vec::new(),
            gdb: false,
            drives: Vec::new(),
            disk: None,
            extra: Vec::new(),
        }
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/runner sits two levels below the workspace root")
        .to_path_buf()
}

/// Where cargo puts ARM artefacts.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target"),
    }
}

/// User task binaries embedded into the kernel image.
pub const USER_TASKS: &[&str] = &["ktest", "memsrv", "memtools", "blkdrv"];

fn cargo_build(args: &[&str], envs: &[(&str, &Path)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .arg("build")
        .args(args)
        .args(["--target", "armv7a-none-eabi", "--release"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("build of {args:?} failed ({status})"))
    }
}

/// Builds the user tasks, then the kernel with their images embedded;
/// returns the kernel ELF path.
pub fn build_kernel() -> Result<PathBuf, String> {
    let arm_dir = target_dir().join("armv7a-none-eabi/release");
    let mut task_args = Vec::new();
    for t in USER_TASKS {
        task_args.extend(["-p", t]);
    }
    cargo_build(&task_args, &[])?;
    cargo_build(&["-p", "kernel"], &[("USER_IMAGES_DIR", &arm_dir)])?;
    let elf = arm_dir.join("kernel");
    if elf.is_file() {
        Ok(elf)
    } else {
        Err(format!("kernel built but {} is missing", elf.display()))
    }
}

/// The QEMU command for `elf` under `cfg`.
pub fn command(elf: &Path, cfg: &QemuConfig) -> Command {
    let mut cmd = Command::new("qemu-system-arm");
    cmd.env("QEMU_AUDIO_DRV", "none");
    cmd.args(["-M", "vexpress-a9", "-cpu", "cortex-a9"]);
    cmd.args(["-m", &cfg.mem]);
    cmd.args(["-smp", &cfg.smp.to_string()]);
    cmd.args(["-nographic", "-monitor", "none", "-serial", "stdio"]);
    cmd.args(["-semihosting-config", "enable=on,target=native"]);
    if cfg.icount {
        cmd.args(["-icount", "shift=0,align=off,sleep=off"]);
    }
    if cfg.gdb {
        cmd.args(["-s", "-S"]);
    }
    for (i, drive) in cfg.drives.iter().enumerate() {
        cmd.args([
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d{i}", drive.display()),
            "-device".to_string(),
            format!("virtio-blk-device,drive=d{i},bus=virtio-mmio-bus.{i}"),
        ]);
    }
    let mut append = Vec::new();
    if cfg.mem_param {
        append.push(format!("mem={}", cfg.mem));
    }
    append.extend(cfg.append.iter().cloned());
    if !append.is_empty() {
        cmd.args(["-append", &append.join(" ")]);
    }
    cmd.args(&cfg.extra);
    cmd.arg("-kernel").arg(elf);
    cmd.stdin(Stdio::null());
    cmd
}

/// The command line as a person would type it (for logs and `gdb`).
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}
