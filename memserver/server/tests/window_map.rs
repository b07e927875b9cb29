//! The window map (`WindowMap`, observers only): busy, lazily freed and
//! free ranges that tile the window exactly, page by page, and agree with
//! the vmallocinfo listing of the same moment.

mod common;

use abi::PAGE_SIZE;
use common::*;
use ipc::*;
use memclient::VmallocFlags;

/// Every range of the map, checked to tile the window from its start to
/// its end with no gap and no overlap.
fn tiled(c: &Client) -> (WindowMapOk, Vec<WindowRange>) {
    let mut ranges = Vec::new();
    let first = c.window_map_all(|r| ranges.push(*r)).unwrap();
    let mut at = u64::from(first.window_start.0);
    for r in &ranges {
        assert_eq!(u64::from(r.start.0), at, "gap or overlap before {r:?}");
        assert!(r.size > 0, "empty range {r:?}");
        assert!(!r.guard || r.state == RangeState::Busy);
        at = r.reserved_end();
    }
    assert_eq!(
        at,
        u64::from(first.window_start.0) + u64::from(first.window_size),
        "the map ends at the window end"
    );
    (first, ranges)
}

fn count(ranges: &[WindowRange], state: RangeState) -> usize {
    ranges.iter().filter(|r| r.state == state).count()
}

#[test]
fn an_empty_window_is_one_free_range() {
    let server = shared_server(1024);
    let c = client(&server, OBSERVER);
    let (first, ranges) = tiled(&c);
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].state, RangeState::Free);
    assert_eq!(first.largest_free, first.window_size);
    assert_eq!(first.lazy_frames, 0);
}

#[test]
fn the_map_tiles_the_window_across_pages_and_matches_vmallocinfo() {
    let server = shared_server(4096);
    let observer = client(&server, OBSERVER);
    let plain = client(&server, PLAIN_CLIENT);
    // More areas than one reply carries, some without a guard page, an
    // ioremap, then every third freed (lazily: on the purge list).
    let mut kept = Vec::new();
    for n in 0..(WINDOW_MAP_MAX_RANGES as u32 + 60) {
        let flags = if n % 5 == 0 {
            VmallocFlags::NO_GUARD
        } else {
            VmallocFlags::NONE
        };
        let who = if n % 2 == 0 { &observer } else { &plain };
        let area = who
            .vmalloc_with((1 + n % 3) * PAGE_SIZE, PAGE_SIZE, flags, 0x1000 + n)
            .unwrap();
        kept.push(area);
    }
    let io = observer
        .ioremap(UART.start, 0x100, MemType::Device)
        .unwrap();
    let mut n = 0;
    kept.retain(|_| {
        n += 1;
        n % 3 != 0
    });

    let (first, ranges) = tiled(&observer);
    assert!(first.next_cursor.is_some(), "more than one page");
    let mut records = Vec::new();
    observer.info_all(|r| records.push(*r)).unwrap();
    assert_eq!(count(&ranges, RangeState::Busy), records.len());
    assert_eq!(records.len(), kept.len() + 1);
    for (r, rec) in ranges
        .iter()
        .filter(|r| r.state == RangeState::Busy)
        .zip(&records)
    {
        assert_eq!(r.start, rec.start);
        assert_eq!(
            u64::from(rec.start.0) + u64::from(rec.size),
            r.reserved_end()
        );
        assert_eq!((r.owner, r.kind), (rec.owner, rec.kind));
    }
    assert!(
        count(&ranges, RangeState::Lazy) > 0,
        "freed areas wait for the purge"
    );
    assert!(first.lazy_frames > 0);
    let largest = ranges
        .iter()
        .filter(|r| r.state == RangeState::Free)
        .map(|r| r.size)
        .max()
        .unwrap();
    assert_eq!(first.largest_free, largest);

    // After the purge nothing is lazy and the map still tiles.
    server.borrow_mut().purge();
    let (first, ranges) = tiled(&observer);
    assert_eq!(count(&ranges, RangeState::Lazy), 0);
    assert_eq!(first.lazy_frames, 0);
    drop(io);
    drop(kept);
}

#[test]
fn the_pages_of_one_map_are_one_moment() {
    let server = shared_server(4096);
    let observer = client(&server, OBSERVER);
    let plain = client(&server, PLAIN_CLIENT);
    let mut kept: Vec<_> = (0..WINDOW_MAP_MAX_RANGES as u32 * 2)
        .map(|_| plain.vmalloc(PAGE_SIZE).unwrap())
        .collect();
    let first = observer.window_map(0).unwrap();
    let mut ranges: Vec<WindowRange> = first.ranges.iter().copied().collect();
    // The window changes between pages: the snapshot does not.
    kept.truncate(10);
    let _more = plain.vmalloc(8 * PAGE_SIZE).unwrap();
    let mut cursor = first.next_cursor;
    while let Some(at) = cursor {
        let page = observer.window_map(at).unwrap();
        ranges.extend(page.ranges.iter().copied());
        cursor = page.next_cursor;
    }
    let busy: Vec<_> = ranges.iter().filter_map(|r| r.record()).collect();
    assert_eq!(busy.len(), WINDOW_MAP_MAX_RANGES * 2);
    assert!(busy
        .iter()
        .all(|r| r.owner == PLAIN_CLIENT.0 && r.nr_pages == 1));
    // The snapshot is gone after its last page.
    assert_eq!(
        server_error(observer.window_map(first.next_cursor.unwrap())),
        ErrorCode::NotFound
    );
}

#[test]
fn a_non_observer_may_not_see_the_map() {
    let server = shared_server(1024);
    let plain = client(&server, PLAIN_CLIENT);
    let _area = plain.vmalloc(PAGE_SIZE).unwrap();
    assert_eq!(
        server_error(plain.window_map(0)),
        ErrorCode::PermissionDenied
    );
}
