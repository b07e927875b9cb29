//! Small checks of issue 10: mapping attributes read back from the kernel,
//! the run's exit status, task stacks and long log lines.

use core::fmt::Write;

use abi::{MemType, PhysAddr, VirtAddr, PAGE_SIZE};
use log::{error, info};
use memclient::{ClientError, ErrorCode};
use userlib::{mem, sys, LineBuf};

use crate::MEMSERVER;

/// One mapping whose installed type must be `want`.
fn check_type(what: &str, addr: VirtAddr, want: MemType) -> bool {
    match sys::mapping_info(addr) {
        Ok((attrs, phys, desc)) if attrs.mem_type() == want => {
            info!(
                "dma-attrs: {what} at {:#010x} -> {:?} (phys {:#010x}, descriptor {desc:#010x}) ok",
                addr.0,
                attrs.mem_type(),
                phys.0
            );
            true
        }
        other => {
            error!(
                "dma-attrs: {what} at {:#010x} -> {other:?}, expected {want:?}",
                addr.0
            );
            false
        }
    }
}

/// Allocates a DMA buffer, a vmalloc area and device mappings and reads
/// back the descriptors the kernel installed for them.
pub fn dma_attrs() -> i32 {
    let client = mem::client(MEMSERVER);
    let Some(granted) = crate::granted_device("dma-attrs") else {
        return 1;
    };
    let device = PhysAddr(granted.page());
    let mut good = true;
    let dma = match client.dma_alloc(4) {
        Ok(d) => d,
        Err(e) => {
            error!("dma-attrs: dma_alloc(4): {e:?}");
            return 1;
        }
    };
    for page in 0..4 {
        let va = VirtAddr(dma.addr().0 + page * PAGE_SIZE);
        good &= check_type("dma buffer", va, MemType::NormalUncached);
    }
    // The physical address the kernel mapped is the one the server gave.
    match sys::mapping_info(dma.addr()) {
        Ok((_, phys, _)) if phys == dma.phys() => {}
        other => {
            error!(
                "dma-attrs: dma buffer phys {:#010x}, kernel says {other:?}",
                dma.phys().0
            );
            good = false;
        }
    }
    let area = match client.vmalloc(2 * PAGE_SIZE) {
        Ok(a) => a,
        Err(e) => {
            error!("dma-attrs: vmalloc: {e:?}");
            return 1;
        }
    };
    good &= check_type("vmalloc area", area.addr(), MemType::NormalCached);
    match client.ioremap(device, PAGE_SIZE, MemType::Device) {
        Ok(io) => good &= check_type("ioremap", io.addr(), MemType::Device),
        Err(e) => {
            error!("dma-attrs: ioremap(Device): {e:?}");
            good = false;
        }
    }
    match client.ioremap(device, PAGE_SIZE, MemType::NormalUncached) {
        Ok(io) => good &= check_type("ioremap_wc", io.addr(), MemType::NormalUncached),
        Err(e) => {
            error!("dma-attrs: ioremap(NormalUncached): {e:?}");
            good = false;
        }
    }
    match client.ioremap(device, PAGE_SIZE, MemType::NormalCached) {
        Err(ClientError::Server(ErrorCode::PermissionDenied)) => {
            info!("dma-attrs: ioremap(NormalCached) of a device -> PermissionDenied ok");
        }
        other => {
            error!(
                "dma-attrs: ioremap(NormalCached) of a device -> {:?}, expected PermissionDenied",
                other.map(|m| m.into_raw())
            );
            good = false;
        }
    }
    // A page nobody mapped: the guard page after the vmalloc area.
    match sys::mapping_info(VirtAddr(area.addr().0 + area.size())) {
        Err(abi::KernelError::NotMapped) => {
            info!("dma-attrs: guard page -> NotMapped ok");
        }
        other => {
            error!("dma-attrs: guard page -> {other:?}, expected NotMapped");
            good = false;
        }
    }
    if good {
        info!("dma-attrs: DMA uncached, vmalloc cached, ioremap device: all as expected");
        0
    } else {
        1
    }
}

/// Touches an unmapped window address (the manifest does not expect it:
/// the run must fail).
pub fn fault_client() -> i32 {
    info!("exit-status: touching an unmapped window address");
    let p = 0x4e00_0000usize as *const u32;
    // SAFETY: not safe for the task on purpose: nothing is mapped there, so
    // the load faults and the kernel stops the task (what the test checks).
    // No Rust object lives at that address.
    let v = unsafe { p.read_volatile() };
    error!("exit-status: the load returned {v:#x} instead of faulting");
    0
}

/// Returns a non-zero status (the manifest does not expect it).
pub fn exit_nonzero() -> i32 {
    info!("exit-status: returning 7");
    7
}

/// Allocates two areas at one call site ([`keep_page`]) and one at
/// another, keeps them (`into_raw`) and exits: the server's leak report
/// lists two caller groups, each caller a return address in these
/// functions.
#[inline(never)]
pub fn leaker() -> i32 {
    let client = mem::client(MEMSERVER);
    let mut held = u32::from(keep_page(&client)) + u32::from(keep_page(&client));
    match client.vzalloc(2 * PAGE_SIZE) {
        Ok(area) => {
            let (addr, _) = area.into_raw();
            info!("leaker: vzalloc(8 KiB) -> {:#010x}, kept", addr.0);
            held += 1;
        }
        Err(e) => error!("leaker: vzalloc(8 KiB) failed: {e}"),
    }
    info!("leaker: exiting holding {held} areas");
    if held == 3 {
        0
    } else {
        1
    }
}

/// One page from one call site, kept: whether it was allocated.
#[inline(never)]
fn keep_page(client: &mem::Client) -> bool {
    match client.vmalloc(PAGE_SIZE) {
        Ok(area) => {
            let (addr, _) = area.into_raw();
            info!("leaker: vmalloc(4 KiB) -> {:#010x}, kept", addr.0);
            true
        }
        Err(e) => {
            error!("leaker: vmalloc(4 KiB) failed: {e}");
            false
        }
    }
}

/// Bytes of stack one recursion level uses at least.
const FRAME_BYTES: usize = 1024;

/// Recurses `depth` levels, each with a 1 KiB frame the optimiser cannot
/// remove; returns a checksum of every frame.
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; FRAME_BYTES];
    frame[0] = depth as u8;
    frame[FRAME_BYTES - 1] = (depth >> 8) as u8;
    let frame = core::hint::black_box(&mut frame);
    let below = if depth == 0 {
        0
    } else {
        recurse(core::hint::black_box(depth - 1))
    };
    below
        .wrapping_mul(31)
        .wrapping_add(u32::from(frame[0]) + u32::from(frame[FRAME_BYTES - 1]))
}

/// The expected checksum of `recurse(depth)`, computed without recursion.
fn expected(depth: u32) -> u32 {
    let mut sum = 0u32;
    for d in 0..=depth {
        sum = sum
            .wrapping_mul(31)
            .wrapping_add(u32::from(d as u8) + u32::from((d >> 8) as u8));
    }
    sum
}

/// The lowest stack address reached so far is not observable directly;
/// this reads the stack pointer.
fn stack_pointer() -> u32 {
    let sp: u32;
    // SAFETY: reads the stack pointer into a register; no memory access.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

/// Levels the deep-stack task recurses (at least 1 KiB each: > 768 KiB).
const DEEP_LEVELS: u32 = 768;

/// Runs a recursion deeper than 512 KiB of stack (its manifest entry gives
/// it 1 MiB), then prints a line longer than one console line.
pub fn deep_stack() -> i32 {
    let top = stack_pointer();
    let got = recurse(DEEP_LEVELS);
    let want = expected(DEEP_LEVELS);
    info!(
        "stacks: recursion of {DEEP_LEVELS} levels of {FRAME_BYTES} bytes (over {} KiB of stack below {top:#010x}) -> {got:#010x}, expected {want:#010x}",
        DEEP_LEVELS as usize * FRAME_BYTES / 1024
    );
    long_line();
    i32::from(got != want)
}

/// Recurses without bound on the default 64 KiB stack: the kernel must
/// report a stack overflow naming the task.
pub fn stack_overflow() -> i32 {
    info!("stacks: recursing without bound on the default stack");
    let got = recurse(core::hint::black_box(u32::MAX));
    error!("stacks: the recursion returned {got:#x}");
    0
}

/// A 600-character line: it must reach the console whole, over several
/// lines with continuation marks.
fn long_line() {
    let mut line = LineBuf::new();
    let _ = write!(line, "stacks: long line:");
    for i in 0..60 {
        let _ = write!(line, " w{i:03}-xxxx");
    }
    let _ = write!(line, " end");
    let pieces = line.pieces_sent() + 1;
    line.log();
    info!("stacks: long line sent in {pieces} pieces");
}
