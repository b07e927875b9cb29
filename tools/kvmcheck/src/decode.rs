//! Which guest instructions KVM can emulate when they touch MMIO.
//!
//! A guest access to an address with no RAM behind it traps to KVM as a
//! stage-2 data abort. KVM emulates it only from the abort's syndrome
//! (HSR/ESR `ISV` = 1: access size, register, sign extension, direction).
//! The architecture gives a valid syndrome only for single loads and stores
//! of one general-purpose register without base-register writeback: LDR,
//! LDRB, LDRH, LDRSB, LDRSH, STR, STRB, STRH (immediate, register or
//! literal offset; their unprivileged T32 forms without writeback; ARMv8's
//! LDA/STL). Everything else that reaches MMIO is refused by KVM ("Data
//! abort outside memslots with no valid syndrome info") and kills the
//! guest: writeback (pre- or post-indexed), LDM/STM/PUSH/POP/SRS/RFE,
//! LDRD/STRD, the exclusives and SWP, coprocessor, VFP and Advanced SIMD
//! loads and stores.
//!
//! Pure functions over encodings, tested on the host.
#![forbid(unsafe_code)]

/// Why KVM cannot emulate an instruction's MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsafe {
    /// Pre- or post-indexed addressing that updates the base register.
    Writeback,
    /// LDM/STM/PUSH/POP (and SRS/RFE): several registers in one instruction.
    Multiple,
    /// LDRD/STRD: two registers.
    Doubleword,
    /// LDREX/STREX and their byte/halfword/doubleword and acquire forms.
    Exclusive,
    /// SWP/SWPB.
    Swap,
    /// LDC/STC, VLDR/VSTR/VLDM/VSTM/VPUSH/VPOP, VLDn/VSTn.
    Coprocessor,
    /// TBB/TBH: a table branch reads memory without a syndrome.
    TableBranch,
    /// An access by an instruction this decoder does not know as a load or
    /// store.
    Unrecognised,
}

impl Unsafe {
    /// A short description for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Unsafe::Writeback => "writeback addressing",
            Unsafe::Multiple => "load/store multiple",
            Unsafe::Doubleword => "load/store doubleword",
            Unsafe::Exclusive => "exclusive access",
            Unsafe::Swap => "swap",
            Unsafe::Coprocessor => "coprocessor/VFP/SIMD load/store",
            Unsafe::TableBranch => "table branch",
            Unsafe::Unrecognised => "unrecognised memory instruction",
        }
    }
}

/// What an instruction does to data memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// No data access (data processing, branches, register moves, hints,
    /// barriers).
    NoAccess,
    /// A single load or store KVM emulates from its syndrome.
    Emulable,
    /// A data access KVM cannot emulate on MMIO.
    Unsafe(Unsafe),
}

/// An instruction as the plugin sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// An A32 (ARM state) word.
    A32(u32),
    /// A 16-bit Thumb instruction.
    T16(u16),
    /// A 32-bit Thumb instruction: first halfword, second halfword.
    T32(u16, u16),
}

impl Insn {
    /// Decodes the bytes QEMU translated (little-endian) in ARM or Thumb
    /// state; `None` if the length does not fit the state.
    pub fn from_bytes(bytes: &[u8], thumb: bool) -> Option<Insn> {
        let half = |i: usize| -> Option<u16> {
            Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]))
        };
        match (thumb, bytes.len()) {
            (false, 4) => Some(Insn::A32(u32::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3],
            ]))),
            (true, 2) => Some(Insn::T16(half(0)?)),
            (true, 4) => Some(Insn::T32(half(0)?, half(2)?)),
            _ => None,
        }
    }

    /// The encoding as one number (T32: first halfword in the high half,
    /// as the ARM ARM writes it).
    pub fn encoding(self) -> u32 {
        match self {
            Insn::A32(w) => w,
            Insn::T16(h) => u32::from(h),
            Insn::T32(a, b) => u32::from(a) << 16 | u32::from(b),
        }
    }

    /// Classifies the instruction.
    pub fn classify(self) -> Class {
        match self {
            Insn::A32(w) => classify_a32(w),
            Insn::T16(h) => classify_t16(h),
            Insn::T32(a, b) => classify_t32(a, b),
        }
    }
}

/// Whether a Thumb halfword starts a 32-bit instruction.
pub fn is_t32_prefix(hw: u16) -> bool {
    matches!(hw >> 11, 0b11101..=0b11111)
}

fn bit(w: u32, n: u32) -> bool {
    w >> n & 1 == 1
}

/// A single load/store: emulable unless it writes the base back
/// (post-indexed: P = 0, which includes LDRT/STRT; pre-indexed: W = 1).
fn single_a32(w: u32) -> Class {
    let (p, wb) = (bit(w, 24), bit(w, 21));
    if !p || wb {
        Class::Unsafe(Unsafe::Writeback)
    } else {
        Class::Emulable
    }
}

/// Classifies an A32 instruction (ARM ARM A5.1-A5.7).
pub fn classify_a32(w: u32) -> Class {
    let cond = w >> 28;
    let op1 = w >> 25 & 0b111;
    if cond == 0xf {
        return match op1 {
            // Advanced SIMD element/structure load/store (1111 0100 xxx0);
            // the rest of 01xx is PLD/PLI/barriers/CLREX: no data access.
            0b010 if w >> 24 & 0xf == 0b0100 && !bit(w, 20) => Class::Unsafe(Unsafe::Coprocessor),
            // SRS, RFE.
            0b100 => Class::Unsafe(Unsafe::Multiple),
            // LDC2/STC2; MCRR2/MRRC2 (x010x) move registers only.
            0b110 if w >> 21 & 0xf == 0b0010 || w >> 21 & 0xf == 0 => Class::NoAccess,
            0b110 => Class::Unsafe(Unsafe::Coprocessor),
            _ => Class::NoAccess,
        };
    }
    match op1 {
        0b000 if bit(w, 7) && bit(w, 4) => {
            let op2 = w >> 5 & 0b11;
            let load = bit(w, 20);
            if op2 == 0 {
                if !bit(w, 24) {
                    // Multiplies.
                    Class::NoAccess
                } else if !bit(w, 23) {
                    Class::Unsafe(Unsafe::Swap)
                } else if w >> 8 & 0b11 == 0 {
                    // ARMv8 LDA/STL (bits 9:8 = 00): single, syndrome valid.
                    Class::Emulable
                } else {
                    Class::Unsafe(Unsafe::Exclusive)
                }
            } else if !load && op2 != 0b01 {
                // LDRD (op2 10) and STRD (op2 11) have L = 0.
                Class::Unsafe(Unsafe::Doubleword)
            } else {
                // STRH, LDRH, LDRSB, LDRSH (and their T forms).
                single_a32(w)
            }
        }
        // Data processing, MSR/MRS, BX, multiplies' neighbours, MOVW/MOVT.
        0b000 | 0b001 => Class::NoAccess,
        0b010 => single_a32(w),
        // Register offset; bit 4 set is the media space (no data access).
        0b011 if !bit(w, 4) => single_a32(w),
        0b011 => Class::NoAccess,
        0b100 => Class::Unsafe(Unsafe::Multiple),
        0b101 => Class::NoAccess,
        // MCRR/MRRC (0010x) and the undefined 0000x move registers only.
        0b110 if w >> 21 & 0xf == 0b0010 || w >> 21 & 0xf == 0 => Class::NoAccess,
        0b110 => Class::Unsafe(Unsafe::Coprocessor),
        // SVC, CDP, MCR/MRC.
        _ => Class::NoAccess,
    }
}

/// Classifies a 16-bit Thumb instruction (ARM ARM A6.2).
pub fn classify_t16(h: u16) -> Class {
    match h >> 12 {
        // Load/store register offset; STR/LDR(B) immediate; STRH/LDRH
        // immediate; SP-relative STR/LDR: never writeback.
        0b0101..=0b1001 => Class::Emulable,
        // LDR literal.
        0b0100 if h >> 11 == 0b01001 => Class::Emulable,
        // PUSH (1011 010x) and POP (1011 110x).
        0b1011 if h & 0x0600 == 0x0400 => Class::Unsafe(Unsafe::Multiple),
        // LDM/STM.
        0b1100 => Class::Unsafe(Unsafe::Multiple),
        _ => Class::NoAccess,
    }
}

/// Classifies a 32-bit Thumb instruction (ARM ARM A6.3).
pub fn classify_t32(a: u16, b: u16) -> Class {
    let a32 = u32::from(a);
    let b32 = u32::from(b);
    if a & 0xfe00 == 0xe800 {
        if !bit(a32, 6) {
            // LDM/STM/PUSH.W/POP.W, SRS, RFE.
            return Class::Unsafe(Unsafe::Multiple);
        }
        // Load/store dual, exclusive, table branch.
        let op1 = a32 >> 7 & 0b11;
        let op2 = a32 >> 4 & 0b11;
        return match (op1, op2) {
            (0b00, 0b00 | 0b01) => Class::Unsafe(Unsafe::Exclusive),
            (0b01, 0b00 | 0b01) => match b32 >> 4 & 0xf {
                0b0000 | 0b0001 if bit(a32, 4) => Class::Unsafe(Unsafe::TableBranch),
                // ARMv8 LDA/STL (10xx, non-exclusive): syndrome valid.
                0b1000..=0b1011 => Class::Emulable,
                _ => Class::Unsafe(Unsafe::Exclusive),
            },
            _ => Class::Unsafe(Unsafe::Doubleword),
        };
    }
    if a & 0xff10 == 0xf900 {
        // Advanced SIMD element/structure load/store.
        return Class::Unsafe(Unsafe::Coprocessor);
    }
    if a & 0xfe00 == 0xf800 {
        let load = bit(a32, 4);
        let size = a32 >> 5 & 0b11;
        let rn = a32 & 0xf;
        let rt = b32 >> 12;
        if load && rt == 0xf && size != 0b10 {
            // PLD/PLI and unallocated hints: no data access.
            return Class::NoAccess;
        }
        if bit(a32, 7) || rn == 0xf {
            // 12-bit immediate offset or literal: never writeback.
            return Class::Emulable;
        }
        if bit(b32, 11) {
            // 8-bit immediate: 1 P U W. 1110 is the unprivileged form
            // (offset addressing); W = 1 writes the base back.
            let puw = b32 >> 8 & 0b111;
            return match puw {
                0b110 | 0b100 => Class::Emulable,
                _ if bit(b32, 8) => Class::Unsafe(Unsafe::Writeback),
                _ => Class::Unsafe(Unsafe::Unrecognised),
            };
        }
        if b32 >> 6 & 0x3f == 0 {
            // Register offset, LSL #0-3.
            return Class::Emulable;
        }
        return Class::Unsafe(Unsafe::Unrecognised);
    }
    if a & 0xee00 == 0xec00 {
        // Coprocessor load/store; MCRR/MRRC (x0010x) and 0000x move
        // registers only.
        let op = a32 >> 5 & 0xf;
        return if op == 0b0010 || op == 0 {
            Class::NoAccess
        } else {
            Class::Unsafe(Unsafe::Coprocessor)
        };
    }
    Class::NoAccess
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMULABLE: Class = Class::Emulable;
    const NONE: Class = Class::NoAccess;
    fn bad(u: Unsafe) -> Class {
        Class::Unsafe(u)
    }

    /// Encodings from `llvm-mc -triple=armv7a -show-encoding`.
    #[test]
    fn a32_single_loads_and_stores_without_writeback_are_emulable() {
        for (w, what) in [
            (0xe591_0000, "ldr r0, [r1]"),
            (0xe591_0004, "ldr r0, [r1, #4]"),
            (0xe511_0004, "ldr r0, [r1, #-4]"),
            (0xe781_0002, "str r0, [r1, r2]"),
            (0xe781_0102, "str r0, [r1, r2, lsl #2]"),
            (0xe5d1_0003, "ldrb r0, [r1, #3]"),
            (0xe5c1_0000, "strb r0, [r1]"),
            (0xe1d1_00b2, "ldrh r0, [r1, #2]"),
            (0xe1c1_00b2, "strh r0, [r1, #2]"),
            (0xe191_00b2, "ldrh r0, [r1, r2]"),
            (0xe1d1_00d0, "ldrsb r0, [r1]"),
            (0x1591_0000, "ldrne r0, [r1]"),
            (0xe59f_0008, "ldr r0, [pc, #8]"),
        ] {
            assert_eq!(classify_a32(w), EMULABLE, "{what}");
        }
    }

    #[test]
    fn a32_writeback_is_flagged() {
        for (w, what) in [
            (0xe5b1_0004, "ldr r0, [r1, #4]!"),
            (0xe491_0004, "ldr r0, [r1], #4"),
            (0xe7a1_0002, "str r0, [r1, r2]!"),
            (0xe691_0002, "ldr r0, [r1], r2"),
            (0xe4b1_0000, "ldrt r0, [r1]"),
            (0xe4d1_0001, "ldrb r0, [r1], #1"),
            (0xe0c1_00b2, "strh r0, [r1], #2"),
            (0xe1f1_00f2, "ldrsh r0, [r1, #2]!"),
            (0xe0f1_00d0, "ldrsbt r0, [r1]"),
            (0xe0f1_00b2, "ldrht r0, [r1], #2"),
            (0xe52d_0004, "push {r0} (str r0, [sp, #-4]!)"),
        ] {
            assert_eq!(classify_a32(w), bad(Unsafe::Writeback), "{what}");
        }
    }

    #[test]
    fn a32_multiple_doubleword_exclusive_and_coprocessor_are_flagged() {
        for (w, class, what) in [
            (0xe890_0006, Unsafe::Multiple, "ldm r0, {r1, r2}"),
            (0xe92d_4010, Unsafe::Multiple, "push {r4, lr}"),
            (0xe8bd_8010, Unsafe::Multiple, "pop {r4, pc}"),
            (0xf96d_0513, Unsafe::Multiple, "srsdb sp!, #19"),
            (0xf8bd_0a00, Unsafe::Multiple, "rfeia sp!"),
            (0xe1c2_00d0, Unsafe::Doubleword, "ldrd r0, r1, [r2]"),
            (0xe1c2_00f8, Unsafe::Doubleword, "strd r0, r1, [r2, #8]"),
            (0xe191_0f9f, Unsafe::Exclusive, "ldrex r0, [r1]"),
            (0xe181_2f90, Unsafe::Exclusive, "strex r2, r0, [r1]"),
            (0xe1d1_0f9f, Unsafe::Exclusive, "ldrexb r0, [r1]"),
            (0xe1a3_2f90, Unsafe::Exclusive, "strexd r2, r0, r1, [r3]"),
            (0xe102_0091, Unsafe::Swap, "swp r0, r1, [r2]"),
            (0xed90_0b00, Unsafe::Coprocessor, "vldr d0, [r0]"),
            (0xed80_0a01, Unsafe::Coprocessor, "vstr s0, [r0, #4]"),
            (0xf420_078f, Unsafe::Coprocessor, "vld1.32 {d0}, [r0]"),
            (0xed91_5e00, Unsafe::Coprocessor, "ldc p14, c5, [r1]"),
        ] {
            assert_eq!(classify_a32(w), bad(class), "{what}");
        }
    }

    #[test]
    fn a32_instructions_without_data_access() {
        for (w, what) in [
            (0xf5d0_f000, "pld [r0]"),
            (0xe1a0_0001, "mov r0, r1"),
            (0xe281_0004, "add r0, r1, #4"),
            (0xe000_0291, "mul r0, r1, r2"),
            (0xee07_0f15, "mcr p15, 0, r0, c7, c5, 0"),
            (0xec51_0f0e, "mrrc p15, 0, r0, r1, c14"),
            (0xef00_0000, "svc #0"),
            (0xeaff_fffe, "b ."),
            (0xe12f_ff1e, "bx lr"),
            (0xf57f_f05b, "dmb ish"),
            (0xe7f0_00f0, "udf #0"),
        ] {
            assert_eq!(classify_a32(w), NONE, "{what}");
        }
    }

    /// Encodings from `llvm-mc -triple=thumbv7a -show-encoding`.
    #[test]
    fn t16_classes() {
        for (h, class, what) in [
            (0x6808, EMULABLE, "ldr r0, [r1]"),
            (0x5888, EMULABLE, "ldr r0, [r1, r2]"),
            (0x7048, EMULABLE, "strb r0, [r1, #1]"),
            (0x8848, EMULABLE, "ldrh r0, [r1, #2]"),
            (0x9801, EMULABLE, "ldr r0, [sp, #4]"),
            (0x4801, EMULABLE, "ldr r0, [pc, #4]"),
            (0xb510, bad(Unsafe::Multiple), "push {r4, lr}"),
            (0xbd10, bad(Unsafe::Multiple), "pop {r4, pc}"),
            (0xc806, bad(Unsafe::Multiple), "ldm r0!, {r1, r2}"),
            (0xc002, bad(Unsafe::Multiple), "stm r0!, {r1}"),
            (0x4608, NONE, "mov r0, r1"),
            (0x3001, NONE, "adds r0, #1"),
        ] {
            assert_eq!(classify_t16(h), class, "{what}");
            assert!(!is_t32_prefix(h), "{what}");
        }
    }

    #[test]
    fn t32_classes() {
        for (a, b, class, what) in [
            (0xf8d1, 0x0004, EMULABLE, "ldr.w r0, [r1, #4]"),
            (0xf851, 0x0c04, EMULABLE, "ldr r0, [r1, #-4]"),
            (0xf851, 0x0f04, bad(Unsafe::Writeback), "ldr r0, [r1, #4]!"),
            (0xf851, 0x0b04, bad(Unsafe::Writeback), "ldr r0, [r1], #4"),
            (0xf841, 0x0022, EMULABLE, "str.w r0, [r1, r2, lsl #2]"),
            (0xf851, 0x0e04, EMULABLE, "ldrt r0, [r1, #4]"),
            (0xf9b1, 0x0000, EMULABLE, "ldrsh.w r0, [r1]"),
            (0xf801, 0x0b01, bad(Unsafe::Writeback), "strb r0, [r1], #1"),
            (0xf8df, 0x0008, EMULABLE, "ldr.w r0, [pc, #8]"),
            (0xe9d2, 0x0001, bad(Unsafe::Doubleword), "ldrd r0, r1, [r2]"),
            (
                0xe9e2,
                0x0102,
                bad(Unsafe::Doubleword),
                "strd r0, r1, [r2, #8]!",
            ),
            (0xe851, 0x0f00, bad(Unsafe::Exclusive), "ldrex r0, [r1]"),
            (0xe841, 0x0200, bad(Unsafe::Exclusive), "strex r2, r0, [r1]"),
            (0xe8d1, 0x0f4f, bad(Unsafe::Exclusive), "ldrexb r0, [r1]"),
            (
                0xe8c3,
                0x0172,
                bad(Unsafe::Exclusive),
                "strexd r2, r0, r1, [r3]",
            ),
            (0xe8d0, 0xf001, bad(Unsafe::TableBranch), "tbb [r0, r1]"),
            (
                0xe890,
                0x000e,
                bad(Unsafe::Multiple),
                "ldm.w r0, {r1, r2, r3}",
            ),
            (0xe92d, 0x4ff0, bad(Unsafe::Multiple), "push.w {r4-r11, lr}"),
            (0xed90, 0x0b00, bad(Unsafe::Coprocessor), "vldr d0, [r0]"),
            (
                0xf900,
                0x078f,
                bad(Unsafe::Coprocessor),
                "vst1.32 {d0}, [r0]",
            ),
            (0xf890, 0xf000, NONE, "pld [r0]"),
            (0xee07, 0x0f15, NONE, "mcr p15, 0, r0, c7, c5, 0"),
            (0xec51, 0x0f0e, NONE, "mrrc p15, 0, r0, r1, c14"),
            (0xf101, 0x0004, NONE, "add.w r0, r1, #4"),
            (0xf3bf, 0x8f5b, NONE, "dmb ish"),
        ] {
            assert_eq!(classify_t32(a, b), class, "{what}");
            assert!(is_t32_prefix(a), "{what}");
        }
    }

    #[test]
    fn bytes_become_instructions_in_their_state() {
        assert_eq!(
            Insn::from_bytes(&[0x04, 0x00, 0xb1, 0xe5], false),
            Some(Insn::A32(0xe5b1_0004))
        );
        assert_eq!(
            Insn::from_bytes(&[0xd1, 0xf8, 0x04, 0x00], true),
            Some(Insn::T32(0xf8d1, 0x0004))
        );
        assert_eq!(Insn::T32(0xf8d1, 0x0004).encoding(), 0xf8d1_0004);
        assert_eq!(
            Insn::from_bytes(&[0x08, 0x68], true),
            Some(Insn::T16(0x6808))
        );
        assert_eq!(Insn::from_bytes(&[0x08, 0x68], false), None);
        assert_eq!(
            Insn::A32(0xe5b1_0004).classify(),
            Class::Unsafe(Unsafe::Writeback)
        );
    }
}
