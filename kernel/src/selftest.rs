//! Deliberate faults, selected with `selftest=` on the command line, that
//! prove the fault path reports what happened (the QEMU tests expect the
//! exact address and a non-zero exit).

use core::arch::asm;

use kerncore::bootargs::SelfTest;
use log::info;

/// The address the data-abort test reads: low memory, which TTBR0's
/// all-fault table leaves unmapped.
pub const DABORT_ADDRESS: usize = 0x0000_1234;
/// The address the prefetch-abort test jumps to.
pub const PABORT_ADDRESS: usize = 0x0000_2000;

/// Runs `test`; none of them return.
pub fn run(test: SelfTest) {
    info!("selftest: {test:?}");
    match test {
        SelfTest::DataAbort => {
            // SAFETY: deliberately unsound: the read faults, and the fault
            // handler ends the run before anything observes the result.
            let v = unsafe { core::ptr::read_volatile(DABORT_ADDRESS as *const u32) };
            info!("selftest: read {v:#x}: the data abort did not happen");
        }
        SelfTest::Undefined => {
            // SAFETY: `udf` traps; the handler ends the run.
            unsafe { asm!("udf #0x42", options(nostack)) };
        }
        SelfTest::PrefetchAbort => {
            // SAFETY: the branch target is unmapped; the prefetch abort ends
            // the run before any instruction there could execute.
            unsafe { asm!("blx {0}", in(reg) PABORT_ADDRESS, options(nostack)) };
        }
        SelfTest::Panic => panic!("selftest panic"),
    }
}
