//! Header + payload decoding of arbitrary bytes, as a request and as a reply.
//! Whatever decodes must re-encode and decode to the same value.
#![no_main]

use ipc::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
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
