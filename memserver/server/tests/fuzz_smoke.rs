//! The `server` fuzz target's driver (`tests/common/driver.rs`), run
//! without libFuzzer on PRNG bytes so plain `cargo test` exercises it:
//! several seeds, at least 20,000 requests in all, each session ending
//! with every client gone and the pool holding exactly its boot frames.

mod common;

use common::driver::{Driver, Input};

/// xorshift64*: a fixed, dependency-free byte stream.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn driver_survives_random_sessions() {
    let mut requests = 0u64;
    let mut verified = 0u64;
    let mut ok = 0u64;
    for seed in 1..=8u64 {
        let data = bytes(seed, 60_000);
        let mut d = Driver::new();
        let mut input = Input::new(&data);
        while !input.is_empty() {
            d.step(&mut input);
        }
        d.finish();
        requests += d.figures.requests;
        verified += d.figures.verified_pages;
        ok += d.figures.ok;
    }
    println!("requests {requests}, succeeded {ok}, verified pages {verified}, nothing leaked");
    assert!(requests >= 20_000, "only {requests} requests");
    assert!(ok >= requests / 10, "too few successes to mean much: {ok}");
    assert!(verified > 10_000);
}

/// Short and empty inputs, as libFuzzer starts with.
#[test]
fn driver_handles_tiny_inputs() {
    for n in 0..64 {
        Driver::run(&bytes(n as u64 + 100, n));
    }
}
