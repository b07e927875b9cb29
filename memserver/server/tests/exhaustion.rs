//! Running out: of window (NoVirtualSpace), of RAM (OutOfMemory), and a
//! kernel that refuses a mapping (Internal) — each with zero leaked frames.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use abi::PAGE_SIZE;
use common::*;
use ipc::ErrorCode;
use memclient::MemType;

use common::server_error as err;

/// Frames the pool handed out equal frames the clients hold (after the
/// parked ones are flushed back).
fn assert_frames_accounted(server: &Rc<RefCell<TestServer>>, pool_pages: u32) {
    let mut s = server.borrow_mut();
    s.purge();
    s.check_invariants().unwrap();
    let held: u32 = [DEV_CLIENT, PLAIN_CLIENT, SMALL_CLIENT]
        .iter()
        .map(|c| s.client(*c).unwrap().usage.pages)
        .sum();
    assert_eq!(pool_pages - s.pool().free_frames(), held, "leaked frames");
}

#[test]
fn exhausting_the_window_is_no_virtual_space() {
    // 64 pages of window, plenty of RAM: 2-page areas + guard = 3 pages.
    const POOL: u32 = 1024;
    let server = Rc::new(RefCell::new(server_with(window(64, 8), POOL)));
    let c = client(&server, PLAIN_CLIENT);
    let mut areas = Vec::new();
    let code = loop {
        match c.vmalloc(2 * PAGE_SIZE) {
            Ok(a) => areas.push(a),
            Err(e) => break err::<()>(Err(e)),
        }
    };
    assert_eq!(code, ErrorCode::NoVirtualSpace);
    assert_eq!(areas.len(), 21);
    assert_frames_accounted(&server, POOL);
    // Other kinds hit the same wall.
    assert_eq!(err(c.dma_alloc(2)), ErrorCode::NoVirtualSpace);
    let dev = client(&server, DEV_CLIENT);
    assert_eq!(
        err(dev.ioremap(UART.start, 0x1000, MemType::Device)),
        ErrorCode::NoVirtualSpace
    );
    // Something larger than the whole window is TooLarge, not NoVirtualSpace.
    assert_eq!(err(c.vmalloc(64 * PAGE_SIZE)), ErrorCode::TooLarge);
    assert_frames_accounted(&server, POOL);
    // Freed (lazily) ranges come back through the purge-and-retry.
    areas.truncate(10);
    let more: Vec<_> = (0..11).map(|_| c.vmalloc(2 * PAGE_SIZE).unwrap()).collect();
    drop((areas, more));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn exhausting_ram_is_out_of_memory() {
    // 64 frames, a big window: 5-page areas until the pool runs dry.
    const POOL: u32 = 64;
    let server = Rc::new(RefCell::new(server_with(window(4096, 1024), POOL)));
    let c = client(&server, PLAIN_CLIENT);
    let mut areas = Vec::new();
    let code = loop {
        match c.vmalloc(5 * PAGE_SIZE) {
            Ok(a) => areas.push(a),
            Err(e) => break err::<()>(Err(e)),
        }
    };
    assert_eq!(code, ErrorCode::OutOfMemory);
    assert_eq!(areas.len(), 12);
    assert_frames_accounted(&server, POOL);
    // The last 4 frames still serve a smaller request; then RAM is gone.
    let last = c.vmalloc(4 * PAGE_SIZE).unwrap();
    assert_eq!(err(c.vmalloc(1)), ErrorCode::OutOfMemory);
    assert_eq!(err(c.dma_alloc(1)), ErrorCode::OutOfMemory);
    assert_eq!(server.borrow().pool().free_frames(), 0);
    assert_frames_accounted(&server, POOL);
    // Frames freed lazily are found by the purge-and-retry.
    drop(last);
    let again = c.vmalloc(4 * PAGE_SIZE).unwrap();
    // More than RAM at all is TooLarge.
    assert_eq!(err(c.vmalloc((POOL + 1) * PAGE_SIZE)), ErrorCode::TooLarge);
    drop((areas, again));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn dma_needs_contiguous_frames() {
    const POOL: u32 = 64;
    let server = Rc::new(RefCell::new(server_with(window(4096, 1024), POOL)));
    let c = client(&server, PLAIN_CLIENT);
    // Fragment the pool: single pages, every other one freed.
    let pages: Vec<_> = (0..POOL).map(|_| c.vmalloc(PAGE_SIZE).unwrap()).collect();
    let kept: Vec<_> = pages
        .into_iter()
        .enumerate()
        .filter_map(|(i, a)| (i % 2 == 0).then_some(a))
        .collect();
    server.borrow_mut().purge();
    assert_eq!(server.borrow().pool().free_frames(), POOL / 2);
    assert_eq!(err(c.dma_alloc(2)), ErrorCode::OutOfMemory);
    assert_frames_accounted(&server, POOL);
    drop(kept);
    let dma = c.dma_alloc(32).unwrap();
    drop(dma);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn a_refused_mapping_is_internal_and_leaks_nothing() {
    const POOL: u32 = 256;
    let server = Rc::new(RefCell::new(server_with(window(1024, 64), POOL)));
    let c = client(&server, DEV_CLIENT);
    let keep = c.vmalloc(3 * PAGE_SIZE).unwrap();
    for kind in 0..4 {
        let dma = (kind == 3).then(|| c.dma_alloc(2).unwrap().into_raw().0);
        let next = server.borrow().mapper().map_calls;
        server.borrow_mut().mapper_mut().fail_map_at = Some(next);
        let code = match kind {
            0 => err(c.vmalloc(8 * PAGE_SIZE)),
            1 => err(c.dma_alloc(4)),
            2 => err(c.ioremap(UART.start, 0x100, MemType::Device)),
            _ => err(c.vmap(
                memclient::VmapSource::Dma { addr: dma.unwrap() },
                memclient::VmapFlags::NONE,
            )),
        };
        assert_eq!(code, ErrorCode::Internal, "kind {kind}");
        server.borrow_mut().mapper_mut().fail_map_at = None;
        server.borrow().check_invariants().unwrap();
    }
    assert_frames_accounted(&server, POOL);
    drop(keep);
    server.borrow_mut().client_exited(DEV_CLIENT);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}
