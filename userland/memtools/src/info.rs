//! `vmallocinfo` and `buddyinfo`: the server's views in Linux's formats.

use core::fmt::Write;

use ipc::AreaRecord;
use log::{error, info};
use userlib::mem;

use crate::MEMSERVER;

/// A line buffer on the stack.
pub struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    /// Empty.
    pub fn new() -> Self {
        Self {
            buf: [0; 160],
            len: 0,
        }
    }
    /// The text so far.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// One `/proc/vmallocinfo` line (mm/vmalloc.c `s_show`): range, size with
/// the guard page, caller, `pages=`, `phys=`, kind.
pub fn vmallocinfo_line(r: &AreaRecord) -> Line {
    let mut l = Line::new();
    let end = r.start.0 as u64 + r.size as u64;
    let _ = write!(
        l,
        "0x{:08x}-0x{:08x} {:7} 0x{:08x}",
        r.start.0, end, r.size, r.caller
    );
    if r.nr_pages != 0 {
        let _ = write!(l, " pages={}", r.nr_pages);
    }
    if let Some(p) = r.phys {
        let _ = write!(l, " phys=0x{:08x}", p.0);
    }
    let _ = write!(l, " {} owner={}", r.kind.linux_name(), r.owner);
    l
}

/// Prints every area the server knows, then the buddy allocator's state.
pub fn print_all(label: &str) -> Result<(), memclient::ClientError> {
    let client = mem::client(MEMSERVER);
    info!("{label}: /proc/vmallocinfo");
    let mut n = 0;
    client.info_all(|r| {
        n += 1;
        info!("{}", vmallocinfo_line(r).as_str());
    })?;
    info!("{label}: {n} areas");
    let stats = client.stats()?;
    let mut l = Line::new();
    let _ = write!(l, "Node 0, zone   Normal");
    for c in stats.free_blocks.iter() {
        let _ = write!(l, " {c:6}");
    }
    info!("{label}: /proc/buddyinfo");
    info!("{}", l.as_str());
    info!(
        "{label}: {} of {} pages free; window {} KiB free",
        stats.free_pages,
        stats.total_pages,
        stats.window_free / 1024
    );
    for u in stats.clients.iter() {
        info!(
            "{label}: client {} holds {} areas, {} pages (quota {}), {} window pages (quota {})",
            u.client, u.areas, u.pages, u.quota_pages, u.window_pages, u.quota_window_pages
        );
    }
    Ok(())
}

/// The `vmallocinfo` tool: the listing, buddyinfo, then the meminfo
/// lines and a window-map dump (it has the observer right).
pub fn run() -> i32 {
    let extra = || {
        let client = mem::client(MEMSERVER);
        print_meminfo(&client)?;
        dump_window_map(&client, "vmallocinfo").map(|_| ())
    };
    match print_all("vmallocinfo").and_then(|()| extra()) {
        Ok(()) => 0,
        Err(e) => {
            error!("vmallocinfo: {e:?}");
            1
        }
    }
}

/// `/proc/meminfo`'s memory and vmalloc lines (Linux's layout: the name
/// padded to 16 columns, the value in kB right-aligned in 8):
/// `MemTotal`/`MemFree` (the pool), `VmallocTotal` (the window),
/// `VmallocUsed` (frames held by areas), `VmallocChunk` (the largest free
/// range) and `VmallocLazy` (frames of freed areas waiting for the lazy
/// purge). Needs the observer right (the window map).
pub fn print_meminfo(client: &mem::Client) -> Result<(), memclient::ClientError> {
    let stats = client.stats()?;
    let map = client.window_map(0)?;
    let kb = |pages: u32| u64::from(pages) * u64::from(abi::PAGE_SIZE) / 1024;
    let used = stats
        .total_pages
        .saturating_sub(stats.free_pages)
        .saturating_sub(map.lazy_frames);
    let lines: [(&str, u64); 6] = [
        ("MemTotal:", kb(stats.total_pages)),
        ("MemFree:", kb(stats.free_pages)),
        ("VmallocTotal:", u64::from(map.window_size) / 1024),
        ("VmallocUsed:", kb(used)),
        ("VmallocChunk:", u64::from(map.largest_free) / 1024),
        ("VmallocLazy:", kb(map.lazy_frames)),
    ];
    for (name, value) in lines {
        info!("{name:<16}{value:>8} kB");
    }
    Ok(())
}

/// The window-map dump at a point labelled `label` (no spaces):
/// `window-map: begin LABEL`, the vmallocinfo lines of the same snapshot,
/// one `window-map: busy|lazy|free` line per range, then
/// `window-map: end LABEL busy=N lazy=M free=K largest=BYTES`.
///
/// The server takes the whole map at once (cursor 0) and pages through
/// that snapshot, and its busy ranges carry their vmallocinfo fields, so
/// the listing and the map are one moment although other clients keep
/// running. `Ok(false)` without printing if this client is no observer.
pub fn dump_window_map(client: &mem::Client, label: &str) -> Result<bool, memclient::ClientError> {
    use alloc::vec::Vec;
    use ipc::RangeState;
    let mut ranges = Vec::new();
    let first = match client.window_map_all(|r| ranges.push(*r)) {
        Ok(first) => first,
        Err(memclient::ClientError::Server(ipc::ErrorCode::PermissionDenied)) => return Ok(false),
        Err(e) => return Err(e),
    };
    info!("window-map: begin {label}");
    for record in ranges.iter().filter_map(|r| r.record()) {
        info!("{}", vmallocinfo_line(&record).as_str());
    }
    let (mut busy, mut lazy, mut free) = (0u32, 0u32, 0u32);
    for r in &ranges {
        let end = r.end();
        match r.state {
            RangeState::Busy => {
                busy += 1;
                info!(
                    "window-map: busy 0x{:08x} 0x{:08x} {} {}",
                    r.start.0,
                    end,
                    r.owner,
                    short_kind(r.kind)
                );
            }
            RangeState::Lazy => {
                lazy += 1;
                info!("window-map: lazy 0x{:08x} 0x{:08x}", r.start.0, end);
            }
            RangeState::Free => {
                free += 1;
                info!("window-map: free 0x{:08x} 0x{:08x}", r.start.0, end);
            }
        }
    }
    info!(
        "window-map: end {label} busy={busy} lazy={lazy} free={free} largest={}",
        first.largest_free
    );
    Ok(true)
}

/// The dump's kind word: the vmallocinfo one, `dma` for DMA buffers.
fn short_kind(kind: ipc::AreaKind) -> &'static str {
    match kind {
        ipc::AreaKind::Dma => "dma",
        other => other.linux_name(),
    }
}
