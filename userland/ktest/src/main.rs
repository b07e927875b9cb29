//! Kernel test tasks. One image, many roles: the boot manifest's argument
//! picks the role (numbers match `kernel/src/manifest.rs`, `mod role`).
//! Each role logs what it checks; the QEMU tests assert on those lines.
#![no_std]
#![no_main]

use abi::{
    CapSlot, CapType, ClientFlags, DeviceRole, FaultKind, FaultMessage, FrameRun, KernelError,
    MapAttrs, MemType, MessageTag, Syscall, VirtAddr, CAP_INFO_LIMITS, FLUSH_ALL, LABEL_FAULT,
};
use log::{error, info};
use userlib::{dev, mmio, sys, LineBuf};

const SUPERVISOR: u32 = 1;
const PONG: u32 = 2;
const PING: u32 = 3;
const CAPCHECK: u32 = 4;
const MAPCHECK: u32 = 5;
const FAULTER: u32 = 6;
const SPINNER: u32 = 7;
const TICKER: u32 = 8;
const BENCH_CLIENT: u32 = 9;
const BENCH_SERVER: u32 = 10;
const IRQTEST: u32 = 11;
const KMEMCHECK: u32 = 12;
const STACKHOG: u32 = 13;
const OVERFLOW: u32 = 14;
const FAILER: u32 = 15;

/// The window address the faulter touches (never mapped).
const FAULT_ADDRESS: u32 = 0x4800_0000;

#[no_mangle]
pub fn task_main(role: u32) -> i32 {
    userlib::init_logger();
    match role {
        SUPERVISOR => supervisor(),
        PONG => pong(),
        PING => ping(),
        CAPCHECK => capcheck(),
        MAPCHECK => mapcheck(),
        FAULTER => faulter(),
        SPINNER => spinner(),
        TICKER => ticker(),
        BENCH_CLIENT => bench_client(),
        BENCH_SERVER => bench_server(),
        IRQTEST => irqtest(),
        KMEMCHECK => kmemcheck(),
        STACKHOG => stackhog(),
        OVERFLOW => overflow(),
        FAILER => failer(),
        other => {
            error!("unknown role {other}");
            2
        }
    }
}

fn slot(n: u32) -> CapSlot {
    CapSlot(n)
}

fn tag(label: u16, len: usize) -> MessageTag {
    MessageTag::new(label, len).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// supervisor: receives the fault/exit reports of every other test task.

struct Expect {
    task: u32,
    name: &'static str,
    kind: FaultKind,
    /// The fault address; `None`: any (a stack overflow's depends on the
    /// compiler's frame sizes).
    address: Option<u32>,
    code: u32,
}

/// Every task of `ipc-test` but the supervisor, pong (serves for ever) and
/// the spinner (never ends), by task id (`kernel/src/manifest.rs`,
/// `IPC_TEST`: id = index + 1). The SP804 interrupt test is a system of its
/// own (`irq-test`): virt has no SP804, and a refused task here would shift
/// every id after it.
const EXPECTED: [Expect; 8] = [
    Expect {
        task: 3,
        name: "ping",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 4,
        name: "capcheck",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 5,
        name: "mapcheck",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 6,
        name: "faulter",
        kind: FaultKind::DataAbort,
        address: Some(FAULT_ADDRESS),
        code: 0,
    },
    Expect {
        task: 8,
        name: "ticker",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 9,
        name: "kmemcheck",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 10,
        name: "stackhog",
        kind: FaultKind::Exit,
        address: Some(0),
        code: 0,
    },
    Expect {
        task: 11,
        name: "overflow",
        kind: FaultKind::StackOverflow,
        address: None,
        code: 0,
    },
];

fn supervisor() -> i32 {
    let mut seen = [false; EXPECTED.len()];
    let mut ok = true;
    while seen.iter().any(|s| !s) {
        let (badge, t) = match sys::recv(slot(0)) {
            Ok(v) => v,
            Err(e) => {
                error!("supervisor: recv failed: {e}");
                return 1;
            }
        };
        let Some(msg) = FaultMessage::read_from(&sys::ipc_buffer().bytes[..t.length()]) else {
            error!("supervisor: short report ({} bytes)", t.length());
            return 1;
        };
        if t.label() != LABEL_FAULT || badge.0 != msg.task {
            error!(
                "supervisor: bad report label {:#x} badge {}",
                t.label(),
                badge.0
            );
            ok = false;
        }
        info!(
            "supervisor: report from task {} (badge {}): {:?} address {:#010x} pc {:#010x} status {:#x} exit code {}",
            msg.task,
            badge.0,
            msg.fault_kind(),
            msg.address,
            msg.pc,
            msg.status,
            msg.exit_code as i32
        );
        match EXPECTED.iter().position(|e| e.task == msg.task) {
            Some(i) => {
                let e = &EXPECTED[i];
                let good = msg.fault_kind() == Some(e.kind)
                    && e.address.is_none_or(|a| a == msg.address)
                    && msg.exit_code == e.code;
                if !good {
                    error!("supervisor: {} ended unexpectedly", e.name);
                    ok = false;
                }
                seen[i] = true;
            }
            None => {
                error!("supervisor: unexpected report from task {}", msg.task);
                ok = false;
            }
        }
    }
    if ok {
        info!("supervisor: all {} reports as expected", EXPECTED.len());
        0
    } else {
        1
    }
}

// ---------------------------------------------------------------------------
// pong / ping: a server and a client checking payloads and badges.

fn pong() -> i32 {
    let (mut badge, mut t) = match sys::recv(slot(0)) {
        Ok(v) => v,
        Err(e) => {
            error!("pong: recv failed: {e}");
            return 1;
        }
    };
    info!(
        "pong: first message from badge {:#x}, label {}",
        badge.0,
        t.label()
    );
    loop {
        let buf = &mut sys::ipc_buffer().bytes;
        if badge.0 != 0x77 || t.length() != 4 {
            error!(
                "pong: unexpected badge {:#x} or length {}",
                badge.0,
                t.length()
            );
        }
        let v = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        buf[..4].copy_from_slice(&v.wrapping_add(1).to_le_bytes());
        match sys::reply_recv(slot(0), tag(t.label(), 4)) {
            Ok((b, nt)) => {
                badge = b;
                t = nt;
            }
            Err(e) => {
                error!("pong: reply_recv failed: {e}");
                return 1;
            }
        }
    }
}

fn ping() -> i32 {
    const ROUNDS: u32 = 100;
    for i in 0..ROUNDS {
        sys::ipc_buffer().bytes[..4].copy_from_slice(&(i * 7).to_le_bytes());
        let reply = match sys::call(slot(0), tag(1, 4)) {
            Ok(r) => r,
            Err(e) => {
                error!("ping: call {i} failed: {e}");
                return 1;
            }
        };
        let b = &sys::ipc_buffer().bytes;
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if reply.length() != 4 || reply.label() != 1 || v != i * 7 + 1 {
            error!("ping: bad reply {v} to {i}");
            return 1;
        }
    }
    info!("ping: {ROUNDS} round trips with payload checked");
    0
}

// ---------------------------------------------------------------------------
// capcheck: every call with a missing or wrong capability gets its error.

fn expect_err(
    what: &str,
    r: Result<impl core::fmt::Debug, KernelError>,
    want: KernelError,
) -> bool {
    match r {
        Err(e) if e == want => {
            info!("capcheck: {what} -> {e} ok");
            true
        }
        other => {
            error!("capcheck: {what}: expected {want}, got {other:?}");
            false
        }
    }
}

fn raw_err(what: &str, r: [u32; 4], want: KernelError) -> bool {
    let got = KernelError::from_number(r[0]);
    let clean = r[1] == 0 && r[2] == 0 && r[3] == 0;
    if got == want && clean {
        info!("capcheck: {what} -> {got} ok (r1-r3 zeroed)");
        true
    } else {
        error!(
            "capcheck: {what}: expected {want}, got {got}, results {:?}",
            &r[1..]
        );
        false
    }
}

/// Logs one 4096-byte line (the longest a `log` call takes) from the IPC
/// buffer: the console must show it whole (the QEMU test checks its end).
fn log_full_buffer() -> Result<(), KernelError> {
    const HEAD: &[u8] = b"capcheck: 4096-byte line ";
    const TAIL: &[u8] = b" end of the long line";
    let buf = &mut sys::ipc_buffer().bytes;
    buf[..HEAD.len()].copy_from_slice(HEAD);
    buf[HEAD.len()..4096 - TAIL.len()].fill(b'x');
    buf[4096 - TAIL.len()..4096].copy_from_slice(TAIL);
    sys::log_raw(0, 4096)
}

fn capcheck() -> i32 {
    let mut ok = true;
    ok &= expect_err(
        "call on empty slot 9",
        sys::call(slot(9), tag(1, 0)),
        KernelError::InvalidCapability,
    );
    ok &= expect_err(
        "recv on slot 99 (outside the table)",
        sys::recv(slot(99)),
        KernelError::InvalidCapability,
    );
    ok &= expect_err(
        "call on a Pool capability",
        sys::call(slot(1), tag(1, 0)),
        KernelError::WrongCapabilityType,
    );
    ok &= expect_err(
        "call on a receive-only endpoint",
        sys::call(slot(0), tag(1, 0)),
        KernelError::MissingRights,
    );
    ok &= expect_err(
        "send of 4097 bytes",
        sys::send_raw(slot(0), 4097),
        KernelError::MessageTooLong,
    );
    ok &= expect_err(
        "send with reserved tag bits",
        sys::send_raw(slot(0), 0x2000),
        KernelError::InvalidArgument,
    );
    ok &= expect_err(
        "call with the kernel's fault label",
        sys::call_raw(slot(0), (LABEL_FAULT as u32) << 16),
        KernelError::ReservedLabel,
    );
    ok &= raw_err(
        "syscall number 0",
        sys::raw_syscall(0, [1, 2, 3, 4, 5, 6]),
        KernelError::BadSyscall,
    );
    ok &= raw_err(
        "syscall number 99",
        sys::raw_syscall(99, [0; 6]),
        KernelError::BadSyscall,
    );
    ok &= expect_err(
        "log from an unmapped address",
        sys::log_raw(FAULT_ADDRESS, 16),
        KernelError::BadUserBuffer,
    );
    ok &= expect_err(
        "log from a kernel address",
        sys::log_raw(0x8010_0000, 16),
        KernelError::BadUserBuffer,
    );
    ok &= expect_err(
        "log wrapping the address space",
        sys::log_raw(0xffff_fff0, 64),
        KernelError::BadUserBuffer,
    );
    match log_full_buffer() {
        Ok(()) => info!("capcheck: log of 4096 bytes (one whole IPC buffer) -> Ok ok"),
        Err(e) => {
            error!("capcheck: log of 4096 bytes: {e}");
            ok = false;
        }
    }
    ok &= expect_err(
        "log of 5000 bytes",
        sys::log_raw(0, 5000),
        KernelError::BadUserBuffer,
    );
    ok &= expect_err(
        "cap_info of an empty slot",
        sys::cap_info(slot(7)),
        KernelError::InvalidCapability,
    );
    ok &= expect_err(
        "cap_info part 1 of an endpoint",
        sys::cap_info_limits(slot(0)),
        KernelError::InvalidArgument,
    );
    // Part 1 of a Pool is the board's whole RAM (the memory server's
    // "never ioremap" range): it must hold the Pool's own frames.
    ok &= match (sys::cap_info(slot(1)), dev::pool_ram(slot(1))) {
        (Ok((2, base, count)), Ok((ram, frames)))
            if ram <= base
                && u64::from(base) + u64::from(count) <= u64::from(ram) + u64::from(frames) =>
        {
            info!(
                "capcheck: cap_info part 1 of a Pool = RAM frames {ram:#x}..{:#x}, holding the pool's {base:#x}..{:#x} ok",
                u64::from(ram) + u64::from(frames),
                base + count
            );
            true
        }
        other => {
            error!("capcheck: cap_info part 1 of a Pool: {other:?}, expected the RAM range around the pool");
            false
        }
    };
    ok &= expect_err(
        "cap_info part 2",
        KernelError::check(
            sys::raw_syscall(
                Syscall::CapInfo as u32,
                [0, CAP_INFO_LIMITS + 1, 0, 0, 0, 0],
            )[0],
        ),
        KernelError::InvalidArgument,
    );
    match sys::cap_info(slot(0)) {
        Ok((1, 5, 2)) => info!("capcheck: cap_info(0) = endpoint, badge 5, rights RECEIVE ok"),
        other => {
            error!("capcheck: cap_info(0) = {other:?}");
            ok = false;
        }
    }
    if ok {
        info!("capcheck: all refusals as documented");
        0
    } else {
        1
    }
}

// ---------------------------------------------------------------------------
// mapcheck: map_pages / unmap_pages / flush_tlb and their refusals.

const VSPACE: CapSlot = CapSlot(0);
const POOL: CapSlot = CapSlot(1);
const DEVICE: CapSlot = CapSlot(2);

/// A label built on the stack (the test tasks have no heap).
fn label(args: core::fmt::Arguments<'_>) -> LineBuf {
    let mut l = LineBuf::new();
    let _ = core::fmt::Write::write_fmt(&mut l, args);
    l
}
const NOT_MEMORY: CapSlot = CapSlot(3);

fn mcheck(what: &str, r: Result<u32, KernelError>, want: Result<u32, KernelError>) -> bool {
    if r == want {
        info!("mapcheck: {what} -> {r:?} ok");
        true
    } else {
        error!("mapcheck: {what}: expected {want:?}, got {r:?}");
        false
    }
}

fn mapcheck() -> i32 {
    let Ok((2, base, count)) = sys::cap_info(POOL) else {
        error!("mapcheck: slot 1 is not a Pool capability");
        return 1;
    };
    // The device the manifest granted (the board layer resolved its
    // address: none is built in here).
    let device = match dev::device(DEVICE) {
        Ok(d) => d,
        Err(e) => {
            error!("mapcheck: slot 2 is not a Device capability: {e}");
            return 1;
        }
    };
    info!(
        "mapcheck: device {} frames {:#x}..{:#x}",
        dev::role_name(device.role()),
        device.first_frame,
        device.first_frame + device.frames
    );
    info!("mapcheck: pool frames {:#x}..{:#x}", base, base + count);
    let run = |pfn: u32, count: u32| FrameRun { pfn, count };
    let va = VirtAddr(0x4010_0000);
    let rw = MapAttrs::NORMAL_RW;
    let mut ok = true;
    ok &= mcheck(
        "map below the window",
        sys::map_pages(VSPACE, VirtAddr(0x3000_0000), &[run(base, 1)], rw, POOL),
        Err(KernelError::OutOfWindow),
    );
    ok &= mcheck(
        "map across the window end",
        sys::map_pages(VSPACE, VirtAddr(0x4eff_f000), &[run(base, 2)], rw, POOL),
        Err(KernelError::OutOfWindow),
    );
    ok &= mcheck(
        "map at an unaligned address",
        sys::map_pages(VSPACE, VirtAddr(0x4010_0800), &[run(base, 1)], rw, POOL),
        Err(KernelError::Unaligned),
    );
    ok &= mcheck(
        "map a frame past the pool",
        sys::map_pages(VSPACE, va, &[run(base + count, 1)], rw, POOL),
        Err(KernelError::FrameNotCovered),
    );
    ok &= mcheck(
        "map a frame before the pool",
        sys::map_pages(VSPACE, va, &[run(base - 1, 1)], rw, POOL),
        Err(KernelError::FrameNotCovered),
    );
    ok &= mcheck(
        "map a run longer than the pool",
        sys::map_pages(VSPACE, va, &[run(base, count + 1)], rw, POOL),
        Err(KernelError::FrameNotCovered),
    );
    ok &= mcheck(
        "map a run of 0 frames",
        sys::map_pages(VSPACE, va, &[run(base, 0)], rw, POOL),
        Err(KernelError::InvalidArgument),
    );
    ok &= mcheck(
        "map 0 runs",
        sys::map_pages_from_buffer(VSPACE, va, 0, rw.raw(), POOL),
        Err(KernelError::InvalidArgument),
    );
    ok &= mcheck(
        "map 513 runs",
        sys::map_pages_from_buffer(VSPACE, va, 513, rw.raw(), POOL),
        Err(KernelError::InvalidArgument),
    );
    ok &= mcheck(
        "map with reserved attribute bits",
        sys::map_pages_from_buffer(VSPACE, va, 1, 0x80, POOL),
        Err(KernelError::AttributesNotAllowed),
    );
    ok &= mcheck(
        "map pool RAM as device memory",
        sys::map_pages(VSPACE, va, &[run(base, 1)], MapAttrs::DEVICE_RW, POOL),
        Err(KernelError::AttributesNotAllowed),
    );
    ok &= mcheck(
        "map device frames as normal cached memory",
        sys::map_pages(VSPACE, va, &[run(device.first_frame, 1)], rw, DEVICE),
        Err(KernelError::AttributesNotAllowed),
    );
    ok &= mcheck(
        "map pool RAM with memory type 3",
        sys::map_pages_from_buffer(VSPACE, va, 1, 3 << 1 | 1, POOL),
        Err(KernelError::AttributesNotAllowed),
    );
    ok &= mcheck(
        "map device frames with memory type 3",
        sys::map_pages_from_buffer(VSPACE, va, 1, 3 << 1, DEVICE),
        Err(KernelError::AttributesNotAllowed),
    );
    ok &= mcheck(
        "map through an endpoint as VSpace",
        sys::map_pages(NOT_MEMORY, va, &[run(base, 1)], rw, POOL),
        Err(KernelError::WrongCapabilityType),
    );
    ok &= mcheck(
        "map frames of an endpoint capability",
        sys::map_pages(VSPACE, va, &[run(base, 1)], rw, NOT_MEMORY),
        Err(KernelError::WrongCapabilityType),
    );
    ok &= mcheck(
        "map with an empty slot",
        sys::map_pages(VSPACE, va, &[run(base, 1)], rw, CapSlot(12)),
        Err(KernelError::InvalidCapability),
    );

    // A good batched map: two runs, four pages.
    ok &= mcheck(
        "map 2 runs / 4 pages",
        sys::map_pages(VSPACE, va, &[run(base, 2), run(base + 5, 2)], rw, POOL),
        Ok(4),
    );
    for i in 0..4u32 {
        let p = (va.0 + i * 4096) as *mut u32;
        // SAFETY: the kernel just mapped these four pages read-write.
        unsafe {
            p.write_volatile(0xC0DE_0000 + i);
            if p.read_volatile() != 0xC0DE_0000 + i {
                error!("mapcheck: page {i} does not hold what was written");
                ok = false;
            }
        }
    }
    ok &= icheck(
        "the third page",
        VirtAddr(va.0 + 2 * 4096),
        Ok((MapAttrs::NORMAL_RW, (base + 5) << 12)),
    );
    ok &= mcheck(
        "map over a mapped page",
        sys::map_pages(
            VSPACE,
            VirtAddr(va.0 + 3 * 4096),
            &[run(base + 8, 2)],
            rw,
            POOL,
        ),
        Err(KernelError::AlreadyMapped),
    );
    ok &= mcheck(
        "the refused map left the next page free",
        sys::map_pages(
            VSPACE,
            VirtAddr(va.0 + 4 * 4096),
            &[run(base + 8, 1)],
            rw,
            POOL,
        ),
        Ok(1),
    );
    ok &= mcheck("unmap 5 pages", sys::unmap_pages(VSPACE, va, 5), Ok(5));
    ok &= icheck("an unmapped page", va, Err(KernelError::NotMapped));
    ok &= mcheck("unmap them again", sys::unmap_pages(VSPACE, va, 5), Ok(0));
    ok &= mcheck(
        "unmap 0 pages",
        sys::unmap_pages(VSPACE, va, 0),
        Err(KernelError::InvalidArgument),
    );
    ok &= mcheck(
        "flush 5 pages",
        sys::flush_tlb(VSPACE, va, 5).map(|()| 0),
        Ok(0),
    );
    ok &= mcheck(
        "flush the whole ASID",
        sys::flush_tlb(VSPACE, VirtAddr(0), FLUSH_ALL).map(|()| 0),
        Ok(0),
    );
    ok &= mcheck(
        "flush outside the window",
        sys::flush_tlb(VSPACE, VirtAddr(0x1000), 1).map(|()| 0),
        Err(KernelError::OutOfWindow),
    );

    // Device memory: the granted device's first page.
    let name = dev::role_name(device.role());
    let dva = VirtAddr(0x4020_0000);
    ok &= mcheck(
        label(format_args!("map the {name} page as device memory")).as_str(),
        sys::map_pages(
            VSPACE,
            dva,
            &[run(device.first_frame, 1)],
            MapAttrs::DEVICE_RO,
            DEVICE,
        ),
        Ok(1),
    );
    // SAFETY: mapped read-only device memory; identification registers
    // have no read side effects.
    match unsafe { dev::identity(device.role(), dva.0 + device.info.offset()) } {
        Some(id) => info!("mapcheck: {name} identity through the window = {id:#010x}"),
        None => {
            error!("mapcheck: the {name} page through the window shows no identity");
            ok = false;
        }
    }
    ok &= icheck(
        label(format_args!("the {name} page")).as_str(),
        dva,
        Ok((MapAttrs::DEVICE_RO, device.page())),
    );
    ok &= map_attribute_checks(base, &device);
    if ok {
        info!("mapcheck: all map checks passed");
        0
    } else {
        1
    }
}

/// Checks `mapping_info(va)`: the attributes and page address, and that
/// the raw descriptor holds the memory type's TEX/C/B bits.
fn icheck(what: &str, va: VirtAddr, want: Result<(MapAttrs, u32), KernelError>) -> bool {
    let got = sys::mapping_info(va);
    let good = match (got, want) {
        (Ok((attrs, pa, raw)), Ok((wa, wpa))) => {
            let small_page = raw & 0b10 != 0;
            let (tex, cb) = if small_page {
                ((raw >> 6) & 7, (raw >> 2) & 3)
            } else {
                ((raw >> 12) & 7, (raw >> 2) & 3)
            };
            let want_bits = match wa.mem_type() {
                MemType::NormalCached => (0b001, 0b11),
                MemType::NormalUncached => (0b001, 0b00),
                MemType::Device => (0b000, 0b01),
            };
            attrs == wa && pa.0 == wpa && (tex, cb) == want_bits
        }
        (Err(e), Err(we)) => e == we,
        _ => false,
    };
    match got {
        Ok((attrs, pa, raw)) if good => info!(
            "mapcheck: mapping_info({}) = {:?} {}, pa {:#010x}, descriptor {:#010x} ok",
            what,
            attrs.mem_type(),
            if attrs.is_writable() { "rw" } else { "ro" },
            pa.0,
            raw
        ),
        Err(e) if good => info!("mapcheck: mapping_info({what}) -> {e} ok"),
        _ => error!("mapcheck: mapping_info({what}): expected {want:x?}, got {got:x?}"),
    }
    good
}

/// The memory types each frame kind allows, as `mapping_info` reports
/// them; `mapping_info` of the task's own image, stack and kernel
/// addresses; `cap_info` part 1 of a plain VSpace capability.
fn map_attribute_checks(base: u32, device: &dev::Device) -> bool {
    let run = |pfn: u32, count: u32| FrameRun { pfn, count };
    let mut ok = true;
    // ioremap_wc: device frames as Normal uncached.
    let wc = VirtAddr(0x4030_0000);
    ok &= mcheck(
        "map device frames as normal uncached (ioremap_wc)",
        sys::map_pages(
            VSPACE,
            wc,
            &[run(device.first_frame, 1)],
            MapAttrs::new(MemType::NormalUncached, false),
            DEVICE,
        ),
        Ok(1),
    );
    ok &= icheck(
        label(format_args!(
            "the write-combined {} page",
            dev::role_name(device.role())
        ))
        .as_str(),
        wc,
        Ok((MapAttrs::new(MemType::NormalUncached, false), device.page())),
    );
    // A DMA-style buffer: pool RAM as Normal uncached.
    let dma = VirtAddr(0x4040_0000);
    ok &= mcheck(
        "map pool RAM as normal uncached",
        sys::map_pages(
            VSPACE,
            dma,
            &[run(base + 10, 1)],
            MapAttrs::UNCACHED_RW,
            POOL,
        ),
        Ok(1),
    );
    ok &= icheck(
        "the uncached RAM page",
        dma,
        Ok((MapAttrs::UNCACHED_RW, (base + 10) << 12)),
    );
    let p = dma.0 as *mut u32;
    // SAFETY: the kernel just mapped this page read-write.
    let back = unsafe {
        p.write_volatile(0x00DD_BA11);
        p.read_volatile()
    };
    if back != 0x00DD_BA11 {
        error!("mapcheck: the uncached page does not hold what was written");
        ok = false;
    }
    // The task's own pages outside the window.
    let local = 0u32;
    let stack_va = VirtAddr(core::hint::black_box(&local) as *const u32 as u32 & !0xfff);
    ok &= match sys::mapping_info(stack_va) {
        Ok((a, _, _)) if a == MapAttrs::NORMAL_RW => {
            info!("mapcheck: mapping_info(own stack) = normal cached rw ok");
            true
        }
        other => {
            error!("mapcheck: mapping_info(own stack) = {other:x?}");
            false
        }
    };
    let code_va = VirtAddr(map_attribute_checks as *const () as u32 & !0xfff);
    ok &= match sys::mapping_info(code_va) {
        Ok((a, _, _)) if a == MapAttrs::NORMAL_RO => {
            info!("mapcheck: mapping_info(own code) = normal cached ro ok");
            true
        }
        other => {
            error!("mapcheck: mapping_info(own code) = {other:x?}");
            false
        }
    };
    ok &= icheck(
        "a kernel address",
        VirtAddr(0x8010_0000),
        Err(KernelError::OutOfWindow),
    );
    ok &= icheck(
        "an address never mapped",
        VirtAddr(FAULT_ADDRESS),
        Err(KernelError::NotMapped),
    );
    match sys::cap_info_limits(VSPACE) {
        Ok((0, f)) if f == ClientFlags::NONE => {
            info!("mapcheck: cap_info part 1 of a plain VSpace = window 0, no flags ok")
        }
        other => {
            error!("mapcheck: cap_info part 1 of a plain VSpace = {other:?}");
            ok = false;
        }
    }
    ok
}

// ---------------------------------------------------------------------------
// kmemcheck: the page-table quota (kmem_tables = 4 in the manifest) and
// cap_info part 1 of a client capability.

/// Its VSpace capability: a client capability for itself (quota 100 pages,
/// window 300 pages, OBSERVER).
const KM_VSPACE: CapSlot = CapSlot(0);
const KM_POOL: CapSlot = CapSlot(1);
/// Its task id (index 8 of ipc-test).
const KM_TASK_ID: u32 = 9;

fn kcheck(what: &str, r: Result<u32, KernelError>, want: Result<u32, KernelError>) -> bool {
    if r == want {
        info!("kmemcheck: {what} -> {r:?} ok");
        true
    } else {
        error!("kmemcheck: {what}: expected {want:?}, got {r:?}");
        false
    }
}

fn kmemcheck() -> i32 {
    let mut ok = true;
    match sys::cap_info(KM_VSPACE) {
        Ok((4, KM_TASK_ID, 100)) => {
            info!("kmemcheck: cap_info part 0 = VSpace of task {KM_TASK_ID}, quota 100 ok")
        }
        other => {
            error!("kmemcheck: cap_info part 0 = {other:?}");
            ok = false;
        }
    }
    match sys::cap_info_limits(KM_VSPACE) {
        Ok((300, f)) if f == ClientFlags::OBSERVER => {
            info!("kmemcheck: cap_info part 1 = window 300 pages, OBSERVER ok")
        }
        other => {
            error!("kmemcheck: cap_info part 1 = {other:?}");
            ok = false;
        }
    }
    let Ok((2, base, _)) = sys::cap_info(KM_POOL) else {
        error!("kmemcheck: slot 1 is not a Pool capability");
        return 1;
    };
    let rw = MapAttrs::NORMAL_RW;
    let mib = |i: u32| VirtAddr(0x4400_0000 + (i << 20));
    let map1 = |va: VirtAddr, frame: u32| {
        sys::map_pages(
            KM_VSPACE,
            va,
            &[FrameRun {
                pfn: base + frame,
                count: 1,
            }],
            rw,
            KM_POOL,
        )
    };
    for i in 0..4 {
        ok &= kcheck(
            "map one page in a new MiB (quota 4 tables)",
            map1(mib(i), i),
            Ok(1),
        );
    }
    ok &= kcheck(
        "map in a fifth MiB",
        map1(mib(4), 4),
        Err(KernelError::KernelQuotaExceeded),
    );
    ok &= kcheck(
        "map 2 pages across MiBs 3 and 4",
        sys::map_pages(
            KM_VSPACE,
            VirtAddr(mib(4).0 - 4096),
            &[FrameRun {
                pfn: base + 4,
                count: 2,
            }],
            rw,
            KM_POOL,
        ),
        Err(KernelError::KernelQuotaExceeded),
    );
    ok &= kcheck(
        "nothing of the refused maps is mapped",
        [mib(4), VirtAddr(mib(4).0 - 4096)]
            .iter()
            .map(|&va| sys::mapping_info(va).map(|_| 1))
            .find(|r| *r != Err(KernelError::NotMapped))
            .unwrap_or(Ok(0)),
        Ok(0),
    );
    // Unmap + flush: the emptied table goes back to the quota.
    ok &= kcheck(
        "unmap MiB 0's page",
        sys::unmap_pages(KM_VSPACE, mib(0), 1),
        Ok(1),
    );
    ok &= kcheck(
        "flush",
        sys::flush_tlb(KM_VSPACE, mib(0), 1).map(|()| 0),
        Ok(0),
    );
    ok &= kcheck(
        "map in the fifth MiB after the flush",
        map1(mib(4), 4),
        Ok(1),
    );
    ok &= kcheck("touch it", touch(mib(4), 0x5EED_0004), Ok(0));
    // Unmap without a flush: the map that needs the table reclaims it.
    ok &= kcheck(
        "unmap MiB 1's page",
        sys::unmap_pages(KM_VSPACE, mib(1), 1),
        Ok(1),
    );
    ok &= kcheck("map in a sixth MiB without a flush", map1(mib(5), 5), Ok(1));
    ok &= kcheck("touch it", touch(mib(5), 0x5EED_0005), Ok(0));
    // Emptied, then mapped into again before the flush: the table is kept.
    ok &= kcheck(
        "unmap MiB 2's page",
        sys::unmap_pages(KM_VSPACE, mib(2), 1),
        Ok(1),
    );
    let again = VirtAddr(mib(2).0 + 4096);
    ok &= kcheck("map another page in MiB 2", map1(again, 6), Ok(1));
    ok &= kcheck(
        "flush the whole ASID",
        sys::flush_tlb(KM_VSPACE, VirtAddr(0), FLUSH_ALL).map(|()| 0),
        Ok(0),
    );
    ok &= kcheck(
        "the page mapped before the flush is still mapped",
        sys::mapping_info(again).map(|(_, pa, _)| (pa.0 == (base + 6) << 12) as u32),
        Ok(1),
    );
    ok &= kcheck("touch it", touch(again, 0x5EED_0006), Ok(0));
    ok &= kcheck(
        "map in a seventh MiB (tables of MiBs 2-5 held)",
        map1(mib(6), 7),
        Err(KernelError::KernelQuotaExceeded),
    );
    if ok {
        info!("kmemcheck: all kernel-memory checks passed");
        0
    } else {
        1
    }
}

/// Writes `value` at `va` and reads it back: `Ok(0)` if it held.
fn touch(va: VirtAddr, value: u32) -> Result<u32, KernelError> {
    let p = va.0 as *mut u32;
    // SAFETY: callers pass a page the kernel just mapped read-write.
    let back = unsafe {
        p.write_volatile(value);
        p.read_volatile()
    };
    if back == value {
        Ok(0)
    } else {
        Ok(back)
    }
}

// ---------------------------------------------------------------------------
// stackhog (a 1 MiB stack, used), overflow (runs off its stack), failer.

/// One level of recursion with a 512-byte frame the compiler cannot drop;
/// returns the lowest stack address reached.
#[inline(never)]
fn descend(depth: u32) -> u32 {
    let mut frame = [0u8; 512];
    frame[0] = depth as u8;
    let frame = core::hint::black_box(&mut frame);
    let here = frame.as_ptr() as u32;
    if depth == 0 {
        here
    } else {
        let lowest = descend(depth - 1);
        core::hint::black_box(frame[0]);
        lowest.min(here)
    }
}

fn stackhog() -> i32 {
    // A local of this frame (a `let`, so on the stack, not promoted).
    let marker = 0u32;
    let top = core::hint::black_box(&marker) as *const u32 as u32;
    let lowest = descend(1650);
    let used_kib = (top - lowest) / 1024;
    if used_kib < 800 {
        error!("stackhog: only {used_kib} KiB of stack used");
        return 1;
    }
    info!("stackhog: recursed through {used_kib} KiB of its 1024 KiB stack");
    0
}

fn overflow() -> i32 {
    info!("overflow: recursing until the stack runs out");
    let lowest = descend(1_000_000);
    error!("overflow: recursed down to {lowest:#010x} without a fault");
    1
}

fn failer() -> i32 {
    info!("failer: exiting with code 3 on purpose");
    3
}

// ---------------------------------------------------------------------------
// irqtest: an SP804 dual timer (role Timer: vexpress-a9 has one, virt
// none) through Device and Irq caps; address and interrupt from the caps.

fn irqtest() -> i32 {
    const SP804_LOAD: u32 = 0x00;
    const SP804_CONTROL: u32 = 0x08;
    const SP804_INTCLR: u32 = 0x0c;
    /// The SP804's part number in its PrimeCell peripheral ID.
    const SP804_PART: u32 = 0x804;
    // Enable | interrupt enable | 32-bit | one-shot.
    const ONE_SHOT_IRQ: u32 = 0x80 | 0x20 | 0x02 | 0x01;
    let vspace = CapSlot(0);
    let Some(timer) = dev::find(DeviceRole::Timer) else {
        error!("irqtest: no Device capability with role timer");
        return 1;
    };
    let Some(irq) = dev::find_slot(CapType::Irq) else {
        error!("irqtest: no Irq capability");
        return 1;
    };
    let irq_number = match sys::cap_info(irq) {
        Ok((_, n, _)) => n,
        Err(e) => {
            error!("irqtest: cap_info(irq): {e}");
            return 1;
        }
    };
    // The Irq capability must be the timer's own line.
    if timer.irq != Some(irq_number) {
        error!(
            "irqtest: the Irq capability is line {irq_number}, the timer's is {:?}",
            timer.irq
        );
        return 1;
    }
    let va = VirtAddr(0x4030_0000);
    if sys::map_pages(
        vspace,
        va,
        &[FrameRun {
            pfn: timer.first_frame,
            count: 1,
        }],
        MapAttrs::DEVICE_RW,
        timer.slot,
    ) != Ok(1)
    {
        error!("irqtest: cannot map the SP804");
        return 1;
    }
    let regs = va.0 + timer.info.offset();
    // SAFETY: the timer's register page is mapped; ID registers have no
    // read side effects.
    match unsafe { dev::identity(timer.role(), regs) } {
        Some(pid) if pid & 0xfff == SP804_PART => {}
        other => {
            error!(
                "irqtest: the timer at {:#010x} is not an SP804 ({other:x?})",
                timer.phys()
            );
            return 1;
        }
    }
    info!(
        "irqtest: SP804 at {:#010x}, irq {irq_number} (from its capabilities)",
        timer.phys()
    );
    let reg = |off: u32| regs + off;
    if sys::irq_wait(irq) != Err(KernelError::IrqNotBound) {
        error!("irqtest: irq_wait before irq_bind was not refused");
        return 1;
    }
    info!("irqtest: irq_wait before irq_bind -> IrqNotBound ok");
    if let Err(e) = sys::irq_bind(irq) {
        error!("irqtest: irq_bind failed: {e}");
        return 1;
    }
    for round in 1..=3 {
        // SAFETY: the SP804 registers are mapped read-write device memory.
        unsafe {
            mmio::write32(reg(SP804_CONTROL), 0);
            mmio::write32(reg(SP804_LOAD), 5_000); // 5 ms at 1 MHz
            mmio::write32(reg(SP804_CONTROL), ONE_SHOT_IRQ);
        }
        if let Err(e) = sys::irq_wait(irq) {
            error!("irqtest: irq_wait failed: {e}");
            return 1;
        }
        // SAFETY: as above; writing INTCLR deasserts the interrupt.
        unsafe { mmio::write32(reg(SP804_INTCLR), 1) };
        if let Err(e) = sys::irq_ack(irq) {
            error!("irqtest: irq_ack failed: {e}");
            return 1;
        }
        info!("irqtest: timer interrupt {round} received and acknowledged");
    }
    0
}

// ---------------------------------------------------------------------------
// faulter, spinner, ticker.

fn faulter() -> i32 {
    info!("faulter: reading unmapped window address {FAULT_ADDRESS:#010x}");
    // SAFETY: deliberately faults: the kernel stops this task and reports
    // to the supervisor; the read never completes.
    let v = unsafe { (FAULT_ADDRESS as *const u32).read_volatile() };
    error!("faulter: read {v:#x}: the fault did not happen");
    1
}

fn spinner() -> i32 {
    info!("spinner: spinning forever without yielding");
    loop {
        core::hint::spin_loop();
    }
}

fn ticker() -> i32 {
    // Started after the spinner at the same priority: it only runs because
    // the tick preempts the spinner.
    let (_, hz) = sys::read_counter();
    for round in 1..=3 {
        let (start, _) = sys::read_counter();
        while sys::read_counter().0 - start < hz as u64 / 50 {
            core::hint::spin_loop();
        }
        info!("ticker: round {round} (running beside the spinner)");
    }
    0
}

// ---------------------------------------------------------------------------
// Benchmark: null IPC round trip and map_pages cost (meaningful under
// -icount shift=0, where one instruction takes 1 ns: a counter tick is
// 10^9 / frequency instructions, the frequency `read_counter` reports).

fn bench_server() -> i32 {
    if sys::recv(slot(0)).is_err() {
        return 1;
    }
    loop {
        if sys::reply_recv(slot(0), MessageTag::default()).is_err() {
            return 1;
        }
    }
}

fn ticks() -> u64 {
    sys::read_counter().0
}

fn bench_client() -> i32 {
    const WARM: u32 = 100;
    const ROUNDS: u32 = 5000;
    let ep = slot(0);
    let vspace = slot(1);
    let pool = slot(2);
    for _ in 0..WARM {
        let _ = sys::call(ep, MessageTag::default());
    }
    // Cost of the measurement itself (two read_counter calls).
    let mut overhead = 0;
    for _ in 0..100 {
        let a = ticks();
        let b = ticks();
        overhead += b - a;
    }
    let overhead_per_pair = overhead as f32 / 100.0;
    let (_, hz) = sys::read_counter();
    // Instructions per counter tick under -icount shift=0.
    let insns_per_tick = 1e9 / hz.max(1) as f32;
    let t0 = ticks();
    for _ in 0..ROUNDS {
        if sys::call(ep, MessageTag::default()).is_err() {
            error!("bench: call failed");
            return 1;
        }
    }
    let t1 = ticks();
    let per = (t1 - t0) as f32 / ROUNDS as f32;
    info!(
        "bench: null call+reply_recv round trip: {:.1} ticks = {} instructions (icount), {} rounds",
        per,
        (per * insns_per_tick) as u32,
        ROUNDS
    );
    let Ok((2, base, _)) = sys::cap_info(pool) else {
        error!("bench: slot 2 is not a Pool");
        return 1;
    };
    let va = VirtAddr(0x4100_0000);
    for pages in [1u32, 16, 64] {
        const REPS: u32 = 200;
        let mut map_ticks = 0u64;
        let mut unmap_ticks = 0u64;
        for _ in 0..REPS {
            let a = ticks();
            if sys::map_pages(
                vspace,
                va,
                &[FrameRun {
                    pfn: base,
                    count: pages,
                }],
                MapAttrs::NORMAL_RW,
                pool,
            ) != Ok(pages)
            {
                error!("bench: map_pages({pages}) failed");
                return 1;
            }
            let b = ticks();
            let _ = sys::unmap_pages(vspace, va, pages);
            let _ = sys::flush_tlb(vspace, va, pages);
            let c = ticks();
            map_ticks += b - a;
            unmap_ticks += c - b;
        }
        let map_per_call = map_ticks as f32 / REPS as f32 - overhead_per_pair;
        let unmap_per_call = unmap_ticks as f32 / REPS as f32 - overhead_per_pair;
        info!(
            "bench: map_pages {:2} pages: {} instructions per call, {} per page; unmap+flush {} per page",
            pages,
            (map_per_call * insns_per_tick) as u32,
            (map_per_call * insns_per_tick / pages as f32) as u32,
            (unmap_per_call * insns_per_tick / pages as f32) as u32
        );
    }
    info!("bench: done");
    0
}
