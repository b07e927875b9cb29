//! Building the kernel image and starting QEMU with the project's flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The boards the kernel is built for (kernel cargo features
/// `board-vexpress-a9`, the default, and `board-virt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Board {
    /// QEMU `vexpress-a9`: Cortex-A9 MPCore, GICv1, SP804, semihosting.
    VexpressA9,
    /// QEMU `virt`: the board KVM offers; device tree, PSCI, generic timer.
    Virt,
}

impl Board {
    /// Every board, in the order the test matrix runs them.
    pub const ALL: [Board; 2] = [Board::VexpressA9, Board::Virt];

    /// The kernel's default cargo feature's board (built with no feature flags).
    pub const DEFAULT: Board = Board::VexpressA9;

    /// The name used by `--board`, QEMU's `-M` and the kernel ELF's file name.
    pub fn name(self) -> &'static str {
        match self {
            Board::VexpressA9 => "vexpress-a9",
            Board::Virt => "virt",
        }
    }

    /// Parses a `--board` value.
    pub fn parse(s: &str) -> Result<Board, String> {
        Board::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown board '{s}' (vexpress-a9 or virt)"))
    }

    /// The kernel's cargo feature for this board (`--no-default-features
    /// --features <it>` selects a board other than [`Board::DEFAULT`]).
    pub fn kernel_feature(self) -> &'static str {
        match self {
            Board::VexpressA9 => "board-vexpress-a9",
            Board::Virt => "board-virt",
        }
    }

    /// The CPU QEMU emulates unless `--cpu` says otherwise.
    pub fn default_cpu(self) -> &'static str {
        match self {
            Board::VexpressA9 => "cortex-a9",
            Board::Virt => "cortex-a15",
        }
    }
}

/// How QEMU runs the guest's instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// TCG: QEMU translates them (`qemu-system-arm`).
    Tcg,
    /// KVM on an AArch64 host with AArch32 EL1 (`qemu-system-aarch64
    /// -enable-kvm -cpu host,aarch64=off`).
    Kvm,
}

/// The machine QEMU emulates: board, interrupt controller, CPU, entry
/// mode, semihosting, accelerator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The board (and so which kernel ELF boots).
    pub board: Board,
    /// `virt` only: the GIC architecture version, 2 or 3 (`None`: QEMU's
    /// default, GICv2; under KVM the host's).
    pub gic: Option<u8>,
    /// `-cpu` (`None`: the board's default, or `host,aarch64=off` under KVM).
    pub cpu: Option<String>,
    /// `virt` only: `virtualization=on`, the CPU enters the kernel in HYP.
    pub virtualization: bool,
    /// `-semihosting`: the exit status is QEMU's, the command line comes
    /// through SYS_GET_CMDLINE. Off: the runner adds `semihosting=off` to
    /// the command line and reads the status from the kernel's last line.
    pub semihosting: bool,
    /// TCG or KVM.
    pub accel: Accel,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            board: Board::VexpressA9,
            gic: None,
            cpu: None,
            virtualization: false,
            semihosting: true,
            accel: Accel::Tcg,
        }
    }
}

impl Platform {
    /// Refuses combinations QEMU or the kernel cannot run.
    pub fn validate(&self) -> Result<(), String> {
        if self.board == Board::VexpressA9 {
            if self.gic.is_some() {
                return Err(
                    "--gic applies to --board virt only (vexpress-a9 has its own GIC)".into(),
                );
            }
            if self.virtualization {
                return Err("--virtualization applies to --board virt only".into());
            }
            if self.accel == Accel::Kvm {
                return Err("KVM offers only the virt board".into());
            }
        }
        if let Some(v) = self.gic {
            if v != 2 && v != 3 {
                return Err(format!("--gic {v}: the kernel drives GICv2 and GICv3 only"));
            }
        }
        if self.accel == Accel::Kvm {
            if self.semihosting {
                return Err("a KVM guest has no semihosting (use --no-semihosting)".into());
            }
            if self.virtualization {
                return Err("KVM does not give an AArch32 guest HYP mode".into());
            }
        }
        Ok(())
    }

    /// The `-M` value.
    pub fn machine(&self) -> String {
        let mut m = self.board.name().to_string();
        if self.board == Board::Virt {
            match (self.gic, self.accel) {
                (Some(v), _) => m.push_str(&format!(",gic-version={v}")),
                (None, Accel::Kvm) => m.push_str(",gic-version=host"),
                (None, Accel::Tcg) => {}
            }
            if self.virtualization {
                m.push_str(",virtualization=on");
            }
            if self.accel == Accel::Kvm {
                // Nothing above 4 GiB: the guest is 32-bit (no LPAE use).
                m.push_str(",highmem=off");
            }
        }
        m
    }

    /// The `-cpu` value.
    pub fn cpu(&self) -> String {
        match (&self.cpu, self.accel) {
            (Some(c), _) => c.clone(),
            (None, Accel::Kvm) => "host,aarch64=off".into(),
            (None, Accel::Tcg) => self.board.default_cpu().into(),
        }
    }

    /// A short description for logs: `virt,gic-version=3 -cpu max, no semihosting`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} -cpu {}", self.machine(), self.cpu());
        if !self.semihosting {
            s.push_str(", no semihosting");
        }
        if self.accel == Accel::Kvm {
            s.push_str(", KVM");
        }
        s
    }
}

/// The KVM-safety plugin (`tools/kvmcheck`) loaded into a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRun {
    /// The plugin's shared library.
    pub library: PathBuf,
    /// Where it writes its report at exit.
    pub report: PathBuf,
}

/// Board and run options shared by `run`, `gdb` and the tests.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Board, GIC, CPU, entry mode, semihosting, accelerator.
    pub platform: Platform,
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
    /// The KVM-safety plugin, if loaded.
    pub plugin: Option<PluginRun>,
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
            platform: Platform::default(),
            mem: "512M".into(),
            mem_param: false,
            smp: 1,
            icount: false,
            append: Vec::new(),
            gdb: false,
            drives: Vec::new(),
            disk: None,
            plugin: None,
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

/// Builds the user tasks (board-independent), then the kernel for `board`
/// with their images embedded; copies the ELF to
/// `<target>/kernel-<board>.elf`, so the two boards' kernels sit side by
/// side, and returns that path. Cargo rebuilds only what changed; a kernel
/// already built for the board costs one fingerprint check.
pub fn build_kernel(board: Board) -> Result<PathBuf, String> {
    let arm_dir = target_dir().join("armv7a-none-eabi/release");
    let mut task_args = Vec::new();
    for t in USER_TASKS {
        task_args.extend(["-p", t]);
    }
    cargo_build(&task_args, &[])?;
    let mut kernel_args = vec!["-p", "kernel"];
    if board != Board::DEFAULT {
        kernel_args.extend([
            "--no-default-features",
            "--features",
            board.kernel_feature(),
        ]);
    }
    cargo_build(&kernel_args, &[("USER_IMAGES_DIR", &arm_dir)])?;
    let built = arm_dir.join("kernel");
    if !built.is_file() {
        return Err(format!("kernel built but {} is missing", built.display()));
    }
    let elf = kernel_elf(board);
    let image = std::fs::read(&built).map_err(|e| format!("read {}: {e}", built.display()))?;
    if std::fs::read(&elf).ok().as_deref() != Some(&image[..]) {
        // Write aside and rename: a QEMU already running from the old file
        // keeps reading a whole image.
        let tmp = elf.with_extension(format!("elf.{}", std::process::id()));
        std::fs::write(&tmp, &image).map_err(|e| format!("write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &elf)
            .map_err(|e| format!("rename {} to {}: {e}", tmp.display(), elf.display()))?;
    }
    Ok(elf)
}

/// Where [`build_kernel`] keeps `board`'s kernel.
pub fn kernel_elf(board: Board) -> PathBuf {
    target_dir().join(format!("kernel-{}.elf", board.name()))
}

/// The user task ELFs (with symbols), for symbolizing addresses.
pub fn user_task_elfs() -> Vec<PathBuf> {
    let arm_dir = target_dir().join("armv7a-none-eabi/release");
    USER_TASKS.iter().map(|t| arm_dir.join(t)).collect()
}

/// Builds the KVM-safety plugin (`tools/kvmcheck`, a host cdylib) and
/// returns its shared library.
pub fn build_kvmcheck() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "-q", "-p", "kvmcheck", "--release", "--lib"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("build of the kvmcheck plugin failed ({status})"));
    }
    let lib = target_dir().join("release").join(format!(
        "{}kvmcheck{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!("kvmcheck built but {} is missing", lib.display()))
    }
}

/// The QEMU binary for `platform`: `qemu-system-arm` under TCG (it runs
/// ARMv8 CPUs such as `max` in AArch32 too), `qemu-system-aarch64` under
/// KVM (only it has the AArch64 host's `-cpu host,aarch64=off`).
pub fn qemu_binary(platform: &Platform) -> &'static str {
    match platform.accel {
        Accel::Tcg => "qemu-system-arm",
        Accel::Kvm => "qemu-system-aarch64",
    }
}

/// The kernel command line for `cfg`: `semihosting=off` first when QEMU
/// gets no `-semihosting` (the kernel then powers off through the board
/// after its status line), then `mem=`, then the words asked for.
pub fn kernel_cmdline(cfg: &QemuConfig) -> Vec<String> {
    let mut append = Vec::new();
    if !cfg.platform.semihosting {
        append.push("semihosting=off".to_string());
    }
    if cfg.mem_param {
        append.push(format!("mem={}", cfg.mem));
    }
    append.extend(cfg.append.iter().cloned());
    append
}

/// The QEMU command for `elf` under `cfg`.
pub fn command(elf: &Path, cfg: &QemuConfig) -> Command {
    let p = &cfg.platform;
    let mut cmd = Command::new(qemu_binary(p));
    cmd.env("QEMU_AUDIO_DRV", "none");
    cmd.args(["-M", &p.machine(), "-cpu", &p.cpu()]);
    if p.accel == Accel::Kvm {
        cmd.arg("-enable-kvm");
    }
    if p.board == Board::Virt {
        // Without it QEMU looks for a network boot ROM.
        cmd.args(["-nic", "none"]);
    }
    cmd.args(["-m", &cfg.mem]);
    cmd.args(["-smp", &cfg.smp.to_string()]);
    cmd.args(["-nographic", "-monitor", "none", "-serial", "stdio"]);
    if p.semihosting {
        cmd.args(["-semihosting-config", "enable=on,target=native"]);
    }
    if cfg.icount {
        cmd.args(["-icount", "shift=0,align=off,sleep=off"]);
    }
    if cfg.gdb {
        cmd.args(["-s", "-S"]);
    }
    if let Some(plugin) = &cfg.plugin {
        cmd.args([
            "-plugin".to_string(),
            format!(
                "{},out={}",
                plugin.library.display(),
                plugin.report.display()
            ),
        ]);
    }
    // Transport N of either board sits on QEMU's bus virtio-mmio-bus.N
    // (buses are numbered in address order); the kernel's board layer
    // tells the driver where transport N is.
    for (i, drive) in cfg.drives.iter().enumerate() {
        cmd.args([
            "-drive".to_string(),
            format!("file={},if=none,format=raw,id=d{i}", drive.display()),
            "-device".to_string(),
            format!("virtio-blk-device,drive=d{i},bus=virtio-mmio-bus.{i}"),
        ]);
    }
    let append = kernel_cmdline(cfg);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cfg: &QemuConfig) -> Vec<String> {
        command(Path::new("k.elf"), cfg)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn each_board_gets_its_machine_cpu_and_flags() {
        let vexpress = args(&QemuConfig::default());
        assert_eq!(vexpress[..4], ["-M", "vexpress-a9", "-cpu", "cortex-a9"]);
        assert!(vexpress.contains(&"-semihosting-config".to_string()));
        assert!(!vexpress.contains(&"-nic".to_string()));

        let kvmlike = QemuConfig {
            platform: Platform {
                board: Board::Virt,
                gic: Some(3),
                cpu: Some("max".into()),
                semihosting: false,
                ..Platform::default()
            },
            append: vec!["system=demo".into()],
            drives: vec![PathBuf::from("d.img")],
            ..QemuConfig::default()
        };
        let a = args(&kvmlike);
        assert_eq!(a[..4], ["-M", "virt,gic-version=3", "-cpu", "max"]);
        assert!(a.windows(2).any(|w| w == ["-nic", "none"]));
        assert!(!a.iter().any(|x| x.contains("semihosting-config")));
        assert!(a
            .windows(2)
            .any(|w| w == ["-append", "semihosting=off system=demo"]));
        assert!(a.windows(2).any(|w| w
            == [
                "-device",
                "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0"
            ]));
        assert_eq!(qemu_binary(&kvmlike.platform), "qemu-system-arm");
    }

    #[test]
    fn hyp_entry_and_kvm_machines() {
        let hyp = Platform {
            board: Board::Virt,
            virtualization: true,
            ..Platform::default()
        };
        assert_eq!(hyp.machine(), "virt,virtualization=on");
        assert_eq!(hyp.cpu(), "cortex-a15");
        let kvm = Platform {
            board: Board::Virt,
            semihosting: false,
            accel: Accel::Kvm,
            ..Platform::default()
        };
        assert_eq!(kvm.machine(), "virt,gic-version=host,highmem=off");
        assert_eq!(kvm.cpu(), "host,aarch64=off");
        assert_eq!(qemu_binary(&kvm), "qemu-system-aarch64");
        assert!(kvm.validate().is_ok());
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let refused = [
            Platform {
                gic: Some(3),
                ..Platform::default()
            },
            Platform {
                virtualization: true,
                ..Platform::default()
            },
            Platform {
                board: Board::Virt,
                gic: Some(4),
                ..Platform::default()
            },
            Platform {
                board: Board::Virt,
                accel: Accel::Kvm,
                ..Platform::default()
            },
        ];
        for p in refused {
            assert!(p.validate().is_err(), "{p:?}");
        }
    }
}
