//! The IPC buffer: one 4 KiB page per task at [`IPC_BUFFER_VADDR`].
//!
//! It is a plain byte array. Its meaning depends on the call:
//!
//! - `send`/`call`/`reply_recv`: the first `tag.length` bytes are the message;
//!   the kernel copies them to the same offset of the receiver's buffer.
//! - `map_pages`: the first `nruns` × 8 bytes are [`FrameRun`]s.
//! - `log` with pointer 0: the first `len` bytes are the text.
//! - a kernel fault/exit message: the first bytes are a
//!   [`FaultMessage`](crate::FaultMessage).
//!
//! All multi-byte values are little-endian (the CPU's order; kernel and tasks
//! run on the same CPU, so no conversion is ever needed).
//!
//! [`IPC_BUFFER_VADDR`]: crate::IPC_BUFFER_VADDR

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of the IPC buffer in bytes (one small page), which is also the
/// largest message.
pub const IPC_BUFFER_SIZE: usize = 4096;

/// The most [`FrameRun`]s one `map_pages` call accepts: a full buffer.
pub const MAX_FRAME_RUNS: usize = IPC_BUFFER_SIZE / core::mem::size_of::<FrameRun>();

/// `count` physically consecutive frames starting at `pfn`. `map_pages`
/// maps the runs one after the other at consecutive virtual pages.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct FrameRun {
    /// First frame number of the run.
    pub pfn: u32,
    /// Number of frames (≥ 1).
    pub count: u32,
}

/// The IPC buffer page as a type.
///
/// Aligned to 8 so typed views ([`FrameRun`] arrays, fault messages) at its
/// start are always aligned; the real page is 4096-aligned anyway.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C, align(8))]
pub struct IpcBuffer {
    /// The raw bytes of the page.
    pub bytes: [u8; IPC_BUFFER_SIZE],
}

impl IpcBuffer {
    /// An all-zero buffer (host tests; the kernel hands out zeroed pages).
    pub const fn zeroed() -> Self {
        Self {
            bytes: [0; IPC_BUFFER_SIZE],
        }
    }

    /// The first `nruns` frame runs, as `map_pages` reads them; `None` if
    /// `nruns` exceeds [`MAX_FRAME_RUNS`].
    pub fn frame_runs(&self, nruns: usize) -> Option<&[FrameRun]> {
        <[FrameRun]>::ref_from_prefix_with_elems(&self.bytes[..], nruns)
            .ok()
            .map(|(runs, _)| runs)
    }

    /// Mutable view of the first `nruns` frame runs (the memory server fills
    /// them before `map_pages`); `None` if `nruns` exceeds [`MAX_FRAME_RUNS`].
    pub fn frame_runs_mut(&mut self, nruns: usize) -> Option<&mut [FrameRun]> {
        <[FrameRun]>::mut_from_prefix_with_elems(&mut self.bytes[..], nruns)
            .ok()
            .map(|(runs, _)| runs)
    }

    /// The message bytes of a message of `len` bytes; `None` if too long.
    pub fn message(&self, len: usize) -> Option<&[u8]> {
        self.bytes.get(..len)
    }
}

impl Default for IpcBuffer {
    fn default() -> Self {
        Self::zeroed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<IpcBuffer>(), 4096);
        assert_eq!(core::mem::size_of::<FrameRun>(), 8);
        assert_eq!(MAX_FRAME_RUNS, 512);
    }

    #[test]
    fn frame_runs_view_the_buffer_start() {
        let mut buf = IpcBuffer::zeroed();
        {
            let runs = buf.frame_runs_mut(2).unwrap();
            runs[0] = FrameRun {
                pfn: 0x60001,
                count: 3,
            };
            runs[1] = FrameRun {
                pfn: 0x60100,
                count: 1,
            };
        }
        assert_eq!(&buf.bytes[..8], &[0x01, 0x00, 0x06, 0x00, 3, 0, 0, 0]);
        assert_eq!(buf.frame_runs(2).unwrap()[1].pfn, 0x60100);
        assert!(buf.frame_runs(MAX_FRAME_RUNS).is_some());
        assert!(buf.frame_runs(MAX_FRAME_RUNS + 1).is_none());
        assert!(buf.message(4096).is_some());
        assert!(buf.message(4097).is_none());
    }
}
