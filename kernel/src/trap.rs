//! What the kernel does with each exception.
//!
//! Kernel-mode faults are fatal: a register dump, then the run ends with
//! [`ExitStatus::KernelFault`]. Two kernel-mode traps are expected and
//! handled: the RAM probe's external abort (fixed up to a return value) and
//! a semihosting `svc` when no debugger listens (answered "unavailable").

use kerncore::fault::{DataFaultStatus, FaultKind};
use kerncore::psr::{Mode, PsrDisplay, THUMB_BIT};

use crate::arch::cp15;
use crate::arch::trap::{probe_read_insn, TrapFrame, TrapKind};
use crate::semihosting::{self, ExitStatus};
use crate::{kprint, mm, sched};

/// Entry from the vectors with the saved context.
pub fn handle(frame: &mut TrapFrame, kind: TrapKind) {
    // User-mode traps take the other path (`sched::user_trap`).
    let from_user = Mode::from_psr(frame.cpsr) == Some(Mode::User);
    match kind {
        TrapKind::Irq => sched::kernel_irq(),
        TrapKind::DataAbort if !from_user && frame.pc == probe_read_insn as *const () as u32 => {
            // The RAM probe: report "no memory here" and skip the load.
            frame.r[0] = 0;
            frame.r[1] = 1;
            frame.pc += 4;
        }
        TrapKind::Svc if !from_user && is_semihosting_svc(frame.pc.wrapping_sub(4)) => {
            // Semihosting is off: the call reached us. Say "unavailable"
            // and make no more calls.
            frame.r[0] = u32::MAX;
            semihosting::disable();
        }
        _ => fatal(frame, kind),
    }
}

/// Whether the instruction at `addr` is `svc 0x123456` (ARM state).
fn is_semihosting_svc(addr: u32) -> bool {
    let l = mm::image_layout();
    if addr < l.text.0 || addr >= l.text.1 || !addr.is_multiple_of(4) {
        return false;
    }
    // SAFETY: `addr` is a word-aligned address inside the kernel's text,
    // which is mapped readable for the kernel for its whole lifetime.
    let insn = unsafe { core::ptr::read_volatile(addr as *const u32) };
    insn == 0xef00_0000 | semihosting::SVC_IMMEDIATE
}

/// The address of the instruction that trapped.
fn faulting_pc(frame: &TrapFrame, kind: TrapKind) -> u32 {
    match kind {
        // Undefined/SVC: the saved PC is the next instruction.
        TrapKind::Undefined | TrapKind::Svc => frame
            .pc
            .wrapping_sub(if frame.cpsr & THUMB_BIT != 0 { 2 } else { 4 }),
        _ => frame.pc,
    }
}

fn kind_name(kind: TrapKind) -> &'static str {
    match kind {
        TrapKind::Reset => "reset vector",
        TrapKind::Undefined => "undefined instruction",
        TrapKind::Svc => "unexpected svc",
        TrapKind::PrefetchAbort => "prefetch abort",
        TrapKind::DataAbort => "data abort",
        TrapKind::Irq => "irq",
        TrapKind::Fiq => "fiq",
    }
}

/// Dumps the context and ends the run.
pub fn fatal(frame: &TrapFrame, kind: TrapKind) -> ! {
    let mode = Mode::from_psr(frame.cpsr).map_or("???", Mode::name);
    let pc = faulting_pc(frame, kind);
    kprint!(
        "\n*** KERNEL FAULT: {} in {} mode ***\n",
        kind_name(kind),
        mode
    );
    kprint!(
        "  pc   {:#010x}  cpsr {:#010x} ({})\n",
        pc,
        frame.cpsr,
        PsrDisplay(frame.cpsr)
    );
    match kind {
        TrapKind::DataAbort => {
            let dfsr = cp15::Dfsr::read();
            let status = DataFaultStatus::from_dfsr(dfsr);
            kprint!(
                "  fault: {} at address {:#010x} (DFSR {:#010x}, DFAR {:#010x})\n",
                status,
                cp15::Dfar::read(),
                dfsr,
                cp15::Dfar::read()
            );
        }
        TrapKind::PrefetchAbort => {
            let ifsr = cp15::Ifsr::read();
            kprint!(
                "  fault: {} fetching address {:#010x} (IFSR {:#010x}, IFAR {:#010x})\n",
                FaultKind::from_fsr(ifsr),
                cp15::Ifar::read(),
                ifsr,
                cp15::Ifar::read()
            );
        }
        TrapKind::Undefined
            if frame.cpsr & THUMB_BIT == 0
                && mm::image_layout().text.0 <= pc
                && pc < mm::image_layout().text.1 =>
        {
            // SAFETY: `pc` is word aligned (ARM state) and inside the
            // kernel's text, mapped readable.
            let insn = unsafe { core::ptr::read_volatile(pc as *const u32) };
            kprint!("  instruction {:#010x}\n", insn);
        }
        _ => {}
    }
    for row in 0..4 {
        kprint!(" ");
        for col in 0..4 {
            let i = row * 4 + col;
            if i < 13 {
                kprint!(" r{:<2}  {:#010x}", i, frame.r[i]);
            }
        }
        kprint!("\n");
    }
    // For a kernel-mode trap the interrupted SP is just above the frame.
    let sp_svc = frame as *const TrapFrame as u32 + core::mem::size_of::<TrapFrame>() as u32;
    kprint!(
        "  sp_svc {:#010x}  lr_svc {:#010x}  sp_usr {:#010x}  lr_usr {:#010x}\n",
        sp_svc,
        frame.lr_svc,
        frame.sp_usr,
        frame.lr_usr
    );
    kprint!(
        "  cpu {}  ttbr0 {:#010x}  ttbr1 {:#010x}  sctlr {:#010x}\n",
        cp15::cpu_id(),
        cp15::Ttbr0::read(),
        cp15::Ttbr1::read(),
        cp15::Sctlr::read()
    );
    kprint!(
        "*** halting: exit status {} ***\n",
        ExitStatus::KernelFault as u8
    );
    crate::finish(ExitStatus::KernelFault)
}
