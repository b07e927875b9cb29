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

/// The `vmallocinfo` tool.
pub fn run() -> i32 {
    match print_all("vmallocinfo") {
        Ok(()) => 0,
        Err(e) => {
            error!("vmallocinfo: {e:?}");
            1
        }
    }
}
