//! Exception vectors and the trap frame.
//!
//! Every exception, whatever mode it arrives in, is moved at once onto the
//! SVC stack (`srsdb` stores the return PC and SPSR there, `cps` switches)
//! and saved as one [`TrapFrame`]; one Rust function handles all kinds. The
//! IRQ/ABT/UND stacks are therefore never used for more than nothing, and a
//! user-mode trap saves exactly the user context a scheduler needs.
//!
//! ```text
//!   SVC stack after entry (low → high):
//!   sp ─▶ sp_usr lr_usr r0 … r12 lr_svc | pc cpsr   ◀─ written by srsdb
//! ```

use core::arch::global_asm;

/// The registers saved on every exception.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// User-mode SP (banked).
    pub sp_usr: u32,
    /// User-mode LR (banked).
    pub lr_usr: u32,
    /// r0–r12 of the interrupted context.
    pub r: [u32; 13],
    /// SVC-mode LR (live if the exception interrupted the kernel).
    pub lr_svc: u32,
    /// Where execution resumes (already adjusted to the faulting
    /// instruction for aborts, the next one for SVC and undefined).
    pub pc: u32,
    /// The interrupted CPSR (SPSR of the exception mode).
    pub cpsr: u32,
}

/// Size of the frame; the assembly relies on it.
pub const TRAP_FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(TRAP_FRAME_SIZE == 18 * 4);

/// Which vector was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TrapKind {
    /// Reset vector taken while running (a jump to VBAR + 0).
    Reset = 0,
    /// Undefined instruction.
    Undefined = 1,
    /// Supervisor call.
    Svc = 2,
    /// Prefetch abort.
    PrefetchAbort = 3,
    /// Data abort.
    DataAbort = 4,
    /// IRQ.
    Irq = 6,
    /// FIQ.
    Fiq = 7,
}

impl TrapKind {
    #[inline(always)]
    fn from_raw(v: u32) -> Self {
        match v {
            1 => Self::Undefined,
            2 => Self::Svc,
            3 => Self::PrefetchAbort,
            4 => Self::DataAbort,
            6 => Self::Irq,
            7 => Self::Fiq,
            _ => Self::Reset,
        }
    }
}

#[no_mangle]
extern "C" fn trap_entry(frame: &mut TrapFrame, kind: u32) {
    crate::trap::handle(frame, TrapKind::from_raw(kind));
}

/// A trap from user mode: the registers are in the current task's context.
/// Returns the context to resume.
#[no_mangle]
extern "C" fn user_trap_entry(_ctx: *mut TrapFrame, kind: u32) -> *const TrapFrame {
    crate::sched::user_trap(TrapKind::from_raw(kind))
}

// Kernel-mode traps save a TrapFrame on the SVC stack; r4 keeps the
// unaligned frame pointer across the call (AAPCS needs an 8-byte-aligned
// stack at a call, and an interrupted kernel function may have left SP only
// 4-byte aligned).
//
// User-mode traps save the registers straight into the running task's
// context, whose address TPIDRPRW holds, and resume whichever context
// `user_trap_entry` returns: a task switch costs no copy of registers, and
// the SVC stack is empty whenever user code runs.
global_asm!(
    r#"
    .macro TRAP_VECTOR name, lr_adjust, kind
\name:
    .if \lr_adjust
    sub     lr, lr, #\lr_adjust
    .endif
    srsdb   sp!, #0x13
    cps     #0x13
    push    {{r0}}
    ldr     r0, [sp, #8]
    and     r0, r0, #0x1f
    cmp     r0, #0x10
    beq     1f
    pop     {{r0}}
    push    {{r0-r12, lr}}
    sub     sp, sp, #8
    stmia   sp, {{sp, lr}}^
    mov     r0, sp
    mov     r1, #\kind
    mov     r4, sp
    bic     sp, sp, #7
    bl      trap_entry
    mov     sp, r4
    b       trap_return
1:  mrc     p15, 0, r0, c13, c0, 4
    stmia   r0, {{sp, lr}}^
    add     r0, r0, #12
    stmia   r0, {{r1-r12}}
    sub     r0, r0, #12
    pop     {{r1, r2, r3}}
    str     r1, [r0, #8]
    str     r2, [r0, #64]
    str     r3, [r0, #68]
    mov     r1, #\kind
    bl      user_trap_entry
    b       user_return
    .endm

    .section .text.vectors, "ax"
    .arm
    .balign 32
    .global exception_vectors
exception_vectors:
    b       vec_reset
    b       vec_undef
    b       vec_svc
    b       vec_pabt
    b       vec_dabt
    b       .
    b       vec_irq
    b       vec_fiq

    TRAP_VECTOR vec_reset, 0, 0
    TRAP_VECTOR vec_undef, 0, 1
    TRAP_VECTOR vec_svc,   0, 2
    TRAP_VECTOR vec_pabt,  4, 3
    TRAP_VECTOR vec_dabt,  8, 4
    TRAP_VECTOR vec_irq,   4, 6
    TRAP_VECTOR vec_fiq,   4, 7

@ user_return(ctx): resume user mode from a task context (r0), with the SVC
@ stack empty.
    .global user_return
user_return:
    ldr     r2, [r0, #64]
    ldr     r3, [r0, #68]
    push    {{r2, r3}}
    ldmia   r0, {{sp, lr}}^
    nop
    add     r0, r0, #8
    ldmia   r0, {{r0-r12}}
    rfeia   sp!

    .global trap_return
trap_return:
    ldmia   sp, {{sp, lr}}^
    add     sp, sp, #8
    pop     {{r0-r12, lr}}
    rfeia   sp!

@ enter_user(ctx, stack_top): first entry to user mode.
    .global enter_user
enter_user:
    mov     sp, r1
    b       user_return

@ probe_read_word(addr) -> (value, faulted): a load whose data abort the
@ trap handler turns into `faulted = 1` (see trap::fixup). Used to find
@ where RAM ends.
    .global probe_read_word
    .global probe_read_insn
probe_read_word:
    mov     r1, #0
probe_read_insn:
    ldr     r0, [r0]
    bx      lr
"#,
);

extern "C" {
    /// Resets the SVC stack to `stack_top` and enters user mode with the
    /// context at `ctx`.
    ///
    /// # Safety
    /// `ctx` must be the running task's context (also in TPIDRPRW) holding
    /// a user-mode CPSR, with its address space live in TTBR0; nothing on
    /// the stack below `stack_top` may still be needed.
    pub fn enter_user(ctx: *const TrapFrame, stack_top: u32) -> !;
    /// The faulting load inside `probe_read_word`.
    pub fn probe_read_insn();
    fn probe_read_word(addr: usize) -> u64;
}

/// Reads a word that may not exist. Returns `None` if the access aborts.
///
/// # Safety
/// `addr` must be mapped (a translation fault would be fixed up too, but a
/// read with side effects, e.g. of a device FIFO, is the caller's problem).
pub unsafe fn probe_read(addr: usize) -> Option<u32> {
    // SAFETY: the routine only loads from `addr`; a data abort on that load
    // is turned into a return value by the trap handler.
    let r = unsafe { probe_read_word(addr) };
    if r >> 32 != 0 {
        None
    } else {
        Some(r as u32)
    }
}
