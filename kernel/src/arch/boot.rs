//! The first instructions: from the state the board leaves the CPU in
//! (Secure SVC on vexpress-a9, Non-secure SVC on `virt` and under KVM, HYP
//! on `virt,virtualization=on`; MMU and caches off) to Rust in the kernel
//! half.
//!
//! ```text
//!  _start (physical, .text.boot)      r2 = DTB address or 0: kept in r9,
//!                                     the entry CPSR in r10
//!   ├─ in HYP: CNTHCTL lets PL1 use the counters, CNTVOFF = 0, then
//!   │    eret to SVC with A, I, F masked (ELR_hyp/SPSR_hyp; Linux's
//!   │    safe_svcmode_maskall: `cps` cannot leave HYP)
//!   ├─ CPU != 0 ─▶ park: WFE until `SECONDARY_ENTRY` holds an address
//!   └─ CPU 0: ACTLR.SMP only if clear (a write KVM ignores, and which
//!        Non-secure state may not make), invalidate I-cache/BTB/TLB,
//!        L1 D-cache by set/way only where the board allows it (not on
//!        virt: KVM traps set/way)
//!        build BOOT_L1 (1 MiB sections), then invalidate it by MVA:
//!          identity  RAM base..+16 MiB        (so the MMU-on step survives)
//!          high      RAM base + board offset ─▶ RAM base, 1 GiB (direct map)
//!        TTBCR = 0, TTBR0 = BOOT_L1, DACR = client, SCTLR |= M C Z I
//!        ldr pc, =boot_high           (now running in the kernel half)
//!  boot_high: VBAR, per-mode stacks for CPU 0, clear .bss,
//!             kmain(r2, entry CPSR)
//! ```
//! The device windows are added to BOOT_L1 by `mm::map_boot_windows` once
//! the board knows them (on `virt`, from the device tree). `mm::init`
//! later replaces BOOT_L1 by the real kernel table (TTBR1 with
//! `TTBCR.N = 1`) and drops the identity map.

use core::arch::global_asm;
use core::sync::atomic::AtomicU32;

use kerncore::mmu::{Attributes, L1Entry, L1_ENTRIES};

use crate::board;
use abi::PhysAddr;

/// Secondary CPUs wait in `_start` until this holds the physical address to
/// jump to (written by the SMP bring-up, followed by `dsb; sev`).
#[no_mangle]
pub static SECONDARY_ENTRY: AtomicU32 = AtomicU32::new(0);

/// The boot translation table, written by the assembly below with the MMU
/// off. Lives outside `.bss` because `.bss` is cleared while it is in use.
#[repr(C, align(16384))]
pub struct BootL1(pub [L1Entry; L1_ENTRIES]);

#[no_mangle]
#[link_section = ".boot_pagetable"]
pub static mut BOOT_L1: BootL1 = BootL1([L1Entry::FAULT; L1_ENTRIES]);

const fn section_bits(attrs: Attributes) -> u32 {
    match L1Entry::section(PhysAddr(0), attrs) {
        Ok(e) => e.0,
        Err(_) => panic!("section attributes"),
    }
}

/// Attribute bits of a boot RAM section (base address 0).
const BOOT_RAM_SECTION: u32 = section_bits(Attributes::KERNEL_BOOT);

global_asm!(
    r#"
    .section .text.boot, "ax"
    .arm
    .global _start
_start:
    mov     r9, r2                          @ DTB address (or 0), for kmain
    mrs     r0, cpsr
    mov     r10, r0                         @ the entry CPSR, for kmain
    and     r1, r0, #0x1f
    cmp     r1, #0x1a                       @ HYP?
    bne     1f
    mrc     p15, 4, r1, c14, c1, 0          @ CNTHCTL: PL1 may read the
    orr     r1, r1, #3                      @ physical counter and timer
    mcr     p15, 4, r1, c14, c1, 0
    mov     r1, #0
    mcrr    p15, 4, r1, r1, c14             @ CNTVOFF = 0: virtual = physical count
    bic     r0, r0, #0x1f
    orr     r0, r0, #0x13                   @ SVC
    orr     r0, r0, #0x1c0                  @ A, I, F masked
    msr     spsr_cxsf, r0
    adr     lr, 1f
    .inst   0xe12ef30e                      @ msr ELR_hyp, lr
    .inst   0xe160006e                      @ eret
1:  cpsid   aif
    mrc     p15, 0, r0, c0, c0, 5          @ MPIDR
    ands    r0, r0, #3
    bne     secondary_park

    cps     #0x13                           @ SVC (QEMU starts there; be explicit)
    mrc     p15, 0, r1, c1, c0, 1           @ ACTLR.SMP: take part in coherency,
    tst     r1, #(1 << 6)                   @ written only if clear (Linux's
    orreq   r1, r1, #(1 << 6)               @ proc-v7.S)
    mcreq   p15, 0, r1, c1, c0, 1
    mov     r1, #0
    mcr     p15, 0, r1, c7, c5, 0           @ ICIALLU
    mcr     p15, 0, r1, c7, c5, 6           @ BPIALL
    mcr     p15, 0, r1, c8, c7, 0           @ TLBIALL
    .if {setway}
    bl      invalidate_l1_dcache
    .endif

    @ r4 = physical address of BOOT_L1
    ldr     r4, =BOOT_L1
    sub     r4, r4, #{virt_offset}

    @ zero all 4096 entries
    mov     r0, r4
    mov     r1, #0
    add     r2, r4, #0x4000
1:  str     r1, [r0], #4
    cmp     r0, r2
    blo     1b

    @ identity map 16 MiB at the start of RAM (covers .text.boot)
    ldr     r5, ={boot_ram}
    ldr     r0, ={ram_base}
    mov     r2, #16
2:  orr     r3, r0, r5
    str     r3, [r4, r0, lsr #18]
    add     r0, r0, #0x100000
    subs    r2, r2, #1
    bne     2b

    @ high map: VA ram_base+offset .. +1 GiB -> PA ram_base
    ldr     r0, ={ram_base}
    ldr     r1, ={virt_base}
    mov     r2, #1024
3:  orr     r3, r0, r5
    str     r3, [r4, r1, lsr #18]
    add     r0, r0, #0x100000
    add     r1, r1, #0x100000
    subs    r2, r2, #1
    bne     3b

    @ written with the caches off: drop any stale line of the table
    @ (by MVA to PoC: no set/way operation)
    dsb
    mrc     p15, 0, r3, c0, c0, 1           @ CTR.DminLine: log2(words) of
    ubfx    r3, r3, #16, #4                 @ the smallest D-cache line
    mov     r1, #4
    lsl     r1, r1, r3                      @ r1 = line bytes
    mov     r0, r4
    add     r2, r4, #0x4000
4:  mcr     p15, 0, r0, c7, c6, 1           @ DCIMVAC
    add     r0, r0, r1
    cmp     r0, r2
    blo     4b

    dsb
    mov     r1, #{dacr}
    mcr     p15, 0, r1, c3, c0, 0           @ DACR
    mov     r1, #0
    mcr     p15, 0, r1, c2, c0, 2           @ TTBCR.N = 0 while booting
    orr     r1, r4, #{ttbr_flags}
    mcr     p15, 0, r1, c2, c0, 0           @ TTBR0
    mcr     p15, 0, r1, c2, c0, 1           @ TTBR1
    mcr     p15, 0, r1, c8, c7, 0           @ TLBIALL
    dsb
    isb
    mrc     p15, 0, r1, c1, c0, 0           @ SCTLR
    bic     r1, r1, #(1 << 13)              @ V: vectors via VBAR
    bic     r1, r1, #(3 << 28)              @ TRE, AFE off
    bic     r1, r1, #(1 << 1)               @ A: unaligned accesses allowed
    orr     r1, r1, #(1 << 0)               @ M
    orr     r1, r1, #(1 << 2)               @ C
    orr     r1, r1, #(1 << 11)              @ Z
    orr     r1, r1, #(1 << 12)              @ I
    mcr     p15, 0, r1, c1, c0, 0
    isb
    ldr     pc, =boot_high

@ Secondary CPUs: wait for an entry point, MMU off, caches off.
secondary_park:
    ldr     r1, =SECONDARY_ENTRY
    sub     r1, r1, #{virt_offset}
5:  wfe
    ldr     r2, [r1]
    cmp     r2, #0
    beq     5b
    bx      r2

@ Invalidate the L1 data cache by set/way (contents are undefined at reset).
@ Clobbers r0-r3, r6-r8 (r9 and r10 hold kmain's arguments).
invalidate_l1_dcache:
    mov     r0, #0
    mcr     p15, 2, r0, c0, c0, 0           @ CSSELR: L1 data
    isb
    mrc     p15, 1, r0, c0, c0, 0           @ CCSIDR
    and     r1, r0, #7
    add     r1, r1, #4                      @ r1 = log2(line bytes)
    ldr     r3, =0x3ff
    and     r2, r3, r0, lsr #3              @ r2 = ways - 1
    ldr     r3, =0x7fff
    and     r3, r3, r0, lsr #13             @ r3 = sets - 1
    clz     r6, r2                          @ r6 = way field shift
6:  mov     r7, r3
7:  lsl     r8, r2, r6
    orr     r8, r8, r7, lsl r1
    mcr     p15, 0, r8, c7, c6, 2           @ DCISW
    subs    r7, r7, #1
    bge     7b
    subs    r2, r2, #1
    bge     6b
    dsb
    bx      lr
    .ltorg

    .text
    .arm
boot_high:
    ldr     r0, =exception_vectors
    mcr     p15, 0, r0, c12, c0, 0          @ VBAR
    isb
    @ CPU 0 stacks: SVC above its guard page; IRQ/ABT/UND/FIQ small ones.
    ldr     r0, =__stacks_start
    add     sp, r0, #({svc_stack} + 4096)
    ldr     r0, =__mode_stacks_start
    add     r0, r0, #{mode_stack}
    cps     #0x12
    mov     sp, r0
    add     r0, r0, #{mode_stack}
    cps     #0x17
    mov     sp, r0
    add     r0, r0, #{mode_stack}
    cps     #0x1b
    mov     sp, r0
    add     r0, r0, #{mode_stack}
    cps     #0x11
    mov     sp, r0
    cps     #0x13
    @ clear .bss
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r2, #0
    mov     r3, #0
8:  cmp     r0, r1
    strlo   r2, [r0], #4
    blo     8b
    mov     r0, r9
    mov     r1, r10
    bl      kmain
9:  wfi
    b       9b
    .ltorg
"#,
    virt_offset = const board::layout::KERNEL_VIRT_OFFSET,
    boot_ram = const BOOT_RAM_SECTION,
    ram_base = const board::layout::RAM_BASE,
    virt_base = const board::layout::RAM_BASE + board::layout::KERNEL_VIRT_OFFSET,
    setway = const board::SETWAY_INVALIDATE as u32,
    dacr = const kerncore::mmu::DACR_KERNEL,
    ttbr_flags = const kerncore::mmu::TTBR_WALK_WBWA_SHARED,
    svc_stack = const SVC_STACK_SIZE,
    mode_stack = const MODE_STACK_SIZE,
);

/// Per-CPU SVC stack size (must match `link.ld`).
pub const SVC_STACK_SIZE: u32 = 0x4000;
/// Per-CPU IRQ/ABT/UND/FIQ stack size (must match `link.ld`).
pub const MODE_STACK_SIZE: u32 = 0x400;
