//! The virtio-blk driver image: a userland driver on `virtio-drivers`
//! whose device and DMA memory come from the memory server, the block
//! service it offers over IPC, and a client of that service. One image;
//! the boot manifest's argument picks the role (numbers match
//! `kernel/src/manifest.rs`, `mod blk`): the low byte is the role, the
//! bits above it a parameter (driver options, client scenario).
//!
//! Capability slots: 0 = the memory server (every role). Driver: 1 = the
//! transport's IRQ (empty: poll), 2 = the block service endpoint (receive),
//! then one information-only Device capability per virtio-mmio transport
//! (the driver finds the IRQ and the transports by type and role, in any
//! slot). Client: 1 = the block service endpoint (send). Nogrant: a
//! transport's Device capability, with no grant at the server.
#![no_std]
#![no_main]

extern crate alloc;

mod client;
mod driver;
mod hal;
mod mmio;
mod proto;

use abi::CapSlot;
use log::error;

/// The memory server's endpoint.
pub const MEMSERVER: CapSlot = CapSlot(0);

/// A memory-server client.
pub type Client = userlib::mem::Client;

/// `Vec` memory, grown through vmalloc.
#[global_allocator]
pub static HEAP: userlib::heap::VmallocHeap = userlib::heap::VmallocHeap::new();

const DRIVER: u32 = 1;
const CLIENT: u32 = 2;
const NOGRANT: u32 = 3;

#[no_mangle]
pub fn task_main(arg: u32) -> i32 {
    userlib::init_logger();
    HEAP.init(MEMSERVER);
    let param = arg >> 8;
    match arg & 0xff {
        DRIVER => driver::run(param),
        CLIENT => client::run(param),
        NOGRANT => driver::nogrant(),
        other => {
            error!("blkdrv: unknown role {other}");
            2
        }
    }
}
