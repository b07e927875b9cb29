//! The boot manifest: named systems, each a list of tasks with their image,
//! argument, priority, capabilities and supervisor. `system=NAME` on the
//! command line picks one; without it the kernel runs no task.
//!
//! Images are embedded by `build.rs` (see there). The test tasks are one
//! image, `ktest`, whose argument selects the role (the `role` numbers must
//! match `userland/ktest/src/main.rs`).

use abi::{ClientFlags, DeviceRole, EndpointRights};

use crate::images;

/// One capability a task starts with, by slot order.
#[derive(Clone, Copy, Debug)]
// `Empty` keeps a slot free on purpose (tests of empty slots use it).
#[allow(dead_code)]
pub enum CapSpec {
    /// An endpoint capability.
    Endpoint {
        /// Endpoint index in the system.
        ep: u8,
        /// Badge delivered with each send.
        badge: u32,
        /// Rights.
        rights: EndpointRights,
    },
    /// `pages` frames of RAM carved from the free memory at boot.
    PoolPages(u32),
    /// All remaining free RAM, also mapped linearly into the task at
    /// [`LINEAR_MAP_BASE`] (the memory server).
    AllFreeRam,
    /// A device by role and instance: the board resolves it to the pages
    /// holding its registers (and `cap_info` part 1 to its interrupt and
    /// register offset). A task naming a device its board lacks is refused
    /// at boot.
    Dev(DeviceRole, u8),
    /// Edit the window of the task at this index in the system.
    VSpace(u8),
    /// A VSpace capability for the memory server: the task at this index is
    /// its client, allowed `quota_pages` pages of RAM and `window_pages`
    /// pages of window, with `flags` (all carried in the capability, read
    /// back with `cap_info` parts 0 and 1).
    Client {
        /// Task index.
        task: u8,
        /// Page quota (RAM).
        quota_pages: u32,
        /// Window quota in pages (address space, guard pages included).
        window_pages: u32,
        /// What else the client may do (e.g. `OBSERVER`).
        flags: ClientFlags,
    },
    /// The interrupt of a device (by role and instance, as for `Dev`).
    DevIrq(DeviceRole, u8),
    /// An empty slot.
    Empty,
}

/// Where `AllFreeRam` is mapped in the holder's address space.
pub const LINEAR_MAP_BASE: u32 = 0x5000_0000;

/// One boot task.
#[derive(Clone, Copy, Debug)]
pub struct TaskSpec {
    /// Name (log prefix).
    pub name: &'static str,
    /// ELF image.
    pub image: &'static [u8],
    /// Value in r0 at entry.
    pub arg: u32,
    /// Priority, 0 most urgent.
    pub prio: u8,
    /// Capabilities, slot 0 first.
    pub caps: &'static [CapSpec],
    /// Endpoint its fault/exit reports go to.
    pub supervisor: Option<u8>,
    /// Its end ends the run.
    pub root: bool,
    /// Stack size in pages (an unmapped guard page lies below it).
    pub stack_pages: u32,
    /// Kernel-memory quota: how many L2 page tables its window may use.
    /// Reserved from the kernel pool when the task is created.
    pub kmem_tables: u32,
    /// The task faults or exits non-zero on purpose (a test): its failure
    /// does not fail the run.
    pub expect_failure: bool,
}

/// Default stack: 64 KiB.
pub const DEFAULT_STACK_PAGES: u32 = 16;
/// Default L2 page-table quota (each table maps 1 MiB of window): 64 MiB
/// of window spread over distinct MiBs, 64 KiB of kernel pool.
pub const DEFAULT_KMEM_TABLES: u32 = 64;
/// A page-table quota covering the whole default window (240 MiB, one L2
/// table per MiB): for clients whose areas may lie anywhere in it (many
/// clients interleaving areas, or one filling the window).
pub const WINDOW_KMEM_TABLES: u32 = 240;
/// The largest window quota `client_of` gives by default (240 MiB).
pub const MAX_DEFAULT_WINDOW_PAGES: u32 = 61440;

/// A named system.
#[derive(Clone, Copy, Debug)]
pub struct System {
    /// `system=` name.
    pub name: &'static str,
    /// What it demonstrates.
    pub about: &'static str,
    /// Tasks, created in this order (the index is the task's slot).
    pub tasks: &'static [TaskSpec],
}

/// Roles of the `ktest` image.
pub mod role {
    /// Receives fault/exit reports and checks them; ends the run.
    pub const SUPERVISOR: u32 = 1;
    /// Answers calls on slot 0.
    pub const PONG: u32 = 2;
    /// Calls slot 0 and checks the replies.
    pub const PING: u32 = 3;
    /// Makes calls with missing or wrong capabilities.
    pub const CAPCHECK: u32 = 4;
    /// Exercises map_pages/unmap_pages/flush_tlb and their refusals.
    pub const MAPCHECK: u32 = 5;
    /// Touches an unmapped window address.
    pub const FAULTER: u32 = 6;
    /// Spins forever.
    pub const SPINNER: u32 = 7;
    /// Busy-works in rounds; only preemption lets it run beside SPINNER.
    pub const TICKER: u32 = 8;
    /// IPC and map_pages cost benchmark (client, root).
    pub const BENCH_CLIENT: u32 = 9;
    /// Benchmark server.
    pub const BENCH_SERVER: u32 = 10;
    /// Drives the board's timer device (SP804 on vexpress-a9; `virt` has
    /// none, so the task is refused there) through Device + Irq
    /// capabilities.
    pub const IRQTEST: u32 = 11;
    /// Page-table quota (`KernelQuotaExceeded`, tables given back) and
    /// `cap_info` part 1 of a client capability.
    pub const KMEMCHECK: u32 = 12;
    /// Recurses through most of a 1 MiB stack.
    pub const STACKHOG: u32 = 13;
    /// Recurses until it runs off its stack (a stack overflow).
    pub const OVERFLOW: u32 = 14;
    /// Exits with code 3.
    pub const FAILER: u32 = 15;
}

const SEND: EndpointRights = EndpointRights::SEND;
const RECV: EndpointRights = EndpointRights::RECEIVE;

/// An endpoint capability.
const fn endpoint(ep: u8, badge: u32, rights: EndpointRights) -> CapSpec {
    CapSpec::Endpoint { ep, badge, rights }
}

/// The default window quota for a RAM quota: twice the pages (room for
/// guard pages and fragmentation) plus 1 MiB of ioremap/vmap, at most 240
/// MiB.
const fn default_window_pages(quota_pages: u32) -> u32 {
    let w = quota_pages.saturating_mul(2).saturating_add(256);
    if w < MAX_DEFAULT_WINDOW_PAGES {
        w
    } else {
        MAX_DEFAULT_WINDOW_PAGES
    }
}

/// The memory server's own VSpace capability for the task at `task`, with
/// a page quota and the default window quota.
const fn client_of(task: u8, quota_pages: u32) -> CapSpec {
    client_limits(task, quota_pages, default_window_pages(quota_pages))
}

/// [`client_of`] with the `OBSERVER` right (sees every client's areas).
const fn observer_of(task: u8, quota_pages: u32) -> CapSpec {
    CapSpec::Client {
        task,
        quota_pages,
        window_pages: default_window_pages(quota_pages),
        flags: ClientFlags::OBSERVER,
    }
}

/// [`client_of`] for a client that promises to free everything it
/// allocates (`STRICT`): areas it still holds at exit fail the run.
const fn strict_client_of(task: u8, quota_pages: u32) -> CapSpec {
    CapSpec::Client {
        task,
        quota_pages,
        window_pages: default_window_pages(quota_pages),
        flags: ClientFlags::STRICT,
    }
}

/// [`client_of`] with an explicit window quota.
const fn client_limits(task: u8, quota_pages: u32, window_pages: u32) -> CapSpec {
    CapSpec::Client {
        task,
        quota_pages,
        window_pages,
        flags: ClientFlags::NONE,
    }
}

/// The real-time clock (PL031 on both boards): the device the memory-server
/// clients ioremap.
const RTC: CapSpec = CapSpec::Dev(DeviceRole::Rtc, 0);

const fn ktest(name: &'static str, role: u32, prio: u8, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        name,
        image: images::KTEST,
        arg: role,
        prio,
        caps,
        supervisor: Some(1),
        root: false,
        stack_pages: DEFAULT_STACK_PAGES,
        kmem_tables: DEFAULT_KMEM_TABLES,
        expect_failure: false,
    }
}

/// Endpoint 0: ping/pong. Endpoint 1: supervisor reports.
static IPC_TEST: &[TaskSpec] = &[
    TaskSpec {
        supervisor: None,
        root: true,
        ..ktest("supervisor", role::SUPERVISOR, 1, &[endpoint(1, 0, RECV)])
    },
    ktest("pong", role::PONG, 2, &[endpoint(0, 0, RECV)]),
    ktest("ping", role::PING, 2, &[endpoint(0, 0x77, SEND)]),
    ktest(
        "capcheck",
        role::CAPCHECK,
        3,
        &[endpoint(0, 5, RECV), CapSpec::PoolPages(1)],
    ),
    ktest(
        "mapcheck",
        role::MAPCHECK,
        3,
        &[
            CapSpec::VSpace(4),
            CapSpec::PoolPages(16),
            RTC,
            endpoint(0, 0, SEND),
        ],
    ),
    // Faults on purpose (the supervisor checks the report).
    TaskSpec {
        expect_failure: true,
        ..ktest("faulter", role::FAULTER, 3, &[])
    },
    ktest("spinner", role::SPINNER, 4, &[]),
    ktest("ticker", role::TICKER, 4, &[]),
    // A quota of 4 page tables; its VSpace capability is a client
    // capability for itself, so it can read part 1 back.
    TaskSpec {
        kmem_tables: 4,
        ..ktest(
            "kmemcheck",
            role::KMEMCHECK,
            3,
            &[
                CapSpec::Client {
                    task: 8,
                    quota_pages: 100,
                    window_pages: 300,
                    flags: ClientFlags::OBSERVER,
                },
                CapSpec::PoolPages(8),
            ],
        )
    },
    TaskSpec {
        stack_pages: 256,
        ..ktest("stackhog", role::STACKHOG, 3, &[])
    },
    // Runs off its stack on purpose (the supervisor checks the report).
    TaskSpec {
        expect_failure: true,
        ..ktest("overflow", role::OVERFLOW, 3, &[])
    },
];

/// Run status: a task failing unexpectedly fails the run even though the
/// root task exits 0; an expected failure does not. No supervisors: the
/// kernel alone accounts for both.
/// The interrupt path through a device only vexpress-a9 has (the SP804
/// timer): on `virt` the task is refused (`board has no timer`), so this
/// is its own system and `ipc-test` runs on every board.
static IRQ_TEST: &[TaskSpec] = &[TaskSpec {
    root: true,
    supervisor: None,
    ..ktest(
        "irqtest",
        role::IRQTEST,
        2,
        &[
            CapSpec::VSpace(0),
            CapSpec::Dev(DeviceRole::Timer, 0),
            CapSpec::DevIrq(DeviceRole::Timer, 0),
        ],
    )
}];

static FAIL_TEST: &[TaskSpec] = &[
    TaskSpec {
        root: true,
        supervisor: None,
        ..ktest("ticker", role::TICKER, 4, &[])
    },
    TaskSpec {
        supervisor: None,
        ..ktest("failer", role::FAILER, 2, &[])
    },
    TaskSpec {
        supervisor: None,
        expect_failure: true,
        ..ktest("faulter", role::FAULTER, 2, &[])
    },
];

static BENCH: &[TaskSpec] = &[
    TaskSpec {
        root: true,
        supervisor: None,
        ..ktest(
            "bench",
            role::BENCH_CLIENT,
            2,
            &[
                endpoint(0, 1, SEND),
                CapSpec::VSpace(0),
                CapSpec::PoolPages(64),
            ],
        )
    },
    TaskSpec {
        supervisor: None,
        ..ktest("benchsrv", role::BENCH_SERVER, 2, &[endpoint(0, 0, RECV)])
    },
];

/// Roles of the `memtools` image (numbers match
/// `userland/memtools/src/main.rs`).
pub mod tool {
    /// Shows vmalloc, vzalloc, the heap and ioremap at work.
    pub const DEMO: u32 = 1;
    /// Prints vmallocinfo and buddyinfo.
    pub const VMALLOCINFO: u32 = 2;
    /// Linux `test_vmalloc` cases and more; the argument's bits above the
    /// role byte are the random seed ([`with_param`]).
    pub const STRESS: u32 = 3;
    /// A hostile client: bad requests, then a guard-page overrun.
    pub const EVIL: u32 = 4;
    /// vmalloc/vfree/ioremap cost table beside Linux's (run under icount).
    pub const BENCH: u32 = 5;
    /// Holds one area for `EVIL` to try to free; checks it survived.
    pub const INNOCENT: u32 = 6;
    /// Exhausts the window (`NoVirtualSpace`) and RAM (`OutOfMemory`).
    pub const EXHAUST: u32 = 7;
    /// Marks 4 MiB of plain vmalloc memory, frees it and exits.
    pub const ISOLATION_WRITER: u32 = 8;
    /// Takes the whole pool with plain vmalloc and counts marker words.
    pub const ISOLATION_SCANNER: u32 = 9;
    /// Tries to fill the window with vmap, NO_GUARD vmalloc and ioremap.
    pub const WINDOW_HOG: u32 = 10;
    /// vmalloc of 1 MiB while the window hog holds its whole quota.
    pub const WINDOW_VICTIM: u32 = 11;
    /// 1-page areas aligned to 1 MiB until its page-table quota is used up
    /// (parameter: instance number).
    pub const KMEM_HOG: u32 = 12;
    /// Maps after the kmem hogs are full; every map must succeed
    /// (parameter: instance number).
    pub const KMEM_VICTIM: u32 = 13;
    /// Reads back the memory type of DMA, vmalloc and ioremap mappings.
    pub const DMA_ATTRS: u32 = 14;
    /// Touches an unmapped window address (not expected: the run fails).
    pub const FAULT_CLIENT: u32 = 15;
    /// Returns 7 (not expected: the run fails).
    pub const EXIT_NONZERO: u32 = 16;
    /// Recursion over 512 KiB deep (needs a 1 MiB stack), a long log line.
    pub const DEEP_STACK: u32 = 17;
    /// Recursion without bound on the default stack.
    pub const STACK_OVERFLOW: u32 = 18;
    /// The in-guest fuzzer (parameter: seed).
    pub const FUZZ: u32 = 19;
    /// Exits holding three areas from two call sites (the leak report).
    pub const LEAKER: u32 = 20;

    /// A role with a parameter in the bits above the role byte.
    pub const fn with_param(role: u32, param: u32) -> u32 {
        role | param << 8
    }
}

const fn memserver(caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        name: "memserver",
        image: images::MEMSRV,
        arg: 0,
        prio: 1,
        caps,
        supervisor: None,
        root: true,
        stack_pages: DEFAULT_STACK_PAGES,
        kmem_tables: DEFAULT_KMEM_TABLES,
        expect_failure: false,
    }
}

/// A memory-server client: slot 0 is the server's endpoint with the
/// client's task id as badge; its reports go to the server too (endpoint
/// 0, badge = task id), which reclaims what it held.
const fn client(name: &'static str, role: u32, prio: u8, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        name,
        image: images::MEMTOOLS,
        arg: role,
        prio,
        caps,
        supervisor: Some(0),
        root: false,
        stack_pages: DEFAULT_STACK_PAGES,
        kmem_tables: DEFAULT_KMEM_TABLES,
        expect_failure: false,
    }
}

/// The default system: the memory server, a demo client and vmallocinfo.
static DEMO: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        strict_client_of(1, 4096),
        RTC,
        observer_of(2, 256),
    ]),
    // Its own RTC capability tells it the address to ioremap.
    client("demo", tool::DEMO, 2, &[endpoint(0, 2, SEND), RTC]),
    client("vmallocinfo", tool::VMALLOCINFO, 3, &[endpoint(0, 3, SEND)]),
];

/// A memory-server client's slot 0: the server's endpoint, badge = its
/// task id (slot index + 1).
const fn server_ep(badge: u32) -> CapSpec {
    endpoint(0, badge, SEND)
}

/// The stress suite in three tasks at once, each with its own seed.
static STRESS: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        // stress1 is also the observer that dumps the window map.
        CapSpec::Client {
            task: 1,
            quota_pages: 16384,
            window_pages: default_window_pages(16384),
            flags: ClientFlags::STRICT.union(ClientFlags::OBSERVER),
        },
        strict_client_of(2, 16384),
        strict_client_of(3, 16384),
    ]),
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client(
            "stress1",
            tool::with_param(tool::STRESS, 1),
            2,
            &[server_ep(2)],
        )
    },
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client(
            "stress2",
            tool::with_param(tool::STRESS, 2),
            2,
            &[server_ep(3)],
        )
    },
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client(
            "stress3",
            tool::with_param(tool::STRESS, 3),
            2,
            &[server_ep(4)],
        )
    },
];

/// A hostile client beside an innocent one whose area it tries to free.
/// The hostile one has a small quota (to overrun) and the RTC granted (so
/// it can ask for a device it was not granted beside one it was); its own
/// capabilities name the RTC and the console (not granted at the server).
static EVIL: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 64),
        RTC,
        client_of(2, 64),
    ]),
    // Overruns a guard page on purpose (the server reports and reclaims it).
    TaskSpec {
        expect_failure: true,
        ..client(
            "evil",
            tool::EVIL,
            2,
            &[server_ep(2), RTC, CapSpec::Dev(DeviceRole::Console, 0)],
        )
    },
    client("innocent", tool::INNOCENT, 2, &[server_ep(3)]),
];

/// Exhaustion: one client with a quota larger than RAM (boot it with
/// `-m 128M`, so the pool is smaller than the 240 MiB window) runs out of
/// window, then of RAM.
static EXHAUST: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 1 << 20),
    ]),
    // Fills the whole window: a table for every MiB.
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client("exhaust", tool::EXHAUST, 2, &[server_ep(2)])
    },
];

/// The client-side cost benchmark (boot with `--icount`).
static MEMBENCH: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 65536),
        RTC,
    ]),
    // Holds 8,192 live areas with guard pages: 64 MiB and more of window.
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client("bench", tool::BENCH, 2, &[server_ep(2), RTC])
    },
];

/// Isolation: the writer (more urgent) marks 4 MiB of plain vmalloc
/// memory, frees it and exits; the scanner then takes all the pool gives it
/// with plain vmalloc and counts marker words (boot with `--mem 128M`: the
/// pool is then smaller than the scanner's window quota).
static ISOLATION: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 2048),
        client_of(2, 1 << 20),
    ]),
    client("writer", tool::ISOLATION_WRITER, 2, &[server_ep(2)]),
    // Spans the whole pool: a page table for every MiB of the window.
    TaskSpec {
        kmem_tables: WINDOW_KMEM_TABLES,
        ..client("scanner", tool::ISOLATION_SCANNER, 3, &[server_ep(3)])
    },
];

/// A hog with 64 pages of RAM and 256 pages of window, granted the RTC;
/// endpoint 1: the victim wakes the hog when its vmalloc is done.
static WINDOW_HOG: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_limits(1, 64, 256),
        RTC,
        client_of(2, 512),
    ]),
    client(
        "hog",
        tool::WINDOW_HOG,
        2,
        &[server_ep(2), endpoint(1, 0, RECV), RTC],
    ),
    client(
        "victim",
        tool::WINDOW_VICTIM,
        3,
        &[server_ep(3), endpoint(1, 3, SEND)],
    ),
];

/// Page tables each kmem hog may use: 4 hogs span 96 MiB of window.
const KMEM_HOG_TABLES: u32 = 24;

/// A kmem hog: more urgent than the victims, waits on endpoint 1.
const fn kmem_hog(name: &'static str, n: u32, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        kmem_tables: KMEM_HOG_TABLES,
        ..client(name, tool::with_param(tool::KMEM_HOG, n), 2, caps)
    }
}

/// A kmem victim: maps after the hogs are full, then wakes one.
const fn kmem_victim(name: &'static str, n: u32, caps: &'static [CapSpec]) -> TaskSpec {
    client(name, tool::with_param(tool::KMEM_VICTIM, n), 3, caps)
}

/// Four hogs span the window with 1 MiB-aligned 1-page areas (one L2 table
/// each) until their page-table quota is used up; four victims then map
/// 16 such areas each, and every map must succeed.
static KMEM: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 256),
        client_of(2, 256),
        client_of(3, 256),
        client_of(4, 256),
        client_of(5, 256),
        client_of(6, 256),
        client_of(7, 256),
        client_of(8, 256),
    ]),
    kmem_hog("hog1", 1, &[server_ep(2), endpoint(1, 0, RECV)]),
    kmem_hog("hog2", 2, &[server_ep(3), endpoint(1, 0, RECV)]),
    kmem_hog("hog3", 3, &[server_ep(4), endpoint(1, 0, RECV)]),
    kmem_hog("hog4", 4, &[server_ep(5), endpoint(1, 0, RECV)]),
    kmem_victim("victim1", 1, &[server_ep(6), endpoint(1, 6, SEND)]),
    kmem_victim("victim2", 2, &[server_ep(7), endpoint(1, 7, SEND)]),
    kmem_victim("victim3", 3, &[server_ep(8), endpoint(1, 8, SEND)]),
    kmem_victim("victim4", 4, &[server_ep(9), endpoint(1, 9, SEND)]),
];

/// One client reads back the memory types the kernel installed.
static DMA_ATTRS: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 256),
        RTC,
    ]),
    client("dma-attrs", tool::DMA_ATTRS, 2, &[server_ep(2), RTC]),
];

/// A client faults and is not expected to: the run must fail.
static EXIT_FAULT: &[TaskSpec] = &[
    memserver(&[endpoint(0, 0, RECV), CapSpec::AllFreeRam, client_of(1, 64)]),
    client("faulty", tool::FAULT_CLIENT, 2, &[server_ep(2)]),
];

/// A client returns 7 and is not expected to: the run must fail.
static EXIT_NONZERO: &[TaskSpec] = &[
    memserver(&[endpoint(0, 0, RECV), CapSpec::AllFreeRam, client_of(1, 64)]),
    client("quitter", tool::EXIT_NONZERO, 2, &[server_ep(2)]),
];

/// A client exits holding areas: the server prints its leak report; the
/// client is not strict, so the run passes.
static LEAK: &[TaskSpec] = &[
    memserver(&[endpoint(0, 0, RECV), CapSpec::AllFreeRam, client_of(1, 64)]),
    client("leaker", tool::LEAKER, 2, &[server_ep(2)]),
];

/// The same client, strict: its leftover areas fail the run.
static LEAK_STRICT: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        strict_client_of(1, 64),
    ]),
    client("leaker", tool::LEAKER, 2, &[server_ep(2)]),
];

/// A 1 MiB stack for a deep recursion; a default stack overflowed on
/// purpose.
static STACKS: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 64),
        client_of(2, 64),
    ]),
    TaskSpec {
        stack_pages: 256,
        ..client("deepstack", tool::DEEP_STACK, 2, &[server_ep(2)])
    },
    TaskSpec {
        expect_failure: true,
        ..client("overflow", tool::STACK_OVERFLOW, 3, &[server_ep(3)])
    },
];

/// A fuzz instance (parameter: seed), granted the RTC like the others.
const fn fuzzer(name: &'static str, seed: u32, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        stack_pages: 32,
        ..client(name, tool::with_param(tool::FUZZ, seed), 2, caps)
    }
}

/// Three fuzz instances at once (seeds 1-3), same priority: the tick
/// interleaves them, so their random addresses hit each other's areas.
static FUZZ: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 4096),
        RTC,
        client_of(2, 4096),
        RTC,
        client_of(3, 4096),
        RTC,
    ]),
    fuzzer("fuzz1", 1, &[server_ep(2), RTC]),
    fuzzer("fuzz2", 2, &[server_ep(3), RTC]),
    fuzzer("fuzz3", 3, &[server_ep(4), RTC]),
];

/// Not an ELF file at all.
static NOT_ELF: [u8; 64] = [0x5a; 64];

/// A valid ELF header whose program-header table lies past the end of the
/// file (e_phoff = 52, e_phnum = 1, 52 bytes long).
static TRUNCATED_ELF: [u8; 52] = [
    0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // e_ident
    2, 0, 40, 0, 1, 0, 0, 0, // e_type EXEC, e_machine ARM, e_version 1
    0, 0, 1, 0, // e_entry 0x10000
    52, 0, 0, 0, // e_phoff
    0, 0, 0, 0, // e_shoff
    0, 0, 0, 5, // e_flags
    52, 0, 32, 0, 1, 0, // e_ehsize, e_phentsize 32, e_phnum 1
    40, 0, 0, 0, 0, 0, // e_shentsize, e_shnum, e_shstrndx
];

static BAD_IMAGES: &[TaskSpec] = &[
    TaskSpec {
        image: &NOT_ELF,
        ..ktest("garbage", role::PING, 2, &[])
    },
    TaskSpec {
        image: &TRUNCATED_ELF,
        ..ktest("truncated", role::PING, 2, &[])
    },
    TaskSpec {
        root: true,
        supervisor: None,
        ..ktest(
            "capcheck",
            role::CAPCHECK,
            2,
            &[endpoint(0, 5, RECV), CapSpec::PoolPages(1)],
        )
    },
];

/// Every system.
pub static SYSTEMS: &[System] = &[
    System {
        name: "demo",
        about: "the memory server with a demo client and vmallocinfo",
        tasks: DEMO,
    },
    System {
        name: "ipc-test",
        about: "IPC, capabilities, map calls, faults and preemption under test",
        tasks: IPC_TEST,
    },
    System {
        name: "irq-test",
        about: "a task drives the board's timer device through Device and Irq capabilities (vexpress-a9: virt has no timer device)",
        tasks: IRQ_TEST,
    },
    System {
        name: "bad-images",
        about: "malformed task images are refused; the rest of the system runs",
        tasks: BAD_IMAGES,
    },
    System {
        name: "fail-test",
        about: "a task failing unexpectedly fails the run; an expected failure does not",
        tasks: FAIL_TEST,
    },
    System {
        name: "kbench",
        about: "IPC round-trip and map_pages cost",
        tasks: BENCH,
    },
    System {
        name: "stress",
        about:
            "three clients run Linux's test_vmalloc cases at once, data verified; nothing leaked",
        tasks: STRESS,
    },
    System {
        name: "evil",
        about: "a hostile client gets typed errors, overruns a guard page and is killed",
        tasks: EVIL,
    },
    System {
        name: "evil-oom",
        about: "window and RAM exhaustion: NoVirtualSpace, OutOfMemory, no frame leaked (-m 128M)",
        tasks: EXHAUST,
    },
    System {
        name: "bench",
        about: "client vmalloc/vfree/ioremap cost beside Linux 6.1 (boot with --icount)",
        tasks: MEMBENCH,
    },
    System {
        name: "blk",
        about: "the virtio-blk driver (disk on virtio-mmio-bus.0) and a client showing the disk",
        tasks: BLK,
    },
    System {
        name: "blk-test",
        about:
            "virtio-blk: the client verifies the host's pattern, writes sectors and reads them back",
        tasks: BLK_TEST,
    },
    System {
        name: "blk-test2",
        about: "virtio-blk: a second boot reads back what blk-test wrote",
        tasks: BLK_TEST2,
    },
    System {
        name: "blk-bench",
        about: "virtio-blk: 4 MiB sequential read in the driver and through the block service",
        tasks: BLK_BENCH,
    },
    System {
        name: "blk-poll",
        about: "virtio-blk without an IRQ capability: completion by polling",
        tasks: BLK_POLL,
    },
    System {
        name: "blk-nogrant",
        about: "a driver without a device grant asks to ioremap the virtio transports: refused",
        tasks: BLK_NOGRANT,
    },
    System {
        name: "isolation",
        about: "freed data never reaches the next client: a scanner takes the whole pool and finds no marker (--mem 128M)",
        tasks: ISOLATION,
    },
    System {
        name: "window-hog",
        about: "a small-quota client is stopped by its window quota; another client's vmalloc of 1 MiB succeeds",
        tasks: WINDOW_HOG,
    },
    System {
        name: "kmem",
        about: "hogs use up their own page-table quotas; the victims' maps all succeed",
        tasks: KMEM,
    },
    System {
        name: "dma-attrs",
        about: "DMA buffers map uncached, vmalloc cached, ioremap as device memory (read back from the kernel)",
        tasks: DMA_ATTRS,
    },
    System {
        name: "exit-fault",
        about: "a client faults unexpectedly: the run fails",
        tasks: EXIT_FAULT,
    },
    System {
        name: "exit-nonzero",
        about: "a client returns non-zero unexpectedly: the run fails",
        tasks: EXIT_NONZERO,
    },
    System {
        name: "leak",
        about: "a client exits holding areas: the server prints the leak report grouped by caller",
        tasks: LEAK,
    },
    System {
        name: "leak-strict",
        about: "a strict client exits holding areas: the leak report fails the run",
        tasks: LEAK_STRICT,
    },
    System {
        name: "stacks",
        about: "a 1 MiB stack runs a deep recursion; a default stack overflows and is reported",
        tasks: STACKS,
    },
    System {
        name: "fuzz",
        about: "three fuzz instances send valid and hostile requests; data verified; nothing leaked",
        tasks: FUZZ,
    },
];

/// The system called `name`.
pub fn find(name: &str) -> Option<&'static System> {
    SYSTEMS.iter().find(|s| s.name == name)
}

/// Roles of the `blkdrv` image (numbers match `userland/blkdrv/src`): the
/// low byte is the role, the bits above it its parameter.
pub mod blk {
    /// The driver and block service (parameter bit 0: benchmark first).
    pub const DRIVER: u32 = 1;
    /// The driver with the benchmark.
    pub const DRIVER_BENCH: u32 = DRIVER | 1 << 8;
    /// A block-service client; the parameter is the scenario.
    pub const CLIENT: u32 = 2;
    /// Shows the disk.
    pub const CLIENT_DEMO: u32 = CLIENT | 1 << 8;
    /// Verifies the host pattern, writes, reads back.
    pub const CLIENT_FIRST_BOOT: u32 = CLIENT | 2 << 8;
    /// Reads back what the first boot wrote.
    pub const CLIENT_SECOND_BOOT: u32 = CLIENT | 3 << 8;
    /// Benchmark through the service.
    pub const CLIENT_BENCH: u32 = CLIENT | 4 << 8;
    /// Asks to ioremap the transports without a grant.
    pub const NOGRANT: u32 = 3;
}

/// virtio-mmio transport `i`.
const fn virtio(i: u8) -> CapSpec {
    CapSpec::Dev(DeviceRole::VirtioMmio, i)
}
/// The interrupt of virtio-mmio transport 0 (where the disk is).
const VIRTIO0_IRQ: CapSpec = CapSpec::DevIrq(DeviceRole::VirtioMmio, 0);

const fn blk_task(name: &'static str, role: u32, prio: u8, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        image: images::BLKDRV,
        ..client(name, role, prio, caps)
    }
}

/// Endpoint 1 is the block service. Driver: task 1, badge 2, granted
/// virtio-mmio transports 0-3 at the server and holding capabilities for
/// them (slots 3-6: their addresses and interrupts); client: task 2,
/// badge 3.
macro_rules! blk_system {
    ($driver:expr, $irq:expr, $client:expr) => {
        &[
            memserver(&[
                endpoint(0, 0, RECV),
                CapSpec::AllFreeRam,
                client_of(1, 1024),
                virtio(0),
                virtio(1),
                virtio(2),
                virtio(3),
                client_of(2, 256),
            ]),
            blk_task(
                "blkdrv",
                $driver,
                2,
                &[
                    endpoint(0, 2, SEND),
                    $irq,
                    endpoint(1, 0, RECV),
                    virtio(0),
                    virtio(1),
                    virtio(2),
                    virtio(3),
                ],
            ),
            blk_task(
                "blkclient",
                $client,
                3,
                &[endpoint(0, 3, SEND), endpoint(1, 3, SEND)],
            ),
        ]
    };
}

static BLK: &[TaskSpec] = blk_system!(blk::DRIVER, VIRTIO0_IRQ, blk::CLIENT_DEMO);
static BLK_TEST: &[TaskSpec] = blk_system!(blk::DRIVER, VIRTIO0_IRQ, blk::CLIENT_FIRST_BOOT);
static BLK_TEST2: &[TaskSpec] = blk_system!(blk::DRIVER, VIRTIO0_IRQ, blk::CLIENT_SECOND_BOOT);
static BLK_BENCH: &[TaskSpec] = blk_system!(blk::DRIVER_BENCH, VIRTIO0_IRQ, blk::CLIENT_BENCH);
static BLK_POLL: &[TaskSpec] = blk_system!(blk::DRIVER, CapSpec::Empty, blk::CLIENT_DEMO);

/// The driver's memory-server client has no Device grant; its own
/// capability for transport 0 only tells it the address it asks for.
static BLK_NOGRANT: &[TaskSpec] = &[
    memserver(&[endpoint(0, 0, RECV), CapSpec::AllFreeRam, client_of(1, 64)]),
    blk_task(
        "blkdrv",
        blk::NOGRANT,
        2,
        &[endpoint(0, 2, SEND), virtio(0)],
    ),
];
