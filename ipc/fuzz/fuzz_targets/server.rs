//! The real memory server (`memserver::Server`, its buddy pool, vmap
//! window and memcore) over a fake kernel that models page tables and
//! frame contents. The input drives several clients: structured valid
//! requests, the same mutated, raw bytes, exits, faults, purges and
//! read-backs of the clients' data (see the driver's docs). No panic,
//! no `Internal`, the server's invariants after every step, every frame a
//! client receives zeroed and its data intact, `Info`/`Stats` private,
//! and after every client exits and a purge the pool holds exactly its
//! boot frames.
//!
//! The driver and the fake kernel are the host tests' own
//! (`memserver/server/tests/common/`), included by path so both run the
//! same code; `cargo test -p memserver --test fuzz_smoke` runs the
//! driver on PRNG bytes without libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../memserver/server/tests/common/fake_mapper.rs"]
mod fake_mapper;

#[path = "../../../memserver/server/tests/common/driver.rs"]
mod driver;

fuzz_target!(|data: &[u8]| {
    driver::Driver::run(data);
});
