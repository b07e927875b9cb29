//! The stress suite: Linux `lib/test_vmalloc.c`'s cases run against the
//! memory server, plus a pcpu-like burst of small allocations and vmap
//! aliasing of frames the client owns.
//!
//! Every page a case gets is written with a pattern (derived from the
//! page's address and the case's seed, so two virtual pages that wrongly
//! shared a frame would overwrite each other's pattern) and verified before
//! it is freed. Each case ends with a Linux-style summary line:
//!
//! ```text
//! Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 loops: 500 avg: 1234 ticks
//! ```
//!
//! `avg` is counter ticks per loop (`sys::read_counter`, at the frequency
//! it reports: 100 MHz on vexpress-a9, CNTFRQ on virt); under `--icount`
//! (`-icount shift=0`) a tick is 10^9 / frequency guest instructions. Several
//! stress tasks run the suite at once with different seeds (the argument's
//! bits above the role byte).

use alloc::vec::Vec;

use abi::{VirtAddr, PAGE_SIZE};
use log::{error, info};
use memclient::{ClientError, ErrorCode, PageRun, VmallocFlags, VmapFlags, VmapSource};
use userlib::{mem, sys};

use crate::{info, MEMSERVER};

/// The memory-server client of this task.
pub type Client = mem::Client;

/// xorshift32: small, deterministic per seed, good enough for sizes.
pub struct Rng(u32);

impl Rng {
    /// A generator; a zero seed is replaced (xorshift would stay at 0).
    pub fn new(seed: u32) -> Self {
        Self(if seed == 0 { 0x9e37_79b9 } else { seed })
    }
    /// The next value.
    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Counter ticks now (the board's counter).
pub fn ticks() -> u64 {
    sys::read_counter().0
}

/// Words written per page: one every 256 bytes, the first and the last
/// word included, so a page that is not mapped, is mapped read-only, or
/// shares its frame with another page is caught.
const WORDS_PER_PAGE: usize = 16;
const STRIDE: usize = PAGE_SIZE as usize / 4 / WORDS_PER_PAGE;

fn word_offsets() -> impl Iterator<Item = usize> {
    (0..WORDS_PER_PAGE)
        .map(|i| i * STRIDE)
        .chain(core::iter::once(PAGE_SIZE as usize / 4 - 1))
}

/// The pattern word at `addr` for `seed`.
fn pattern(addr: usize, seed: u32) -> u32 {
    (addr as u32).rotate_left(7) ^ seed
}

/// Writes the pattern into every page of `[addr, addr + size)`.
///
/// # Safety
/// The range must be mapped read-write for this task and not used for
/// anything else while the caller holds it (an area the server gave it).
pub unsafe fn fill(addr: VirtAddr, size: u32, seed: u32) {
    let base = addr.0 as usize as *mut u32;
    for page in 0..(size / PAGE_SIZE) as usize {
        for w in word_offsets() {
            let i = page * (PAGE_SIZE as usize / 4) + w;
            // SAFETY: inside the range the caller vouches for.
            unsafe {
                let p = base.add(i);
                p.write_volatile(pattern(p as usize, seed));
            }
        }
    }
}

/// Whether every page of the range holds the pattern of `fill(.., seed)`
/// as written at `written_at` (the same frames may be read through another
/// mapping: the pattern follows the address it was written through).
///
/// # Safety
/// The range must be mapped readable for this task while this runs.
pub unsafe fn verify(addr: VirtAddr, size: u32, written_at: VirtAddr, seed: u32) -> bool {
    let base = addr.0 as usize as *const u32;
    let delta = written_at.0.wrapping_sub(addr.0) as usize;
    for page in 0..(size / PAGE_SIZE) as usize {
        for w in word_offsets() {
            let i = page * (PAGE_SIZE as usize / 4) + w;
            // SAFETY: inside the range the caller vouches for.
            let (p, got) = unsafe {
                let p = base.add(i);
                (p, p.read_volatile())
            };
            if got != pattern((p as usize).wrapping_add(delta), seed) {
                error!(
                    "stress: MISMATCH at {:#010x}: {:#010x}, expected {:#010x}",
                    p as usize,
                    got,
                    pattern((p as usize).wrapping_add(delta), seed)
                );
                return false;
            }
        }
    }
    true
}

/// Whether every word of the range is zero (vzalloc).
///
/// # Safety
/// The range must be mapped readable for this task while this runs.
unsafe fn all_zero(addr: VirtAddr, size: u32) -> bool {
    let base = addr.0 as usize as *const u32;
    // SAFETY: inside the range the caller vouches for.
    (0..size as usize / 4).all(|i| unsafe { base.add(i).read_volatile() } == 0)
}

/// Why a case failed (logged once, with the case name).
#[derive(Debug)]
enum Fail {
    /// A request got an error it should not have.
    Request(&'static str, ClientError),
    /// The data read back differs from what was written.
    Data(&'static str),
    /// An address the server returned breaks the request (alignment).
    Check(&'static str, u32),
}

type CaseResult = Result<(), Fail>;

/// Shared state of one run of the suite.
struct Suite<'c> {
    client: &'c Client,
    rng: Rng,
    seed: u32,
    /// Pages written and verified so far.
    pages_verified: u64,
    passed: u32,
    failed: u32,
}

impl<'c> Suite<'c> {
    /// vmalloc with the caller tag of the case, pattern written.
    fn alloc(
        &mut self,
        size: u32,
        align: u32,
        flags: VmallocFlags,
        what: &'static str,
    ) -> Result<(VirtAddr, u32), Fail> {
        let area = self
            .client
            .vmalloc_with(size, align, flags, caller_tag(what))
            .map_err(|e| Fail::Request(what, e))?;
        let (addr, got) = area.into_raw();
        if got < size {
            return Err(Fail::Check(what, got));
        }
        if flags.contains(VmallocFlags::ZEROED) {
            // SAFETY: the server just mapped `got` bytes for this task.
            if !unsafe { all_zero(addr, got) } {
                return Err(Fail::Data(what));
            }
        }
        // SAFETY: the server just mapped `got` bytes read-write for this
        // task; we own the area until we free it.
        unsafe { fill(addr, got, self.seed) };
        Ok((addr, got))
    }

    /// Verifies the pattern, then frees.
    fn check_free(&mut self, (addr, size): (VirtAddr, u32), what: &'static str) -> CaseResult {
        // SAFETY: still mapped: we have not freed it yet.
        if !unsafe { verify(addr, size, addr, self.seed) } {
            return Err(Fail::Data(what));
        }
        self.pages_verified += u64::from(size / PAGE_SIZE);
        let freed = self
            .client
            .vfree_addr(addr)
            .map_err(|e| Fail::Request(what, e))?;
        if freed != size {
            return Err(Fail::Check(what, freed));
        }
        Ok(())
    }

    /// Runs one case `loops` times (the case does its own looping) and
    /// prints its summary.
    fn run_case(
        &mut self,
        name: &'static str,
        loops: u32,
        case: impl FnOnce(&mut Self, u32) -> Result<u32, Fail>,
    ) {
        let t0 = ticks();
        let result = case(self, loops);
        let elapsed = ticks() - t0;
        let (passed, failed, xfailed) = match result {
            Ok(0) => (1, 0, 0),
            Ok(x) => (0, 0, x),
            Err(Fail::Request(what, e)) => {
                error!("stress: {name}: {what}: unexpected {e:?}");
                (0, 1, 0)
            }
            Err(Fail::Data(what)) => {
                error!("stress: {name}: {what}: data MISMATCH");
                (0, 1, 0)
            }
            Err(Fail::Check(what, value)) => {
                error!("stress: {name}: {what} ({value:#x})");
                (0, 1, 0)
            }
        };
        self.passed += passed;
        self.failed += failed;
        info!(
            "Summary: {name} passed: {passed} failed: {failed} xfailed: {xfailed} loops: {loops} avg: {} ticks",
            elapsed / u64::from(loops.max(1))
        );
    }
}

/// A caller tag for vmallocinfo: the first four letters of the case.
fn caller_tag(what: &str) -> u32 {
    let b = what.as_bytes();
    u32::from_be_bytes([
        b.first().copied().unwrap_or(b'?'),
        b.get(1).copied().unwrap_or(b'?'),
        b.get(2).copied().unwrap_or(b'?'),
        b.get(3).copied().unwrap_or(b'?'),
    ])
}

const P: u32 = PAGE_SIZE;

/// Linux: `vmalloc(3 * PAGE_SIZE)` + `vfree` in a loop.
fn fix_size_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    for _ in 0..loops {
        let a = s.alloc(3 * P, P, VmallocFlags::NONE, "fix_size")?;
        s.check_free(a, "fix_size")?;
    }
    Ok(0)
}

/// Linux: fill the space with pairs of 1-page areas, free one of each pair,
/// then allocate and free 1 page in a loop: every allocation must fit a
/// hole exactly.
fn full_fit_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    const JUNK: usize = 256;
    let mut keep = Vec::with_capacity(JUNK);
    let mut junk = Vec::with_capacity(JUNK);
    let mut result = Ok(0);
    for _ in 0..JUNK {
        match (
            s.alloc(P, P, VmallocFlags::NONE, "full_fit"),
            s.alloc(P, P, VmallocFlags::NONE, "full_fit"),
        ) {
            (Ok(a), Ok(b)) => {
                keep.push(a);
                junk.push(b);
            }
            (a, b) => {
                // Free what did come back before reporting.
                keep.extend(a.iter().copied());
                junk.extend(b.iter().copied());
                result = a.and(b).map(|_| 0);
                break;
            }
        }
    }
    for a in junk.drain(..) {
        result = result.and(s.check_free(a, "full_fit").map(|()| 0));
    }
    if result.is_ok() {
        for _ in 0..loops {
            let a = s.alloc(P, P, VmallocFlags::NONE, "full_fit")?;
            s.check_free(a, "full_fit")?;
        }
    }
    for a in keep.drain(..) {
        result = result.and(s.check_free(a, "full_fit").map(|()| 0));
    }
    result
}

/// Linux: 15,000 live 1-page areas (here 5,000 per task: three tasks run
/// at once), then 1-page vmalloc + vfree in a loop over the long busy tree.
fn long_busy_list_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    const BUSY: usize = 5000;
    let mut busy = Vec::with_capacity(BUSY);
    let mut result = Ok(0);
    for _ in 0..BUSY {
        match s.alloc(P, P, VmallocFlags::NONE, "long_busy") {
            Ok(a) => busy.push(a),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        for _ in 0..loops {
            match s.alloc(P, P, VmallocFlags::NONE, "long_busy") {
                Ok(a) => {
                    if let Err(e) = s.check_free(a, "long_busy") {
                        result = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
    }
    for a in busy.drain(..) {
        result = result.and(s.check_free(a, "long_busy").map(|()| 0));
    }
    result
}

/// Linux: 1–100 pages at random.
fn random_size_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    for _ in 0..loops {
        let n = s.rng.range(1, 100);
        let a = s.alloc(n * P, P, VmallocFlags::NONE, "random_size")?;
        s.check_free(a, "random_size")?;
    }
    Ok(0)
}

/// Linux: 5 pages at `THREAD_ALIGN << 1` (ARM: 8 KiB stacks, so 16 KiB).
fn fix_align_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    const ALIGN: u32 = 16 * 1024;
    for _ in 0..loops {
        let a = s.alloc(5 * P, ALIGN, VmallocFlags::NONE, "fix_align")?;
        if a.0 .0 % ALIGN != 0 {
            return Err(Fail::Check("fix_align: misaligned", a.0 .0));
        }
        s.check_free(a, "fix_align")?;
    }
    Ok(0)
}

/// Linux: `align = 1 << (rnd % 23)` (up to 4 MiB), 1–10 pages, zeroed.
fn random_size_align_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    for _ in 0..loops {
        let rnd = s.rng.next();
        let align = 1u32 << (rnd % 23);
        let size = ((rnd >> 8) % 10 + 1) * P;
        let a = s.alloc(size, align, VmallocFlags::ZEROED, "random_align")?;
        if a.0 .0 % align != 0 {
            return Err(Fail::Check("random_align: misaligned", a.0 .0));
        }
        s.check_free(a, "random_align")?;
    }
    Ok(0)
}

/// Linux: one page at every alignment `1 << i`, `i` in 0..32; marked as an
/// expected failure there, because the largest alignments cannot be met.
/// Here: alignments up to 64 MiB must succeed; from 256 MiB (larger than
/// the 240 MiB window) the server must refuse with `BadAlignment`; 128 MiB
/// may fit or get `NoVirtualSpace` (other tasks hold parts of the window).
/// Returns the number of expected failures (the case's xfail count is 1 if
/// there were any, as in Linux).
fn align_shift_alloc_test(s: &mut Suite<'_>, _loops: u32) -> Result<u32, Fail> {
    let mut refused = 0;
    for i in 0..32 {
        let align = 1u32 << i;
        match s.alloc(P, align, VmallocFlags::ZEROED, "align_shift") {
            Ok(a) => {
                if a.0 .0 % align != 0 {
                    s.check_free(a, "align_shift")?;
                    return Err(Fail::Check("align_shift: misaligned", align));
                }
                if i >= 28 {
                    s.check_free(a, "align_shift")?;
                    return Err(Fail::Check("align_shift: larger than the window", align));
                }
                s.check_free(a, "align_shift")?;
            }
            Err(Fail::Request(_, ClientError::Server(ErrorCode::BadAlignment))) if i >= 28 => {
                refused += 1
            }
            Err(Fail::Request(_, ClientError::Server(ErrorCode::NoVirtualSpace))) if i == 27 => {
                refused += 1
            }
            Err(e) => return Err(e),
        }
    }
    // 4 when 128 MiB fitted, 5 when another task held both 128 MiB-aligned
    // addresses of the window.
    info!("stress: align_shift: {refused} alignments of 128 MiB or more refused (expected)");
    Ok(u32::from(refused > 0))
}

/// pcpu-like: many small allocations live at once (Linux's
/// `pcpu_alloc_test` allocates 35,000 small per-CPU chunks), each written,
/// all verified, then freed in random order.
fn pcpu_alloc_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    let mut live = Vec::with_capacity(loops as usize);
    let mut result = Ok(0);
    for _ in 0..loops {
        let size = s.rng.range(8, 1024) & !7;
        match s.alloc(size, 8, VmallocFlags::NONE, "pcpu_alloc") {
            Ok(a) => live.push(a),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    while !live.is_empty() {
        let i = s.rng.next() as usize % live.len();
        let a = live.swap_remove(i);
        result = result.and(s.check_free(a, "pcpu_alloc").map(|()| 0));
    }
    result
}

/// The frame runs behind `[addr, addr + size)`, from `virt_to_phys` page by
/// page, physically adjacent pages merged.
fn frame_runs(client: &Client, addr: VirtAddr, size: u32) -> Result<Vec<PageRun>, ClientError> {
    let mut runs: Vec<PageRun> = Vec::new();
    for page in 0..size / P {
        let phys = client.virt_to_phys(VirtAddr(addr.0 + page * P))?;
        let pfn = phys.pfn();
        match runs.last_mut() {
            Some(r) if r.pfn.0 + r.count == pfn.0 => r.count += 1,
            _ => runs.push(PageRun { pfn, count: 1 }),
        }
    }
    Ok(runs)
}

/// Both views of the same frames: the pattern written through `a` is read
/// back through `b`, then a new one written through `b` is read through
/// `a`.
fn two_views(s: &mut Suite<'_>, a: VirtAddr, b: VirtAddr, size: u32) -> CaseResult {
    // SAFETY: both ranges map the same frames read-write for this task
    // (checked by the server when it made the vmap) and stay mapped until
    // the caller unmaps them after this returns.
    unsafe {
        fill(a, size, s.seed);
        if !verify(b, size, a, s.seed) {
            return Err(Fail::Data("vmap: alias does not see the original's data"));
        }
        fill(b, size, !s.seed);
        if !verify(a, size, b, !s.seed) {
            return Err(Fail::Data("vmap: original does not see the alias's data"));
        }
    }
    s.pages_verified += 2 * u64::from(size / P);
    Ok(())
}

/// vmap of frames the client owns: a DMA buffer's (by address) and a
/// vmalloc area's (by frame runs from `virt_to_phys`); both views must see
/// the same data, and the original cannot be freed while the alias lives.
fn vmap_frames_test(s: &mut Suite<'_>, loops: u32) -> Result<u32, Fail> {
    let client = s.client;
    let req = |what| move |e| Fail::Request(what, e);
    for i in 0..loops {
        // A DMA buffer, aliased whole.
        let pages = 1 + i % 4;
        let dma = client.dma_alloc(pages).map_err(req("dma_alloc"))?;
        let phys = client
            .virt_to_phys(dma.addr())
            .map_err(req("virt_to_phys"))?;
        if phys != dma.phys() {
            return Err(Fail::Check("dma: virt_to_phys differs", phys.0));
        }
        let alias = client
            .vmap(VmapSource::Dma { addr: dma.addr() }, VmapFlags::NONE)
            .map_err(req("vmap(dma)"))?;
        two_views(s, dma.addr(), alias.addr(), dma.size())?;
        client.vunmap(alias).map_err(req("vunmap(dma)"))?;
        client.dma_free(dma).map_err(req("dma_free"))?;

        // A vmalloc area, aliased through its frame runs.
        let size = (2 + i % 7) * P;
        let area = client
            .vmalloc_with(size, P, VmallocFlags::NONE, caller_tag("vmap"))
            .map_err(req("vmalloc"))?;
        let runs = frame_runs(client, area.addr(), area.size()).map_err(req("virt_to_phys"))?;
        let runs = ipc::BoundedVec::from_slice(&runs)
            .ok_or(Fail::Check("vmap: too many runs", runs.len() as u32))?;
        let alias = client
            .vmap(VmapSource::Frames(runs), VmapFlags::NONE)
            .map_err(req("vmap(frames)"))?;
        two_views(s, area.addr(), alias.addr(), area.size())?;
        // The frames are aliased: freeing them now must be refused.
        let (addr, _) = area.into_raw();
        match client.vfree_addr(addr) {
            Err(ClientError::Server(ErrorCode::PermissionDenied)) => {}
            other => {
                error!("stress: vfree of an aliased area -> {other:?}, expected PermissionDenied");
                return Err(Fail::Check("vmap: aliased area freed", addr.0));
            }
        }
        client.vunmap(alias).map_err(req("vunmap(frames)"))?;
        client.vfree_addr(addr).map_err(req("vfree"))?;
    }
    Ok(0)
}

/// Loop counts: small enough that three tasks finish the suite in a few
/// seconds of plain (non-icount) QEMU.
/// A case: runs its loops; `Ok(n)` with `n` expected failures.
type Case = fn(&mut Suite<'_>, u32) -> Result<u32, Fail>;

const CASES: &[(&str, u32, Case)] = &[
    ("fix_size_alloc_test", 500, fix_size_alloc_test),
    ("full_fit_alloc_test", 500, full_fit_alloc_test),
    ("long_busy_list_alloc_test", 500, long_busy_list_alloc_test),
    ("random_size_alloc_test", 200, random_size_alloc_test),
    ("fix_align_alloc_test", 500, fix_align_alloc_test),
    (
        "random_size_align_alloc_test",
        500,
        random_size_align_alloc_test,
    ),
    ("align_shift_alloc_test", 1, align_shift_alloc_test),
    ("pcpu_alloc_test", 1000, pcpu_alloc_test),
    ("vmap_frames_test", 50, vmap_frames_test),
];

/// Runs the suite with `seed`; exits 0 if every case passed (or failed as
/// expected) with its data verified.
pub fn run(seed: u32) -> i32 {
    let client = mem::client(MEMSERVER);
    if let Err(e) = client.ping(seed) {
        error!("stress: ping: {e:?}");
        return 1;
    }
    info!("stress: seed {seed}: {} test cases", CASES.len());
    let mut suite = Suite {
        client: &client,
        rng: Rng::new(seed.wrapping_mul(0x0100_0193) ^ 0x811c_9dc5),
        seed: seed.wrapping_mul(0x9e37_79b9),
        pages_verified: 0,
        passed: 0,
        failed: 0,
    };
    for &(name, loops, case) in CASES {
        suite.run_case(name, loops, case);
        // Snapshot points for the window map (an observer client dumps;
        // the others are refused and print nothing).
        if matches!(name, "full_fit_alloc_test" | "long_busy_list_alloc_test") {
            let label = name.trim_end_matches("_alloc_test");
            if let Err(e) = info::dump_window_map(&client, label) {
                error!("stress: window map after {name}: {e:?}");
                suite.failed += 1;
            }
        }
    }
    if client.drop_failures() != 0 {
        error!("stress: {} frees on drop failed", client.drop_failures());
        suite.failed += 1;
    }
    if suite.failed == 0 {
        info!(
            "stress: all {} test cases passed, {} pages written and verified (seed {seed})",
            CASES.len(),
            suite.pages_verified
        );
        0
    } else {
        error!(
            "stress: {} of {} test cases FAILED (seed {seed})",
            suite.failed,
            CASES.len()
        );
        1
    }
}
