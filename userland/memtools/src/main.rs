//! Client tasks of the memory server. One image; the boot manifest's
//! argument picks the role (numbers match `kernel/src/manifest.rs`,
//! `mod tool`). Every client talks to the server through capability slot 0.
//!
//! The argument's low byte is the role; the bits above it are a parameter
//! of the role (the stress suite's random seed), so several tasks of one
//! role can differ without new role numbers.
#![no_std]
#![no_main]

extern crate alloc;

mod bench;
mod demo;
mod evil;
mod info;
mod stress;

use abi::CapSlot;
use log::error;

/// The memory server's endpoint in every client.
pub const MEMSERVER: CapSlot = CapSlot(0);

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
        other => {
            error!("unknown role {other}");
            2
        }
    }
}
