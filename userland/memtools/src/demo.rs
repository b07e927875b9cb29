//! The default system's demo client: allocations at work.

use alloc::boxed::Box;
use alloc::vec::Vec;

use abi::{DeviceRole, MemType};
use log::{error, info};
use userlib::{dev, mem, mmio};

use crate::device::{self, PL031_PART, RTCDR};
use crate::MEMSERVER;

fn fail(what: &str, e: impl core::fmt::Debug) -> i32 {
    error!("demo: {what}: {e:?}");
    1
}

/// Runs the demo.
#[inline(never)]
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

    // ioremap of the device this client was granted: the real-time clock
    // (a PL031 on both QEMU boards). Its address comes from this task's
    // own Device capability, which the kernel's board layer filled in.
    let Some(rtc) = dev::find(DeviceRole::Rtc) else {
        error!("demo: no Device capability with role rtc");
        return 1;
    };
    let io = match client.ioremap(
        abi::PhysAddr(rtc.phys()),
        rtc.size() - rtc.info.offset(),
        MemType::Device,
    ) {
        Ok(m) => m,
        Err(e) => return fail("ioremap(rtc)", e),
    };
    let regs = io.addr().0;
    // SAFETY: ioremap mapped the RTC's register page as device memory; the
    // identification registers have no read side effects.
    let rtc_ok = match unsafe { device::identity(rtc.role(), regs) } {
        Some(pid) if pid & 0xfff == PL031_PART => true,
        other => {
            error!(
                "demo: the rtc at {:#010x} is not a PL031 (peripheral ID {other:x?})",
                rtc.phys()
            );
            false
        }
    };
    // SAFETY: as above; reading the data register has no side effects.
    let seconds = unsafe { mmio::read32(regs + RTCDR) };
    info!(
        "demo: ioremap rtc (pl031) at {:#010x} -> {:#010x}: RTCDR = {} (seconds since 1970)",
        rtc.phys(),
        regs,
        seconds
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
    if good && all_zero && rtc_ok && sum == 1_249_975_000 {
        0
    } else {
        1
    }
}
