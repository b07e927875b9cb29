//! The fake server's decode → dispatch → encode path on raw bytes.

use ipc::fake::FakeServer;
use ipc::*;

fn serve(server: &mut FakeServer, client: u32, request: &[u8]) -> (u32, Response) {
    let mut reply = [0u8; MAX_MESSAGE_SIZE];
    let len = server.handle(client, request, &mut reply).unwrap();
    decode_response(&reply[..len]).unwrap()
}

#[test]
fn malformed_requests_get_typed_errors_with_the_sequence_number() {
    let mut server = FakeServer::new();
    let mut buf = [0u8; MAX_MESSAGE_SIZE];
    let len = encode_request(42, &Request::Ping(PingRequest { nonce: 9 }), &mut buf).unwrap();
    assert_eq!(
        serve(&mut server, 1, &buf[..len]),
        (42, Response::Ping(PingOk { nonce: 9 }))
    );

    let mut wrong_version = buf;
    wrong_version[0] = 7;
    assert_eq!(
        serve(&mut server, 1, &wrong_version[..len]),
        (42, Response::Error(ErrorCode::UnsupportedVersion))
    );
    let mut unknown = buf;
    unknown[2] = 0x40;
    assert_eq!(
        serve(&mut server, 1, &unknown[..len]),
        (42, Response::Error(ErrorCode::UnknownOpcode))
    );
    assert_eq!(
        serve(&mut server, 1, &buf[..len - 1]),
        (42, Response::Error(ErrorCode::Malformed))
    );
    assert_eq!(
        serve(&mut server, 1, &[1, 2, 3]),
        (0, Response::Error(ErrorCode::Malformed))
    );
}

#[test]
fn vmalloc_validation_and_lowest_fit_with_guard_pages() {
    let mut server = FakeServer::new();
    let vmalloc = |size, align| {
        Request::Vmalloc(VmallocRequest {
            size,
            align,
            flags: VmallocFlags::NONE,
            caller: 0,
        })
    };
    assert_eq!(
        server.dispatch(1, &vmalloc(0, 4096)),
        Response::Error(ErrorCode::InvalidSize)
    );
    assert_eq!(
        server.dispatch(1, &vmalloc(u32::MAX, 4096)),
        Response::Error(ErrorCode::InvalidSize)
    );
    assert_eq!(
        server.dispatch(1, &vmalloc(4096, 3)),
        Response::Error(ErrorCode::BadAlignment)
    );
    assert_eq!(
        server.dispatch(1, &vmalloc(64 << 20, 4096)),
        Response::Error(ErrorCode::TooLarge)
    );
    assert_eq!(
        server.dispatch(1, &vmalloc(4097, 1)),
        Response::Vmalloc(VmallocOk {
            addr: VirtAddr(0x4000_0000),
            size: 8192
        })
    );
    // Two pages + one guard page later.
    assert_eq!(
        server.dispatch(2, &vmalloc(1, 4096)),
        Response::Vmalloc(VmallocOk {
            addr: VirtAddr(0x4000_3000),
            size: 4096
        })
    );
    assert_eq!(
        server.dispatch(
            2,
            &Request::Vfree(VfreeRequest {
                addr: VirtAddr(0x4000_0000)
            })
        ),
        Response::Error(ErrorCode::NotOwner)
    );
    assert_eq!(
        server.dispatch(
            1,
            &Request::Vfree(VfreeRequest {
                addr: VirtAddr(0x4000_0010)
            })
        ),
        Response::Error(ErrorCode::UnalignedAddress)
    );
    assert_eq!(
        server.dispatch(
            1,
            &Request::Iounmap(IounmapRequest {
                addr: VirtAddr(0x4000_0000)
            })
        ),
        Response::Error(ErrorCode::WrongAreaKind)
    );
    assert_eq!(
        server.dispatch(
            1,
            &Request::Vfree(VfreeRequest {
                addr: VirtAddr(0x4000_0000)
            })
        ),
        Response::Vfree(VfreeOk { size: 8192 })
    );
    assert_eq!(
        server.dispatch(
            1,
            &Request::Vfree(VfreeRequest {
                addr: VirtAddr(0x4000_0000)
            })
        ),
        Response::Error(ErrorCode::NotFound)
    );
}
