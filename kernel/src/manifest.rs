//! The boot manifest: named systems, each a list of tasks with their image,
//! argument, priority, capabilities and supervisor. `system=NAME` on the
//! command line picks one; without it the kernel runs no task.
//!
//! Images are embedded by `build.rs` (see there). The test tasks are one
//! image, `ktest`, whose argument selects the role (the `role` numbers must
//! match `userland/ktest/src/main.rs`).

use abi::EndpointRights;

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
    /// A device range.
    Device {
        /// Physical address (page aligned).
        phys: u32,
        /// Pages.
        pages: u32,
    },
    /// Edit the window of the task at this index in the system.
    VSpace(u8),
    /// A VSpace capability for the memory server: the task at this index is
    /// its client, allowed `quota_pages` pages (carried in the capability,
    /// read back with `cap_info`).
    Client {
        /// Task index.
        task: u8,
        /// Page quota.
        quota_pages: u32,
    },
    /// An interrupt.
    Irq(u32),
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
}

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
    /// Drives the SP804 timer through Device + Irq capabilities.
    pub const IRQTEST: u32 = 11;
}

const SEND: EndpointRights = EndpointRights::SEND;
const RECV: EndpointRights = EndpointRights::RECEIVE;

/// An endpoint capability.
const fn endpoint(ep: u8, badge: u32, rights: EndpointRights) -> CapSpec {
    CapSpec::Endpoint { ep, badge, rights }
}

/// The memory server's own VSpace capability for the task at `task`, with
/// a page quota.
const fn client_of(task: u8, quota_pages: u32) -> CapSpec {
    CapSpec::Client { task, quota_pages }
}

/// The motherboard's system registers (the demo's ioremap target).
const SYSREGS: CapSpec = CapSpec::Device {
    phys: 0x1000_0000,
    pages: 1,
};

const fn ktest(name: &'static str, role: u32, prio: u8, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        name,
        image: images::KTEST,
        arg: role,
        prio,
        caps,
        supervisor: Some(1),
        root: false,
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
            SYSREGS,
            endpoint(0, 0, SEND),
        ],
    ),
    ktest("faulter", role::FAULTER, 3, &[]),
    ktest("spinner", role::SPINNER, 4, &[]),
    ktest("ticker", role::TICKER, 4, &[]),
    ktest(
        "irqtest",
        role::IRQTEST,
        3,
        &[
            CapSpec::VSpace(8),
            CapSpec::Device {
                phys: 0x1001_1000,
                pages: 1,
            },
            CapSpec::Irq(34),
        ],
    ),
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
    }
}

/// The default system: the memory server, a demo client and vmallocinfo.
static DEMO: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 4096),
        SYSREGS,
        client_of(2, 256),
    ]),
    client("demo", tool::DEMO, 2, &[endpoint(0, 2, SEND)]),
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
        client_of(1, 16384),
        client_of(2, 16384),
        client_of(3, 16384),
    ]),
    client(
        "stress1",
        tool::with_param(tool::STRESS, 1),
        2,
        &[server_ep(2)],
    ),
    client(
        "stress2",
        tool::with_param(tool::STRESS, 2),
        2,
        &[server_ep(3)],
    ),
    client(
        "stress3",
        tool::with_param(tool::STRESS, 3),
        2,
        &[server_ep(4)],
    ),
];

/// A hostile client beside an innocent one whose area it tries to free.
/// The hostile one has a small quota (to overrun) and the sysregs page (so
/// it can ask for a device it was not granted beside one it was).
static EVIL: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 64),
        SYSREGS,
        client_of(2, 64),
    ]),
    client("evil", tool::EVIL, 2, &[server_ep(2)]),
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
    client("exhaust", tool::EXHAUST, 2, &[server_ep(2)]),
];

/// The client-side cost benchmark (boot with `--icount`).
static MEMBENCH: &[TaskSpec] = &[
    memserver(&[
        endpoint(0, 0, RECV),
        CapSpec::AllFreeRam,
        client_of(1, 65536),
        SYSREGS,
    ]),
    client("bench", tool::BENCH, 2, &[server_ep(2)]),
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
        name: "bad-images",
        about: "malformed task images are refused; the rest of the system runs",
        tasks: BAD_IMAGES,
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

/// The virtio-mmio transports of vexpress-a9 (all four in one page).
const VIRTIO_MMIO: CapSpec = CapSpec::Device {
    phys: 0x1001_3000,
    pages: 1,
};
/// GIC ID of virtio-mmio transport 0 (SPI 40).
const VIRTIO0_IRQ: u32 = 72;

const fn blk_task(name: &'static str, role: u32, prio: u8, caps: &'static [CapSpec]) -> TaskSpec {
    TaskSpec {
        image: images::BLKDRV,
        ..client(name, role, prio, caps)
    }
}

/// Endpoint 1 is the block service. Driver: task 1, badge 2, granted the
/// transports; client: task 2, badge 3.
macro_rules! blk_system {
    ($driver:expr, $irq:expr, $client:expr) => {
        &[
            memserver(&[
                endpoint(0, 0, RECV),
                CapSpec::AllFreeRam,
                client_of(1, 1024),
                VIRTIO_MMIO,
                client_of(2, 256),
            ]),
            blk_task(
                "blkdrv",
                $driver,
                2,
                &[endpoint(0, 2, SEND), $irq, endpoint(1, 0, RECV)],
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

static BLK: &[TaskSpec] = blk_system!(blk::DRIVER, CapSpec::Irq(VIRTIO0_IRQ), blk::CLIENT_DEMO);
static BLK_TEST: &[TaskSpec] = blk_system!(
    blk::DRIVER,
    CapSpec::Irq(VIRTIO0_IRQ),
    blk::CLIENT_FIRST_BOOT
);
static BLK_TEST2: &[TaskSpec] = blk_system!(
    blk::DRIVER,
    CapSpec::Irq(VIRTIO0_IRQ),
    blk::CLIENT_SECOND_BOOT
);
static BLK_BENCH: &[TaskSpec] = blk_system!(
    blk::DRIVER_BENCH,
    CapSpec::Irq(VIRTIO0_IRQ),
    blk::CLIENT_BENCH
);
static BLK_POLL: &[TaskSpec] = blk_system!(blk::DRIVER, CapSpec::Empty, blk::CLIENT_DEMO);

/// The driver's memory-server client has no Device grant.
static BLK_NOGRANT: &[TaskSpec] = &[
    memserver(&[endpoint(0, 0, RECV), CapSpec::AllFreeRam, client_of(1, 64)]),
    blk_task("blkdrv", blk::NOGRANT, 2, &[endpoint(0, 2, SEND)]),
];
