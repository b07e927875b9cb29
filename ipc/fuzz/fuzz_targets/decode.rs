//! Header + payload decoding of arbitrary bytes, as a request and as a reply.
//! Whatever decodes must re-encode and decode to the same value, and the
//! typed path (`split_request` + `decode_body`) must accept exactly what the
//! enum path accepts.
#![no_main]

use ipc::*;
use libfuzzer_sys::fuzz_target;

/// Whether the typed path decodes the request body the opcode names.
fn typed_request_ok(bytes: &[u8]) -> bool {
    let Ok((_, opcode, payload)) = split_request(bytes) else {
        return false;
    };
    macro_rules! ok {
        ($t:ty) => {
            decode_body::<$t>(payload).is_ok()
        };
    }
    match opcode {
        Opcode::Vmalloc => ok!(VmallocRequest),
        Opcode::Vfree => ok!(VfreeRequest),
        Opcode::Ioremap => ok!(IoremapRequest),
        Opcode::Iounmap => ok!(IounmapRequest),
        Opcode::Vmap => ok!(VmapRequest),
        Opcode::Vunmap => ok!(VunmapRequest),
        Opcode::DmaAlloc => ok!(DmaAllocRequest),
        Opcode::DmaFree => ok!(DmaFreeRequest),
        Opcode::VirtToPhys => ok!(VirtToPhysRequest),
        Opcode::Info => ok!(InfoRequest),
        Opcode::Stats => ok!(StatsRequest),
        Opcode::Ping => ok!(PingRequest),
        Opcode::WindowMap => ok!(WindowMapRequest),
    }
}

fuzz_target!(|bytes: &[u8]| {
    assert_eq!(typed_request_ok(bytes), decode_request(bytes).is_ok());
    let _ = peek_sequence(bytes);
    let mut buf = [0u8; MAX_MESSAGE_SIZE];
    if let Ok((seq, request)) = decode_request(bytes) {
        let len = encode_request(seq, &request, &mut buf).expect("every request fits");
        assert!(len - HEADER_SIZE <= Request::max_payload_size(request.opcode()));
        assert_eq!(decode_request(&buf[..len]), Ok((seq, request)));
    }
    if let Ok((seq, response)) = decode_response(bytes) {
        let len = encode_response(seq, &response, &mut buf).expect("every reply fits");
        assert!(len - HEADER_SIZE <= Response::MAX_PAYLOAD_SIZE);
        assert_eq!(decode_response(&buf[..len]), Ok((seq, response)));
    }
});
