//! Client tasks of the memory server. One image; the boot manifest's
//! argument picks the role (numbers match `kernel/src/manifest.rs`,
//! `mod tool`). Every client talks to the server through capability slot 0.
#![no_std]
#![no_main]

extern crate alloc;

mod demo;
mod info;

use abi::CapSlot;
use log::error;

/// The memory server's endpoint in every client.
pub const MEMSERVER: CapSlot = CapSlot(0);

/// `Vec` and `Box` memory, grown through vmalloc.
#[global_allocator]
pub static HEAP: userlib::heap::VmallocHeap = userlib::heap::VmallocHeap::new();

const DEMO: u32 = 1;
const VMALLOCINFO: u32 = 2;

#[no_mangle]
pub fn task_main(role: u32) -> i32 {
    userlib::init_logger();
    HEAP.init(MEMSERVER);
    match role {
        DEMO => demo::run(),
        VMALLOCINFO => info::run(),
        other => {
            error!("unknown role {other}");
            2
        }
    }
}
