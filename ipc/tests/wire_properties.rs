//! Property tests of the wire format: size bounds, round trips, and that
//! decoding arbitrary bytes never panics.

use ipc::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// u32 values biased to the extremes, where varints are widest.
fn any_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        Just(0x7f),
        Just(0x80),
        Just(0x0fff_ffff),
        Just(0x1000_0000),
        any::<u32>(),
    ]
}

fn addr() -> impl Strategy<Value = VirtAddr> {
    any_u32().prop_map(VirtAddr)
}

fn phys() -> impl Strategy<Value = PhysAddr> {
    any_u32().prop_map(PhysAddr)
}

fn page_run() -> impl Strategy<Value = PageRun> {
    (any_u32(), any_u32()).prop_map(|(pfn, count)| PageRun {
        pfn: Pfn(pfn),
        count,
    })
}

/// Vectors up to and including full capacity.
fn runs() -> impl Strategy<Value = BoundedVec<PageRun, MAX_VMAP_RUNS>> {
    prop_oneof![
        vec(page_run(), 0..=8),
        vec(page_run(), MAX_VMAP_RUNS..=MAX_VMAP_RUNS),
    ]
    .prop_map(|v| BoundedVec::from_slice(&v).unwrap())
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any_u32(), any_u32(), 0u8..4, any_u32()).prop_map(|(size, align, f, caller)| {
            Request::Vmalloc(VmallocRequest {
                size,
                align,
                flags: VmallocFlags::from_bits_truncate(f),
                caller,
            })
        }),
        addr().prop_map(|addr| Request::Vfree(VfreeRequest { addr })),
        (
            phys(),
            any_u32(),
            prop::sample::select(&MemType::ALL[..]),
            any_u32()
        )
            .prop_map(
                |(phys, size, mem_type, caller)| Request::Ioremap(IoremapRequest {
                    phys,
                    size,
                    mem_type,
                    caller
                })
            ),
        addr().prop_map(|addr| Request::Iounmap(IounmapRequest { addr })),
        (
            prop_oneof![
                runs().prop_map(VmapSource::Frames),
                addr().prop_map(|addr| VmapSource::Dma { addr })
            ],
            0u8..4,
            any_u32()
        )
            .prop_map(|(source, f, caller)| Request::Vmap(VmapRequest {
                source,
                flags: VmapFlags::from_bits_truncate(f),
                caller
            })),
        addr().prop_map(|addr| Request::Vunmap(VunmapRequest { addr })),
        (any_u32(), any_u32())
            .prop_map(|(pages, caller)| Request::DmaAlloc(DmaAllocRequest { pages, caller })),
        addr().prop_map(|addr| Request::DmaFree(DmaFreeRequest { addr })),
        addr().prop_map(|addr| Request::VirtToPhys(VirtToPhysRequest { addr })),
        any_u32().prop_map(|cursor| Request::Info(InfoRequest { cursor })),
        Just(Request::Stats(StatsRequest {})),
        any_u32().prop_map(|nonce| Request::Ping(PingRequest { nonce })),
        any_u32().prop_map(|cursor| Request::WindowMap(WindowMapRequest { cursor })),
    ]
}

fn record() -> impl Strategy<Value = AreaRecord> {
    (
        addr(),
        any_u32(),
        any_u32(),
        prop::option::of(phys()),
        prop::sample::select(AreaKind::ALL),
        any_u32(),
        any_u32(),
    )
        .prop_map(
            |(start, size, nr_pages, phys, kind, caller, owner)| AreaRecord {
                start,
                size,
                nr_pages,
                phys,
                kind,
                caller,
                owner,
            },
        )
}

fn usage() -> impl Strategy<Value = ClientUsage> {
    (
        (any_u32(), any_u32(), any_u32()),
        (any_u32(), any_u32(), any_u32()),
    )
        .prop_map(
            |((client, areas, pages), (quota_pages, window_pages, quota_window_pages))| {
                ClientUsage {
                    client,
                    areas,
                    pages,
                    quota_pages,
                    window_pages,
                    quota_window_pages,
                }
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (addr(), any_u32()).prop_map(|(addr, size)| Response::Vmalloc(VmallocOk { addr, size })),
        any_u32().prop_map(|size| Response::Vfree(VfreeOk { size })),
        (addr(), any_u32()).prop_map(|(addr, size)| Response::Ioremap(IoremapOk { addr, size })),
        Just(Response::Iounmap(IounmapOk {})),
        (addr(), any_u32()).prop_map(|(addr, size)| Response::Vmap(VmapOk { addr, size })),
        Just(Response::Vunmap(VunmapOk {})),
        (addr(), phys(), any_u32()).prop_map(|(addr, phys, size)| Response::DmaAlloc(DmaAllocOk {
            addr,
            phys,
            size
        })),
        Just(Response::DmaFree(DmaFreeOk {})),
        phys().prop_map(|phys| Response::VirtToPhys(VirtToPhysOk { phys })),
        (
            prop_oneof![
                vec(record(), 0..4),
                vec(record(), INFO_MAX_RECORDS..=INFO_MAX_RECORDS)
            ],
            prop::option::of(any_u32())
        )
            .prop_map(|(records, next_cursor)| Response::Info(InfoOk {
                records: BoundedVec::from_slice(&records).unwrap(),
                next_cursor
            })),
        (
            prop::array::uniform11(any_u32()),
            any_u32(),
            any_u32(),
            any_u32(),
            prop_oneof![
                vec(usage(), 0..4),
                vec(usage(), STATS_MAX_CLIENTS..=STATS_MAX_CLIENTS)
            ],
            any_u32()
        )
            .prop_map(
                |(free_blocks, total_pages, free_pages, window_free, clients, clients_total)| {
                    Response::Stats(StatsOk {
                        free_blocks,
                        total_pages,
                        free_pages,
                        window_free,
                        clients: BoundedVec::from_slice(&clients).unwrap(),
                        clients_total,
                    })
                }
            ),
        any_u32().prop_map(|nonce| Response::Ping(PingOk { nonce })),
        prop::sample::select(ErrorCode::ALL).prop_map(Response::Error),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every request encodes within its computed bound, which fits the IPC
    /// buffer, and decodes back to itself.
    #[test]
    fn requests_fit_and_round_trip(seq in any::<u32>(), request in request()) {
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let len = encode_request(seq, &request, &mut buf).unwrap();
        prop_assert!(len - HEADER_SIZE <= Request::max_payload_size(request.opcode()));
        prop_assert!(len <= MAX_MESSAGE_SIZE);
        prop_assert_eq!(decode_request(&buf[..len]), Ok((seq, request)));
    }

    /// Same for every reply.
    #[test]
    fn responses_fit_and_round_trip(seq in any::<u32>(), response in response()) {
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let len = encode_response(seq, &response, &mut buf).unwrap();
        if let Some(op) = response.request_opcode() {
            prop_assert!(len - HEADER_SIZE <= Response::max_payload_size(op));
        }
        prop_assert!(len - HEADER_SIZE <= Response::MAX_PAYLOAD_SIZE);
        prop_assert_eq!(decode_response(&buf[..len]), Ok((seq, response)));
    }

    /// Arbitrary bytes: decoding returns, never panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..=MAX_MESSAGE_SIZE + 16)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
        let _ = peek_sequence(&bytes);
    }

    /// Arbitrary payloads behind a valid header (the interesting part of the
    /// input space that pure random bytes rarely reach): decoding never
    /// panics, and whatever decodes re-encodes to the same bytes (postcard
    /// encodings are canonical for the accepted inputs).
    #[test]
    fn arbitrary_payloads_never_panic(
        opcode in prop_oneof![1u16..=13, 0x8001u16..=0x800d, Just(0xffffu16)],
        seq in any::<u32>(),
        payload in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        bytes.extend_from_slice(&opcode.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        if let Ok((s, request)) = decode_request(&bytes) {
            let len = encode_request(s, &request, &mut buf).unwrap();
            prop_assert_eq!(decode_request(&buf[..len]), Ok((s, request)));
        }
        if let Ok((s, response)) = decode_response(&bytes) {
            let len = encode_response(s, &response, &mut buf).unwrap();
            prop_assert_eq!(decode_response(&buf[..len]), Ok((s, response)));
        }
    }
}

/// The widest instance of every variant encodes to exactly its computed
/// maximum (so the bound is tight, not just safe), and all fit the buffer.
#[test]
fn widest_instances_hit_the_computed_maximum() {
    let max = u32::MAX;
    let full_runs = BoundedVec::from_slice(
        &[PageRun {
            pfn: Pfn(max),
            count: max,
        }; MAX_VMAP_RUNS],
    )
    .unwrap();
    let requests = [
        Request::Vmalloc(VmallocRequest {
            size: max,
            align: max,
            flags: VmallocFlags::ZEROED.union(VmallocFlags::NO_GUARD),
            caller: max,
        }),
        Request::Vfree(VfreeRequest {
            addr: VirtAddr(max),
        }),
        Request::Ioremap(IoremapRequest {
            phys: PhysAddr(max),
            size: max,
            mem_type: MemType::NormalUncached,
            caller: max,
        }),
        Request::Vmap(VmapRequest {
            source: VmapSource::Frames(full_runs),
            flags: VmapFlags::READ_ONLY,
            caller: max,
        }),
        Request::DmaAlloc(DmaAllocRequest {
            pages: max,
            caller: max,
        }),
        Request::Info(InfoRequest { cursor: max }),
        Request::Stats(StatsRequest {}),
        Request::Ping(PingRequest { nonce: max }),
        Request::WindowMap(WindowMapRequest { cursor: max }),
    ];
    let mut buf = [0u8; MAX_MESSAGE_SIZE];
    for request in &requests {
        let len = encode_request(max, request, &mut buf).unwrap();
        let bound = Request::max_payload_size(request.opcode());
        assert_eq!(len - HEADER_SIZE, bound, "{:?}", request.opcode());
    }
    let record = AreaRecord {
        start: VirtAddr(max),
        size: max,
        nr_pages: max,
        phys: Some(PhysAddr(max)),
        kind: AreaKind::Dma,
        caller: max,
        owner: max,
    };
    let info = Response::Info(InfoOk {
        records: BoundedVec::from_slice(&[record; INFO_MAX_RECORDS]).unwrap(),
        next_cursor: Some(max),
    });
    let usage = ClientUsage {
        client: max,
        areas: max,
        pages: max,
        quota_pages: max,
        window_pages: max,
        quota_window_pages: max,
    };
    let stats = Response::Stats(StatsOk {
        free_blocks: [max; NR_ORDERS],
        total_pages: max,
        free_pages: max,
        window_free: max,
        clients: BoundedVec::from_slice(&[usage; STATS_MAX_CLIENTS]).unwrap(),
        clients_total: max,
    });
    let range = WindowRange {
        start: VirtAddr(max),
        size: max,
        state: RangeState::Free,
        guard: true,
        kind: AreaKind::Dma,
        owner: max,
        caller: max,
        nr_pages: max,
        phys: Some(PhysAddr(max)),
    };
    let map = Response::WindowMap(WindowMapOk {
        window_start: VirtAddr(max),
        window_size: max,
        largest_free: max,
        lazy_frames: max,
        ranges: BoundedVec::from_slice(&[range; WINDOW_MAP_MAX_RANGES]).unwrap(),
        next_cursor: Some(max),
    });
    for response in [&info, &stats, &map] {
        let len = encode_response(max, response, &mut buf).unwrap();
        let op = response.request_opcode().unwrap();
        assert_eq!(len - HEADER_SIZE, Response::max_payload_size(op), "{op:?}");
        assert!(len <= MAX_MESSAGE_SIZE);
    }
    // Record the real figures for doc/ipc.md.
    println!(
        "request max payload {}, response max payload {}, info {}, stats {}",
        Request::MAX_PAYLOAD_SIZE,
        Response::MAX_PAYLOAD_SIZE,
        Response::max_payload_size(Opcode::Info),
        Response::max_payload_size(Opcode::Stats)
    );
    const { assert!(HEADER_SIZE + Request::MAX_PAYLOAD_SIZE <= MAX_MESSAGE_SIZE) };
    const { assert!(HEADER_SIZE + Response::MAX_PAYLOAD_SIZE <= MAX_MESSAGE_SIZE) };
}
