//! What the server hands back to the task outside the protocol: usage
//! snapshots, reclamation summaries and fault reports.

use core::fmt;

use abi::VirtAddr;
use alloc::vec::Vec;
use ipc::AreaKind;

use crate::config::{ClientId, Quota};

/// What one client holds right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Frames held (vmalloc + DMA).
    pub pages: u32,
    /// Live areas of any kind.
    pub areas: u32,
    /// Live ioremap areas (included in `areas`).
    pub ioremaps: u32,
    /// Live vmap areas (included in `areas`).
    pub vmaps: u32,
    /// Frames held by DMA buffers (included in `pages`).
    pub dma_pages: u32,
    /// Virtual pages of the window its live areas span, guard pages
    /// included (the reservation of each area, alignment padding not).
    pub window_pages: u32,
}

/// A client's entry in the client table, as [`Server::client`](crate::Server::client)
/// shows it.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientView {
    /// The badge.
    pub client: ClientId,
    /// Its limits.
    pub quota: Quota,
    /// What it holds.
    pub usage: Usage,
    /// Listed in the manifest (else admitted as an unknown badge).
    pub configured: bool,
}

/// What [`Server::client_exited`](crate::Server::client_exited) released.
/// Not `Clone`: one summary per reclamation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExitSummary {
    /// The client.
    pub client: ClientId,
    /// Areas freed (every kind).
    pub areas: u32,
    /// PTEs removed from the client's space.
    pub pages_unmapped: u32,
    /// Frames the client held (vmalloc + DMA), now on their way back to the
    /// pool (after the next batched TLB flush).
    pub frames_released: u32,
    /// Ioremap areas among `areas`.
    pub ioremaps: u32,
    /// DMA frames among `frames_released`.
    pub dma_pages: u32,
    /// The areas the client still held, grouped by caller tag (ascending):
    /// its leak report. Empty if it had freed everything.
    pub leaks: Vec<LeakGroup>,
}

/// Areas a client still held at exit that share one caller tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakGroup {
    /// The caller tag given at allocation (a return address, or an id).
    pub caller: u32,
    /// Areas with this caller.
    pub areas: u32,
    /// Their mapped bytes (guard pages excluded), saturating.
    pub bytes: u32,
}

impl ExitSummary {
    /// Total mapped bytes over [`leaks`](Self::leaks), saturating.
    pub fn leaked_bytes(&self) -> u32 {
        self.leaks
            .iter()
            .fold(0u32, |acc, g| acc.saturating_add(g.bytes))
    }

    /// Areas over [`leaks`](Self::leaks) (`areas` minus the heap's).
    pub fn leaked_areas(&self) -> u32 {
        self.leaks.iter().map(|g| g.areas).sum()
    }
}

/// `N areas, B bytes, caller 0x…` (the task adds its prefix and `owner=`).
impl fmt::Display for LeakGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} areas, {} bytes, caller 0x{:08x}",
            self.areas, self.bytes, self.caller
        )
    }
}

impl fmt::Display for ExitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: reclaimed {} areas, {} pages unmapped, {} frames released",
            self.client, self.areas, self.pages_unmapped, self.frames_released
        )
    }
}

/// A fault just past the end of one of the faulting client's areas: in its
/// guard page, or in the page after an area without a guard.
/// Not `Clone`: one report per fault.
#[derive(Debug, PartialEq, Eq)]
pub struct OverrunReport {
    /// The faulting client.
    pub client: ClientId,
    /// The faulting address.
    pub fault_addr: VirtAddr,
    /// First byte of the area.
    pub area_start: VirtAddr,
    /// Mapped bytes of the area (guard page excluded).
    pub area_size: u32,
    /// Bytes the client asked for.
    pub requested: u32,
    /// The caller tag given at allocation.
    pub caller: u32,
    /// The area's kind.
    pub kind: AreaKind,
}

impl OverrunReport {
    /// One past the last mapped byte, widened (an area may end at 4 GiB).
    pub fn area_end(&self) -> u64 {
        u64::from(self.area_start.0) + u64::from(self.area_size)
    }
}

/// The line the task logs: `overran area 0x…-0x… (N bytes, caller …)`.
impl fmt::Display for OverrunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "overran area 0x{:08x}-0x{:08x} ({} bytes, caller 0x{:08x})",
            self.area_start.0,
            self.area_end(),
            self.area_size,
            self.caller
        )
    }
}

/// What [`Server::client_faulted`](crate::Server::client_faulted) found and
/// did. Not `Clone`.
#[derive(Debug, PartialEq, Eq)]
pub struct FaultOutcome {
    /// The area the fault overran, if the address was just past one of the
    /// client's areas.
    pub overrun: Option<OverrunReport>,
    /// The reclamation that followed.
    pub reclaimed: ExitSummary,
}
