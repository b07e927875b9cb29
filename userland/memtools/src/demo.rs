//! The default system's demo client: allocations at work.

use alloc::boxed::Box;
use alloc::vec::Vec;

use abi::MemType;
use log::{error, info};
use userlib::mem;

use crate::MEMSERVER;

/// Sysregs (granted to this client in the manifest): SYS_ID at offset 0.
const SYSREGS: u32 = 0x1000_0000;

fn fail(what: &str, e: impl core::fmt::Debug) -> i32 {
    error!("demo: {what}: {e:?}");
    1
}

/// Runs the demo.
pub fn run() -> i32 {
    let client = mem::client(MEMSERVER);
    if let Err(e) = client.ping(0x1234) {
        return fail("ping", e);
    }
    info!("demo: memory server answers");

    // vmalloc: 64 KiB, every page written and read back.
    let area = match client.vmalloc(64 * 1024) {
        Ok(a) => a,
        Err(e) => return fail("vmalloc(64 KiB)", e),
    };
    let base = area.addr().0 as usize as *mut u32;
    let words = area.size() as usize / 4;
    for i in 0..words {
        // SAFETY: the server mapped `size` bytes read-write at `addr` for
        // this task; `area` keeps them mapped while we use them.
        unsafe { base.add(i).write_volatile(i as u32 ^ 0xa5a5_a5a5) };
    }
    let good = (0..words).all(|i| {
        // SAFETY: as above.
        unsafe { base.add(i).read_volatile() == i as u32 ^ 0xa5a5_a5a5 }
    });
    info!(
        "demo: vmalloc(64 KiB) -> {:#010x}, {} bytes written and verified: {}",
        area.addr().0,
        area.size(),
        if good { "ok" } else { "MISMATCH" }
    );

    // vzalloc: fresh pages read as zero.
    let zeroed = match client.vzalloc(16 * 1024) {
        Ok(a) => a,
        Err(e) => return fail("vzalloc(16 KiB)", e),
    };
    let zp = zeroed.addr().0 as usize as *const u32;
    // SAFETY: mapped read-write for this task while `zeroed` lives.
    let all_zero =
        (0..zeroed.size() as usize / 4).all(|i| unsafe { zp.add(i).read_volatile() } == 0);
    info!(
        "demo: vzalloc(16 KiB) -> {:#010x}, all zero: {}",
        zeroed.addr().0,
        all_zero
    );

    // The heap grows through vmalloc.
    let v: Vec<u32> = (0..50_000).collect();
    let sum: u64 = v.iter().map(|&x| x as u64).sum();
    let b = Box::new([7u8; 10_000]);
    info!(
        "demo: heap Vec of {} u32 (sum {}), Box of {} bytes; heap grew by {} KiB",
        v.len(),
        sum,
        b.len(),
        crate::HEAP.grown() / 1024
    );

    // ioremap of the device this client was granted.
    let io = match client.ioremap(abi::PhysAddr(SYSREGS), 4096, MemType::Device) {
        Ok(m) => m,
        Err(e) => return fail("ioremap(sysregs)", e),
    };
    // SAFETY: ioremap mapped the sysregs page as device memory; SYS_ID has
    // no read side effects.
    let id = unsafe { (io.addr().0 as usize as *const u32).read_volatile() };
    info!(
        "demo: ioremap(sysregs) -> {:#010x}: SYS_ID = {:#010x}",
        io.addr().0,
        id
    );

    if let Err(e) = crate::info::print_all("demo") {
        return fail("vmallocinfo", e);
    }
    if let Err(e) = client.vfree(area) {
        return fail("vfree", e);
    }
    drop(zeroed);
    drop(io);
    info!("demo: freed; exiting (the server reclaims the heap)");
    if good && all_zero && sum == 1_249_975_000 {
        0
    } else {
        1
    }
}
