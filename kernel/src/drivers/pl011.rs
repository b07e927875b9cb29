//! ARM PL011 UART (transmit side: the kernel console).

use crate::mmio::MmioRegion;

const DR: usize = 0x00;
const FR: usize = 0x18;
const IBRD: usize = 0x24;
const FBRD: usize = 0x28;
const LCR_H: usize = 0x2c;
const CR: usize = 0x30;
const IMSC: usize = 0x38;

const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
const LCR_H_WLEN8: u32 = 0b11 << 5;
const LCR_H_FEN: u32 = 1 << 4;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;

/// A PL011 used for output.
pub struct Pl011 {
    regs: MmioRegion,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the kernel mapping of a PL011, used by nothing else.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: forwarded from the caller.
            regs: unsafe { MmioRegion::new(base, 0x1000) },
        }
    }

    /// 115200 8N1 with FIFOs (the board's UART clock is 24 MHz; QEMU
    /// ignores the divisor but real hardware would not).
    pub fn init(&self) {
        self.regs.write32(CR, 0);
        self.regs.write32(IBRD, 13);
        self.regs.write32(FBRD, 1);
        self.regs.write32(LCR_H, LCR_H_WLEN8 | LCR_H_FEN);
        self.regs.write32(IMSC, 0);
        self.regs.write32(CR, CR_UARTEN | CR_TXE | CR_RXE);
    }

    /// Sends one byte, waiting for FIFO space.
    pub fn put_byte(&self, b: u8) {
        while self.regs.read32(FR) & FR_TXFF != 0 {}
        self.regs.write32(DR, b as u32);
    }

    /// Waits until every queued byte has left.
    pub fn flush(&self) {
        while self.regs.read32(FR) & FR_BUSY != 0 {}
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put_byte(b'\r');
            }
            self.put_byte(b);
        }
        Ok(())
    }
}
