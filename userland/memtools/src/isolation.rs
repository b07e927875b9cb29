//! Isolation between clients (issue 10's tests).
//!
//! - `isolation`: a writer fills several MiB of plain vmalloc memory with a
//!   marker, frees it and exits; a scanner then takes, with plain vmalloc
//!   (no `ZEROED`), all the memory the pool gives it and reads every word:
//!   no marker word may be found (every frame a client receives is zeroed).
//! - `window-hog`: a client with a small quota tries to fill the window with
//!   vmap (of its own frames, repeated), vmalloc of `NO_GUARD` areas and
//!   ioremap; each path is stopped by `QuotaExceeded` (its window quota),
//!   and a vmap naming one frame twice is `DuplicateFrame`. Then a victim's
//!   vmalloc of 1 MiB succeeds while the hog still holds everything.
//! - `kmem`: hogs span the window with 1-page areas each aligned to 1 MiB
//!   (one kernel L2 table per area) until the kernel refuses their own
//!   page-table quota (`QuotaExceeded`); victims then map the same way and
//!   every map succeeds.
//!
//! Handles are kept in fixed arrays, not `Vec`: the heap grows through
//! vmalloc, and these clients are measuring exactly what they hold.

use core::fmt::Write;

use abi::{CapSlot, MessageTag, Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use ipc::BoundedVec;
use log::{error, info};
use memclient::{ClientError, ErrorCode, MemType, PageRun, VmallocFlags, VmapFlags, VmapSource};
use userlib::{dev, mem, sys};

use crate::stress::{fill, verify, Client};
use crate::MEMSERVER;

const P: u32 = PAGE_SIZE;
const MIB: u32 = 1 << 20;

/// The word the writer leaves everywhere ("secret" in hex speak).
const MARKER: u32 = 0x5ec2_e75a;
/// How much the writer marks.
const WRITER_BYTES: u32 = 4 * MIB;
/// The scanner's chunk.
const SCAN_CHUNK: u32 = MIB;
/// Most chunks the scanner holds (more than any pool: 1 GiB).
const MAX_CHUNKS: usize = 1024;

/// Endpoint the hogs wait on (slot 1) and the victims signal (slot 1).
const HANDSHAKE: CapSlot = CapSlot(1);

fn rounded_words(bytes: u32) -> usize {
    bytes as usize / 4
}

/// Client A: marks 4 MiB of plain vmalloc memory, frees it, exits.
pub fn writer() -> i32 {
    let client = mem::client(MEMSERVER);
    let area = match client.vmalloc(WRITER_BYTES) {
        Ok(a) => a,
        Err(e) => {
            error!("isolation: writer vmalloc(4 MiB): {e:?}");
            return 1;
        }
    };
    let base = area.addr().0 as usize as *mut u32;
    let words = rounded_words(area.size());
    for i in 0..words {
        // SAFETY: the server mapped `size` bytes read-write at `addr` for
        // this task; `area` keeps them mapped while we write.
        unsafe { base.add(i).write_volatile(MARKER) };
    }
    let addr = area.addr().0;
    match client.vfree(area) {
        Ok(()) => {
            info!("isolation: writer marked {words} words at {addr:#010x} with {MARKER:#010x}, freed them; exiting");
            0
        }
        Err(e) => {
            error!("isolation: writer vfree: {e:?}");
            1
        }
    }
}

/// Client B: takes everything it can with plain vmalloc and counts marker
/// words (and, for the record, any non-zero word).
pub fn scanner() -> i32 {
    let client = mem::client(MEMSERVER);
    let mut chunks = [VirtAddr(0); MAX_CHUNKS];
    let mut held = 0usize;
    let stop = loop {
        if held == MAX_CHUNKS {
            error!("isolation: scanner: more than {MAX_CHUNKS} MiB and still no refusal");
            return 1;
        }
        match client.vmalloc(SCAN_CHUNK) {
            Ok(a) => {
                chunks[held] = a.into_raw().0;
                held += 1;
            }
            Err(e) => break e,
        }
    };
    let full = matches!(
        stop,
        ClientError::Server(ErrorCode::OutOfMemory | ErrorCode::QuotaExceeded)
    );
    let free_left = client.stats().map(|s| s.free_pages).unwrap_or(u32::MAX);
    info!(
        "isolation: scanner holds {held} areas of 1 MiB (plain vmalloc); next vmalloc -> {stop:?}; {free_left} pool frames left"
    );
    let (mut words, mut markers, mut nonzero) = (0u64, 0u64, 0u64);
    for &start in &chunks[..held] {
        let base = start.0 as usize as *const u32;
        for i in 0..rounded_words(SCAN_CHUNK) {
            // SAFETY: every chunk is an area of SCAN_CHUNK bytes the server
            // mapped for this task; none is freed before the scan ends.
            let w = unsafe { base.add(i).read_volatile() };
            words += 1;
            if w == MARKER {
                markers += 1;
            }
            if w != 0 {
                nonzero += 1;
            }
        }
    }
    info!("isolation: scanned {words} words in {held} areas, marker words: {markers}");
    info!("isolation: non-zero words: {nonzero}");
    let mut freed_ok = true;
    for &start in &chunks[..held] {
        freed_ok &= client.vfree_addr(start).is_ok();
    }
    if !full {
        error!("isolation: the scanner stopped for another reason than a full pool or quota");
        return 1;
    }
    if markers != 0 || !freed_ok || held == 0 {
        error!("isolation: FAILED: {markers} marker words seen, frees ok: {freed_ok}");
        return 1;
    }
    0
}

/// The hog's window quota (`kernel/src/manifest.rs`, system `window-hog`).
const HOG_FRAMES: u32 = 8;
/// Most areas the hog holds at once.
const HOG_MAX: usize = 128;

/// A fixed set of the hog's areas of one kind.
struct Held {
    addrs: [VirtAddr; HOG_MAX],
    n: usize,
}

impl Held {
    const fn new() -> Self {
        Self {
            addrs: [VirtAddr(0); HOG_MAX],
            n: 0,
        }
    }
    fn push(&mut self, a: VirtAddr) -> bool {
        if self.n == HOG_MAX {
            return false;
        }
        self.addrs[self.n] = a;
        self.n += 1;
        true
    }
    fn pop(&mut self) -> Option<VirtAddr> {
        self.n = self.n.checked_sub(1)?;
        Some(self.addrs[self.n])
    }
}

/// Window pages held and the quota, from the hog's own Stats row.
fn window(client: &Client) -> (u32, u32) {
    match mem::own_usage(client, MEMSERVER) {
        Ok(Some(u)) => (u.window_pages, u.quota_window_pages),
        _ => (u32::MAX, u32::MAX),
    }
}

/// Repeats `step` until it fails; returns the refusal (None: never
/// refused within `HOG_MAX`).
fn until_refused(
    held: &mut Held,
    mut step: impl FnMut() -> Result<VirtAddr, ClientError>,
) -> Option<ClientError> {
    loop {
        match step() {
            Ok(a) => {
                if !held.push(a) {
                    return None;
                }
            }
            Err(e) => return Some(e),
        }
    }
}

/// The window hog. Returns non-zero if any path was not stopped by
/// `QuotaExceeded`, or if the duplicate-frame vmap was not refused.
pub fn window_hog() -> i32 {
    let client = mem::client(MEMSERVER);
    // The device granted to the hog (one page), from its own capability.
    let Some(granted) = crate::granted_device("window-hog") else {
        return 1;
    };
    let mut wrong = 0;
    let frames = match client.vmalloc(HOG_FRAMES * P) {
        Ok(a) => a,
        Err(e) => {
            error!("window-hog: vmalloc of its {HOG_FRAMES} frames: {e:?}");
            return 1;
        }
    };
    let first = match client.virt_to_phys(frames.addr()) {
        Ok(p) => p.pfn(),
        Err(e) => {
            error!("window-hog: virt_to_phys: {e:?}");
            return 1;
        }
    };
    // Its frames may be scattered: one run per page.
    let mut own = [PageRun::default(); HOG_FRAMES as usize];
    for (i, run) in own.iter_mut().enumerate() {
        let va = VirtAddr(frames.addr().0 + i as u32 * P);
        match client.virt_to_phys(va) {
            Ok(p) => {
                *run = PageRun {
                    pfn: p.pfn(),
                    count: 1,
                }
            }
            Err(e) => {
                error!("window-hog: virt_to_phys: {e:?}");
                return 1;
            }
        }
    }
    let runs = |r: &[PageRun]| VmapSource::Frames(BoundedVec::from_slice(r).unwrap_or_default());

    // The same frame twice in one request.
    let twice = [
        PageRun {
            pfn: first,
            count: 1,
        },
        PageRun {
            pfn: first,
            count: 1,
        },
    ];
    let got = client
        .vmap(runs(&twice), VmapFlags::NONE)
        .map(|a| a.into_raw());
    if got == Err(ClientError::Server(ErrorCode::DuplicateFrame)) {
        info!(
            "window-hog: vmap of frame {:#x} twice in one request -> DuplicateFrame ok",
            first.0
        );
    } else {
        error!("window-hog: vmap of one frame twice -> {got:?}, expected DuplicateFrame");
        wrong += 1;
    }
    let overlap = [
        PageRun {
            pfn: Pfn(first.0),
            count: 1,
        },
        PageRun {
            pfn: own[1].pfn,
            count: 1,
        },
        PageRun {
            pfn: Pfn(first.0),
            count: 1,
        },
    ];
    let got = client
        .vmap(runs(&overlap), VmapFlags::NONE)
        .map(|a| a.into_raw());
    if got == Err(ClientError::Server(ErrorCode::DuplicateFrame)) {
        info!("window-hog: vmap repeating a frame after another -> DuplicateFrame ok");
    } else {
        error!("window-hog: vmap repeating a frame -> {got:?}, expected DuplicateFrame");
        wrong += 1;
    }

    let mut report = |what: &str, n: usize, stop: Option<ClientError>, client: &Client| {
        let (used, quota) = window(client);
        if stop == Some(ClientError::Server(ErrorCode::QuotaExceeded)) {
            info!("window-hog: {what}: stopped by QuotaExceeded after {n} areas; window {used} of {quota} pages");
        } else {
            error!("window-hog: {what}: stopped after {n} areas by {stop:?}, expected QuotaExceeded; window {used} of {quota} pages");
            wrong += 1;
        }
    };

    // 1. vmap of its own 8 frames, over and over.
    let mut vmaps = Held::new();
    let stop = until_refused(&mut vmaps, || {
        client
            .vmap(runs(&own), VmapFlags::NONE)
            .map(|a| a.into_raw().0)
    });
    report("vmap of its 8 frames", vmaps.n, stop, &client);

    // 2. Free two aliases (18 pages); fill them with NO_GUARD 1-page areas.
    for _ in 0..2 {
        if let Some(a) = vmaps.pop() {
            let _ = client.vunmap_addr(a);
        }
    }
    let mut small = Held::new();
    let stop = until_refused(&mut small, || {
        client
            .vmalloc_with(P, P, VmallocFlags::NO_GUARD, 0x0000_4096)
            .map(|a| a.into_raw().0)
    });
    report("vmalloc(1 page, NO_GUARD)", small.n, stop, &client);

    // 3. Free two more aliases; fill them with ioremaps of its device.
    for _ in 0..2 {
        if let Some(a) = vmaps.pop() {
            let _ = client.vunmap_addr(a);
        }
    }
    let mut ios = Held::new();
    let stop = until_refused(&mut ios, || {
        client
            .ioremap(PhysAddr(granted.page()), P, MemType::Device)
            .map(|a| a.into_raw().0)
    });
    // A stack buffer, not `format!`: the heap grows through vmalloc, and
    // the window is full now.
    let mut what = crate::info::Line::new();
    let _ = write!(what, "ioremap({})", dev::role_name(granted.role()));
    report(what.as_str(), ios.n, stop, &client);

    // Let the victim allocate while everything is held, then clean up.
    let (used, quota) = window(&client);
    info!("window-hog: holding {used} of {quota} window pages; waiting for the victim");
    if let Err(e) = sys::recv(HANDSHAKE) {
        error!("window-hog: recv: {e}");
        wrong += 1;
    }
    while let Some(a) = vmaps.pop() {
        let _ = client.vunmap_addr(a);
    }
    while let Some(a) = small.pop() {
        let _ = client.vfree_addr(a);
    }
    while let Some(a) = ios.pop() {
        let _ = client.iounmap_addr(a);
    }
    drop(frames);
    let (used, _) = window(&client);
    info!("window-hog: released everything; window {used} pages");
    if wrong == 0 {
        info!("window-hog: every path stopped by its window quota");
        0
    } else {
        1
    }
}

/// Allocates 1 MiB while the hog holds its whole window quota; tells the
/// hog when done.
pub fn window_victim() -> i32 {
    let client = mem::client(MEMSERVER);
    let code = match client.vmalloc(MIB) {
        Ok(a) => {
            // SAFETY: mapped read-write for this task while `a` lives.
            let ok = unsafe {
                fill(a.addr(), a.size(), 0x71c7);
                verify(a.addr(), a.size(), a.addr(), 0x71c7)
            };
            info!(
                "window-hog: victim vmalloc(1 MiB) -> {:#010x} while the hog holds its window: ok, data verified: {ok}",
                a.addr().0
            );
            if ok {
                0
            } else {
                1
            }
        }
        Err(e) => {
            error!("window-hog: victim vmalloc(1 MiB) -> {e:?}");
            1
        }
    };
    signal_done();
    code
}

/// Wakes one task blocked in `recv` on the handshake endpoint.
fn signal_done() {
    let tag = MessageTag::new(1, 0).unwrap_or_default();
    if let Err(e) = sys::send(HANDSHAKE, tag) {
        error!("handshake send: {e}");
    }
}

/// Caller tags of the kmem areas.
const KMEM_TAG: u32 = 0x4b4d_0000;
/// How many 1 MiB-aligned areas a victim maps.
const VICTIM_MAPS: usize = 16;
/// Yields a victim makes after its maps so the other victims (same
/// priority) finish theirs before any hog is released.
const VICTIM_SETTLE_YIELDS: u32 = 200;

/// A kmem hog: 1-page areas aligned to 1 MiB (one L2 table each) until
/// refused. The refusal must be its own quota (`QuotaExceeded`, from the
/// kernel's `KernelQuotaExceeded` for its page-table quota).
pub fn kmem_hog(n: u32) -> i32 {
    let client = mem::client(MEMSERVER);
    let mut held = Held::new();
    let stop = until_refused(&mut held, || {
        client
            .vmalloc_with(P, MIB, VmallocFlags::NONE, KMEM_TAG | n)
            .map(|a| a.into_raw().0)
    });
    let ok = stop == Some(ClientError::Server(ErrorCode::QuotaExceeded));
    if ok {
        info!(
            "kmem: hog {n}: stopped by QuotaExceeded after {} maps (one L2 table each)",
            held.n
        );
    } else {
        error!(
            "kmem: hog {n}: stopped after {} maps by {stop:?}, expected QuotaExceeded",
            held.n
        );
    }
    // Hold everything until a victim is done.
    if let Err(e) = sys::recv(HANDSHAKE) {
        error!("kmem: hog {n}: recv: {e}");
    }
    let mut freed = 0;
    while let Some(a) = held.pop() {
        if client.vfree_addr(a).is_ok() {
            freed += 1;
        }
    }
    info!("kmem: hog {n}: released, {freed} areas freed");
    if ok {
        0
    } else {
        1
    }
}

/// A kmem victim: maps `VICTIM_MAPS` 1-page areas, each in its own MiB,
/// after the hogs have filled their quotas; every map must succeed.
pub fn kmem_victim(n: u32) -> i32 {
    let client = mem::client(MEMSERVER);
    let mut held = Held::new();
    let mut failures = 0;
    for _ in 0..VICTIM_MAPS {
        match client.vmalloc_with(P, MIB, VmallocFlags::NONE, KMEM_TAG | 0x100 | n) {
            Ok(a) => {
                // SAFETY: mapped read-write for this task while held.
                unsafe { fill(a.addr(), a.size(), n) };
                held.push(a.into_raw().0);
            }
            Err(e) => {
                failures += 1;
                error!("kmem: victim {n}: map refused: {e:?}");
            }
        }
    }
    let mut intact = true;
    for &a in &held.addrs[..held.n] {
        // SAFETY: still mapped: freed only below.
        intact &= unsafe { verify(a, P, a, n) };
    }
    if failures == 0 && intact {
        info!("kmem: innocent {n}: all {VICTIM_MAPS} maps succeeded");
    } else {
        error!(
            "kmem: innocent {n}: {failures} of {VICTIM_MAPS} maps failed, data intact: {intact}"
        );
    }
    for _ in 0..VICTIM_SETTLE_YIELDS {
        sys::yield_now();
    }
    while let Some(a) = held.pop() {
        let _ = client.vfree_addr(a);
    }
    signal_done();
    i32::from(failures != 0 || !intact)
}
