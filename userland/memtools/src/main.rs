//! Client tasks of the memory server. One image; the boot manifest's
//! argument picks the role (numbers match `kernel/src/manifest.rs`,
//! `mod tool`). Every client talks to the server through capability slot 0.
//!
//! The argument's low byte is the role; the bits above it are a parameter
//! of the role (the stress suite's and the fuzzer's random seed, the
//! instance number of a kmem hog or victim), so several tasks of one role
//! can differ without new role numbers.
#![no_std]
#![no_main]

extern crate alloc;

mod bench;
mod checks;
mod demo;
mod device;
mod evil;
mod fuzz;
mod info;
mod isolation;
mod stress;

use abi::{CapSlot, DeviceRole};
use log::error;
use userlib::dev;

/// The memory server's endpoint in every client.
pub const MEMSERVER: CapSlot = CapSlot(0);

/// The device the manifest granted this client: its own Device capability
/// (information only: the client has no VSpace capability, so it maps the
/// device through the server's `ioremap`, which the server's grant for it
/// allows). The clients' grant is the real-time clock (both boards have
/// one); without an RTC capability, the first Device capability. The
/// kernel's board layer resolved its address; none is built in here. Logs
/// and returns `None` when there is none.
pub fn granted_device(task: &str) -> Option<dev::Device> {
    let d = dev::find(DeviceRole::Rtc).or_else(|| dev::devices().next());
    if d.is_none() {
        error!("{task}: no Device capability: the manifest granted no device");
    }
    d
}

/// `Vec` and `Box` memory, grown through vmalloc.
#[global_allocator]
pub static HEAP: userlib::heap::VmallocHeap = userlib::heap::VmallocHeap::new();

const DEMO: u32 = 1;
const VMALLOCINFO: u32 = 2;
const STRESS: u32 = 3;
const EVIL: u32 = 4;
const BENCH: u32 = 5;
const INNOCENT: u32 = 6;
const EXHAUST: u32 = 7;
const ISOLATION_WRITER: u32 = 8;
const ISOLATION_SCANNER: u32 = 9;
const WINDOW_HOG: u32 = 10;
const WINDOW_VICTIM: u32 = 11;
const KMEM_HOG: u32 = 12;
const KMEM_VICTIM: u32 = 13;
const DMA_ATTRS: u32 = 14;
const FAULT_CLIENT: u32 = 15;
const EXIT_NONZERO: u32 = 16;
const DEEP_STACK: u32 = 17;
const STACK_OVERFLOW: u32 = 18;
const FUZZ: u32 = 19;
const LEAKER: u32 = 20;

#[no_mangle]
pub fn task_main(arg: u32) -> i32 {
    userlib::init_logger();
    HEAP.init(MEMSERVER);
    let param = arg >> 8;
    match arg & 0xff {
        DEMO => demo::run(),
        VMALLOCINFO => info::run(),
        STRESS => stress::run(param),
        EVIL => evil::run(),
        BENCH => bench::run(),
        INNOCENT => evil::innocent(),
        EXHAUST => evil::exhaust(),
        ISOLATION_WRITER => isolation::writer(),
        ISOLATION_SCANNER => isolation::scanner(),
        WINDOW_HOG => isolation::window_hog(),
        WINDOW_VICTIM => isolation::window_victim(),
        KMEM_HOG => isolation::kmem_hog(param),
        KMEM_VICTIM => isolation::kmem_victim(param),
        DMA_ATTRS => checks::dma_attrs(),
        FAULT_CLIENT => checks::fault_client(),
        EXIT_NONZERO => checks::exit_nonzero(),
        DEEP_STACK => checks::deep_stack(),
        STACK_OVERFLOW => checks::stack_overflow(),
        FUZZ => fuzz::run(param),
        LEAKER => checks::leaker(),
        other => {
            error!("unknown role {other}");
            2
        }
    }
}
