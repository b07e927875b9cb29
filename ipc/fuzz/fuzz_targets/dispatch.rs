//! Request dispatch: a sequence of messages (split on a 2-byte length
//! prefix each; the first byte picks the client badge) goes through the fake
//! server's decode → dispatch → encode; every reply must decode, carry the
//! request's sequence number when the header was readable, and answer the
//! request's opcode or be an error. State carries over between the messages
//! so allocation, free and ownership paths interact.
#![no_main]

use ipc::fake::{FakeServer, POOL_PAGES};
use ipc::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut server = FakeServer::new();
    let mut reply = [0u8; MAX_MESSAGE_SIZE];
    let mut rest = data;
    while rest.len() >= 3 {
        let badge = u32::from(rest[0] % 4);
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])) % (MAX_MESSAGE_SIZE + 64);
        rest = &rest[3..];
        let message = &rest[..len.min(rest.len())];
        rest = &rest[message.len()..];

        let reply_len = server
            .handle(badge, message, &mut reply)
            .expect("every reply fits");
        let (seq, response) = decode_response(&reply[..reply_len]).expect("replies decode");
        if let Some(sent) = peek_sequence(message) {
            assert_eq!(seq, sent);
        }
        match (decode_request(message), response.request_opcode()) {
            (Ok((_, request)), Some(op)) => assert_eq!(op, request.opcode()),
            (Ok(_), None) => {}
            (Err(e), None) => assert_eq!(response, Response::Error(e.to_error_code())),
            (Err(_), Some(_)) => panic!("undecodable request got a success reply"),
        }
        // Re-encoding the decoded reply gives the same bytes.
        let mut again = [0u8; MAX_MESSAGE_SIZE];
        let again_len = encode_response(seq, &response, &mut again).expect("fits");
        assert_eq!(&again[..again_len], &reply[..reply_len]);
        assert!(server.free_pages() <= POOL_PAGES);
    }
});
