//! The client-side cost benchmark: guest instructions per vmalloc + vfree
//! (and ioremap + iounmap) as a client sees them — IPC round trips, the
//! server's work and the kernel's map/unmap calls included — beside Linux
//! 6.1's in-kernel figures on the same emulated CPU (PLATFORM.md, "Linux on
//! the same emulated CPU"), with the ratio and the goals.
//!
//! Meaningful under `-icount shift=0` (`runner bench`, `./run.sh bench`):
//! one guest instruction then takes 1 ns, so instructions = counter ticks
//! × 10^9 / the counter frequency `read_counter` reports (100 MHz on
//! vexpress-a9: 10 per tick; 62.5 MHz on virt under TCG: 16 per tick). As
//! in Linux's figures, every allocated page is touched once.
//!
//! The ioremap row maps the client's granted device, the real-time clock
//! (PL031), which both boards have; the cost of a 1-page ioremap does not
//! depend on the device.
//!
//! Like with like: Linux's column is Debian's kernel with
//! `INIT_ON_ALLOC_DEFAULT_ON`, which zeroes every page it allocates (about
//! 475 instructions a page); the memory server zeroes every frame before a
//! client gets it (issue 10: no frame carries data across owners), so both
//! columns include zeroing.

use alloc::vec::Vec;
use core::fmt::Write;

use abi::{PhysAddr, VirtAddr, PAGE_SIZE};
use log::{error, info};
use memclient::{ClientError, MemType, VmallocFlags};
use userlib::{dev, mem, sys};

use crate::info::Line;
use crate::stress::{Client, Rng};
use crate::MEMSERVER;

const P: u32 = PAGE_SIZE;
/// Caller tag of the benchmark's areas ("bnch").
const TAG: u32 = 0x626e_6368;

/// What one row measures.
#[derive(Clone, Copy)]
enum Op {
    /// vmalloc + touch + vfree of this many pages.
    Pages(u32),
    /// 1–100 pages at random.
    RandomPages,
    /// 1 page with this many 1-page areas live.
    Busy(u32),
    /// 1 page with this many areas live, each next to a freed one.
    Holes(u32),
    /// 1 page aligned to this many pages.
    Aligned(u32),
    /// ioremap + iounmap of one device page.
    Ioremap,
    /// One `Ping` round trip: the fixed cost of a request.
    Ping,
}

/// One row: label, operation, loops, Linux's figure, goal (ratio).
struct Row {
    label: &'static str,
    op: Op,
    loops: u32,
    linux: u32,
    goal: Option<f32>,
}

const ROWS: &[Row] = &[
    Row {
        label: "ping (request round trip, no work)",
        op: Op::Ping,
        loops: 5000,
        linux: 0,
        goal: None,
    },
    Row {
        label: "vmalloc+vfree, 1 page",
        op: Op::Pages(1),
        loops: 5000,
        linux: 4050,
        goal: Some(0.75),
    },
    Row {
        label: "vmalloc+vfree, 4 pages",
        op: Op::Pages(4),
        loops: 5000,
        linux: 6979,
        goal: None,
    },
    Row {
        label: "vmalloc+vfree, 16 pages",
        op: Op::Pages(16),
        loops: 5000,
        linux: 19150,
        goal: Some(0.4),
    },
    Row {
        label: "vmalloc+vfree, 64 pages",
        op: Op::Pages(64),
        loops: 2000,
        linux: 67843,
        goal: Some(0.3),
    },
    Row {
        label: "vmalloc+vfree, random 1-100 pages",
        op: Op::RandomPages,
        loops: 2000,
        linux: 53880,
        goal: None,
    },
    Row {
        label: "vmalloc+vfree, 1 page, 5,000 live",
        op: Op::Busy(5000),
        loops: 5000,
        linux: 4485,
        goal: None,
    },
    Row {
        label: "vmalloc+vfree, 1 page, into holes (8,192 live)",
        op: Op::Holes(8192),
        loops: 5000,
        linux: 4830,
        goal: None,
    },
    Row {
        label: "vmalloc+vfree, 1 page, 16-page alignment",
        op: Op::Aligned(16),
        loops: 5000,
        linux: 6361,
        goal: None,
    },
    Row {
        label: "ioremap+iounmap, 1 page",
        op: Op::Ioremap,
        loops: 5000,
        linux: 2476,
        goal: None,
    },
];

/// vmalloc, touch every page once, vfree.
fn alloc_touch_free(client: &Client, size: u32, align: u32) -> Result<(), ClientError> {
    let (addr, got) = client
        .vmalloc_with(size, align, VmallocFlags::NONE, TAG)?
        .into_raw();
    touch(addr, got);
    client.vfree_addr(addr).map(|_| ())
}

fn touch(addr: VirtAddr, size: u32) {
    for page in 0..size / P {
        let p = (addr.0 + page * P) as usize as *mut u32;
        // SAFETY: the server just mapped `size` bytes read-write at `addr`
        // for this task, and nothing else uses the area until it is freed.
        unsafe { p.write_volatile(page) };
    }
}

/// `n` live 1-page areas (touched), for the rows that need a busy window.
fn live_areas(client: &Client, n: u32) -> Result<Vec<VirtAddr>, ClientError> {
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (addr, size) = client
            .vmalloc_with(P, P, VmallocFlags::NONE, TAG)?
            .into_raw();
        touch(addr, size);
        v.push(addr);
    }
    Ok(v)
}

fn free_all(client: &Client, areas: &[VirtAddr]) -> Result<(), ClientError> {
    areas
        .iter()
        .try_for_each(|&a| client.vfree_addr(a).map(|_| ()))
}

/// Runs `f` `loops` times (after a few warm-up rounds); nanoseconds of
/// counter time per loop (instructions under icount), rounded.
fn per_op(loops: u32, mut f: impl FnMut() -> Result<(), ClientError>) -> Result<u64, ClientError> {
    for _ in 0..16 {
        f()?;
    }
    let (t0, hz) = sys::read_counter();
    for _ in 0..loops {
        f()?;
    }
    let t = sys::read_counter().0 - t0;
    Ok((dev::ticks_to_ns(t, hz) + u64::from(loops) / 2) / u64::from(loops))
}

fn measure(
    client: &Client,
    row: &Row,
    rng: &mut Rng,
    device: PhysAddr,
) -> Result<u64, ClientError> {
    match row.op {
        Op::Pages(n) => per_op(row.loops, || alloc_touch_free(client, n * P, P)),
        Op::RandomPages => per_op(row.loops, || {
            alloc_touch_free(client, rng.range(1, 100) * P, P)
        }),
        Op::Busy(n) => {
            let live = live_areas(client, n)?;
            let r = per_op(row.loops, || alloc_touch_free(client, P, P));
            free_all(client, &live)?;
            r
        }
        Op::Holes(n) => {
            // 2n areas, every other one freed: n live areas with a
            // one-area hole after each.
            let all = live_areas(client, 2 * n)?;
            let (live, holes): (Vec<_>, Vec<_>) = all.chunks(2).map(|c| (c[0], c[1])).unzip();
            free_all(client, &holes)?;
            let r = per_op(row.loops, || alloc_touch_free(client, P, P));
            free_all(client, &live)?;
            r
        }
        Op::Aligned(n) => per_op(row.loops, || alloc_touch_free(client, P, n * P)),
        Op::Ping => per_op(row.loops, || client.ping(7)),
        Op::Ioremap => per_op(row.loops, || {
            let m = client.ioremap(device, P, MemType::Device)?;
            client.iounmap(m)
        }),
    }
}

/// `x.yz` of a ratio in hundredths (no float formatting needed).
struct Ratio(u64);

impl core::fmt::Display for Ratio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Through a buffer, so the caller's width and alignment apply.
        let mut l = Line::new();
        let _ = write!(l, "{}.{:02}x", self.0 / 100, self.0 % 100);
        f.pad(l.as_str())
    }
}

/// A quicker mode for profiling builds: `MEMTOOLS_BENCH_ONLY="0,1"` at
/// build time runs only the rows with these indices (0 = ping, 1 = one
/// page), and `MEMTOOLS_BENCH_LOOPS=n` caps every row's loop count.
const ONLY: Option<&str> = option_env!("MEMTOOLS_BENCH_ONLY");
const LOOPS: Option<&str> = option_env!("MEMTOOLS_BENCH_LOOPS");

fn selected(index: usize) -> bool {
    ONLY.is_none_or(|list| list.split(',').any(|i| i.trim().parse() == Ok(index)))
}

fn loops_of(row: &Row) -> u32 {
    LOOPS
        .and_then(|n| n.trim().parse::<u32>().ok())
        .map_or(row.loops, |n| n.clamp(1, row.loops))
}

/// Runs every row (or the [`ONLY`] ones) and prints the table.
pub fn run() -> i32 {
    let client = mem::client(MEMSERVER);
    if let Err(e) = client.ping(5) {
        error!("bench: ping: {e:?}");
        return 1;
    }
    let Some(granted) = crate::granted_device("bench") else {
        return 1;
    };
    let (_, hz) = sys::read_counter();
    // Hundredths of an instruction per tick, for the header line.
    let per_tick = dev::ticks_to_ns(100, hz);
    info!(
        "bench: client-side cost in guest instructions per operation (counter at {hz} Hz: 1 tick = {}.{:02} instructions under -icount shift=0)",
        per_tick / 100,
        per_tick % 100
    );
    info!(
        "bench: the ioremap row maps the granted {} at {:#010x}",
        dev::role_name(granted.role()),
        granted.page()
    );
    info!("bench: Linux 6.1 = in-kernel figures on the same emulated CPU (PLATFORM.md), booted with init_on_alloc: it zeroes every page it allocates");
    info!("bench: ours zeroes every page it hands out too (no frame carries data across owners): both columns count zeroing, like with like");
    info!(
        "| {:<48} | {:>5} | {:>8} | {:>9} | {:>10} | {:<16} |",
        "operation", "loops", "ours", "Linux 6.1", "ours/Linux", "goal"
    );
    info!(
        "|{:-<50}|{:->7}|{:->10}|{:->11}|{:->12}|{:-<18}|",
        "", "", "", "", "", ""
    );
    let mut rng = Rng::new(0x00be_4c11);
    let (mut met, mut goals) = (0, 0);
    for (index, row) in ROWS.iter().enumerate() {
        if !selected(index) {
            continue;
        }
        let row = &Row {
            loops: loops_of(row),
            ..*row
        };
        let ours = match measure(&client, row, &mut rng, PhysAddr(granted.page())) {
            Ok(v) => v,
            Err(e) => {
                error!("bench: {}: {e:?}", row.label);
                return 1;
            }
        };
        let ratio = (ours * 100 + u64::from(row.linux) / 2)
            .checked_div(u64::from(row.linux))
            .map(Ratio);
        let mut goal = Line::new();
        if let Some(g) = row.goal {
            goals += 1;
            // Compare exactly: ours / linux <= g  <=>  ours * 100 <= g% * linux.
            let g100 = (g * 100.0) as u64;
            let ok = ours * 100 <= g100 * u64::from(row.linux);
            met += u32::from(ok);
            let verdict = if ok { "MET" } else { "NOT MET" };
            let _ = write!(goal, "<= {} {verdict}", Ratio(g100));
        } else {
            let _ = write!(goal, "-");
        }
        // Rows without a Linux figure (linux = 0) show dashes.
        let mut linux = Line::new();
        let mut vs = Line::new();
        match ratio {
            Some(r) => {
                let _ = write!(linux, "{}", row.linux);
                let _ = write!(vs, "{r}");
            }
            None => {
                let _ = write!(linux, "-");
                let _ = write!(vs, "-");
            }
        }
        info!(
            "| {:<48} | {:>5} | {:>8} | {:>9} | {:>10} | {:<16} |",
            row.label,
            row.loops,
            ours,
            linux.as_str(),
            vs.as_str(),
            goal.as_str()
        );
    }
    info!("bench: {met} of {goals} goals met");
    0
}
