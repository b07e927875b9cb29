//! Whole-message encoding and decoding (header + payload).

use serde::de::DeserializeOwned;
use serde::Serialize;
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{DecodeError, EncodeError, ErrorCode};
use crate::header::{Header, Opcode, HEADER_SIZE, OPCODE_ERROR};
use crate::request::Request;
use crate::response::Response;
use crate::{MAX_MESSAGE_SIZE, PROTOCOL_VERSION};

/// Encodes `request` with sequence number `seq` into `out`; returns the
/// message length. A buffer of `MAX_MESSAGE_SIZE` bytes always suffices.
pub fn encode_request(seq: u32, request: &Request, out: &mut [u8]) -> Result<usize, EncodeError> {
    let payload_out = out
        .get_mut(HEADER_SIZE..)
        .ok_or(EncodeError::BufferTooSmall)?;
    let len = request.encode_payload(payload_out)?;
    write_header(request.opcode().to_wire(), seq, len, out)
}

/// Encodes `response` as the reply to sequence number `seq`.
pub fn encode_response(
    seq: u32,
    response: &Response,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let payload_out = out
        .get_mut(HEADER_SIZE..)
        .ok_or(EncodeError::BufferTooSmall)?;
    let len = response.encode_payload(payload_out)?;
    write_header(response.wire_opcode(), seq, len, out)
}

fn write_header(
    opcode: u16,
    seq: u32,
    payload_len: usize,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let total = HEADER_SIZE + payload_len;
    if total > MAX_MESSAGE_SIZE {
        // Unreachable by the const size checks; kept so no path can emit a
        // message the kernel would refuse.
        return Err(EncodeError::BufferTooSmall);
    }
    let header = Header::new(PROTOCOL_VERSION, opcode, seq, payload_len as u32);
    header
        .write_to_prefix(out)
        .map_err(|_| EncodeError::BufferTooSmall)?;
    Ok(total)
}

/// The sequence number of a message whose header is readable, even if the
/// rest is invalid (so a server can address its error reply).
pub fn peek_sequence(bytes: &[u8]) -> Option<u32> {
    Header::read_from_prefix(bytes)
        .ok()
        .map(|(h, _)| h.seq.get())
}

/// Checks size, version and length; returns the header and the payload.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(DecodeError::TooLong { len: bytes.len() });
    }
    let (header, payload) =
        Header::read_from_prefix(bytes).map_err(|_| DecodeError::TooShort { len: bytes.len() })?;
    let version = header.version.get();
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let declared = header.len.get();
    if usize::try_from(declared).ok() != Some(payload.len()) {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: payload.len(),
        });
    }
    Ok((header, payload))
}

fn finish<T>(decoded: Result<(T, &[u8]), postcard::Error>) -> Result<T, DecodeError> {
    let (value, rest) = decoded.map_err(|_| DecodeError::BadPayload)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::TrailingBytes { unused: rest.len() })
    }
}

/// Decodes a request message; returns its sequence number and the request.
pub fn decode_request(bytes: &[u8]) -> Result<(u32, Request), DecodeError> {
    let (header, payload) = split(bytes)?;
    let opcode_wire = header.opcode.get();
    let opcode = Opcode::from_wire(opcode_wire).ok_or(DecodeError::UnknownOpcode {
        opcode: opcode_wire,
    })?;
    let request = Request::decode_payload(opcode, payload)?;
    Ok((header.seq.get(), request))
}

/// Decodes a reply message; returns its sequence number and the response.
pub fn decode_response(bytes: &[u8]) -> Result<(u32, Response), DecodeError> {
    let (header, payload) = split(bytes)?;
    let opcode = header.opcode.get();
    let response =
        Response::decode_payload(opcode, payload).ok_or(DecodeError::UnknownOpcode { opcode })?;
    Ok((header.seq.get(), response?))
}

// ---------------------------------------------------------------------------
// Typed messages: the fast path.
//
// `Request` and `Response` are enums sized by their largest variant (a
// 256-run Vmap, a 100-record Info page: 2-3 KiB). Decoding one of them
// builds and moves that much memory for every message, which dominated the
// cost of a small request (thousands of guest instructions). The typed
// functions below decode the one body type the opcode names, straight from
// the payload, and encode a reply body without wrapping it. The bytes on
// the wire are identical to the enum path's.

/// A request body type, tied to its opcode and its reply body type.
pub trait RequestBody: Serialize + DeserializeOwned {
    /// The request's opcode.
    const OPCODE: Opcode;
    /// The body of a successful reply.
    type Reply: Serialize + DeserializeOwned;

    /// Writes this body's payload (postcard) to `out`; returns its length.
    /// The hot bodies (vmalloc, vfree, ping) override it with direct varint
    /// writes: the same bytes without postcard's per-field staging copy.
    #[inline]
    fn encode_payload(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        postcard_payload(self, out)
    }

    /// Writes a reply body's payload; overridden like
    /// [`RequestBody::encode_payload`].
    #[inline]
    fn encode_reply_payload(reply: &Self::Reply, out: &mut [u8]) -> Result<usize, EncodeError> {
        postcard_payload(reply, out)
    }

    /// Decodes a whole request body's payload, as [`decode_body`] does
    /// (same values accepted, same errors); the hot bodies override it
    /// with direct varint reads.
    #[inline]
    fn decode_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        decode_body(payload)
    }

    /// Decodes a whole reply body's payload, as [`decode_body`] does (same
    /// values accepted, same errors); the hot bodies override it with
    /// direct varint reads.
    #[inline]
    fn decode_reply_payload(payload: &[u8]) -> Result<Self::Reply, DecodeError> {
        decode_body(payload)
    }
}

fn postcard_payload<T: Serialize + ?Sized>(body: &T, out: &mut [u8]) -> Result<usize, EncodeError> {
    postcard::to_slice(body, out)
        .map(|b| b.len())
        .map_err(|_| EncodeError::BufferTooSmall)
}

/// Appends the postcard varint of `v` at `out[at..]`; returns the next
/// position (LEB128: 7 bits per byte, low bits first, as postcard writes a
/// `u32`).
#[inline]
pub(crate) fn put_varint(out: &mut [u8], mut at: usize, mut v: u32) -> Result<usize, EncodeError> {
    loop {
        let b = out.get_mut(at).ok_or(EncodeError::BufferTooSmall)?;
        at += 1;
        if v < 0x80 {
            *b = v as u8;
            return Ok(at);
        }
        *b = (v as u8) | 0x80;
        v >>= 7;
    }
}

/// Reads the postcard varint `u32` at `payload[at..]`; returns it and the
/// next position. Accepts and refuses exactly what postcard's
/// `try_take_varint_u32` does (non-minimal encodings included; a fifth
/// byte above 0x0f or a sixth byte is a bad varint), with the error
/// [`decode_body`] gives for a bad payload.
#[inline]
pub(crate) fn take_varint(payload: &[u8], mut at: usize) -> Result<(u32, usize), DecodeError> {
    let first = *payload.get(at).ok_or(DecodeError::BadPayload)?;
    if first < 0x80 {
        return Ok((u32::from(first), at + 1));
    }
    let mut out = 0u32;
    for i in 0..5u32 {
        let b = *payload.get(at).ok_or(DecodeError::BadPayload)?;
        at += 1;
        out |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i == 4 && b > 0x0f {
                return Err(DecodeError::BadPayload);
            }
            return Ok((out, at));
        }
    }
    Err(DecodeError::BadPayload)
}

/// The end of a payload decoded up to `at`: trailing bytes are an error,
/// as in [`decode_body`].
#[inline]
pub(crate) fn take_end(payload: &[u8], at: usize) -> Result<(), DecodeError> {
    match payload.len().saturating_sub(at) {
        0 => Ok(()),
        unused => Err(DecodeError::TrailingBytes { unused }),
    }
}

/// Appends one raw byte.
#[inline]
pub(crate) fn put_u8(out: &mut [u8], at: usize, v: u8) -> Result<usize, EncodeError> {
    *out.get_mut(at).ok_or(EncodeError::BufferTooSmall)? = v;
    Ok(at + 1)
}

/// Checks a request's header (size, version, length, opcode); returns its
/// sequence number, opcode and payload, not yet decoded.
pub fn split_request(bytes: &[u8]) -> Result<(u32, Opcode, &[u8]), DecodeError> {
    let (header, payload) = split(bytes)?;
    let wire = header.opcode.get();
    let opcode = Opcode::from_wire(wire).ok_or(DecodeError::UnknownOpcode { opcode: wire })?;
    Ok((header.seq.get(), opcode, payload))
}

/// Checks a reply's header; returns its sequence number, wire opcode and
/// payload, not yet decoded.
pub fn split_response(bytes: &[u8]) -> Result<(u32, u16, &[u8]), DecodeError> {
    let (header, payload) = split(bytes)?;
    Ok((header.seq.get(), header.opcode.get(), payload))
}

/// Decodes one body from a whole payload (trailing bytes are an error, as
/// on the enum path).
pub fn decode_body<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    finish(postcard::take_from_bytes(payload))
}

fn encode_body<T: Serialize>(
    wire_opcode: u16,
    seq: u32,
    body: &T,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_with(wire_opcode, seq, out, |p| postcard_payload(body, p))
}

#[inline]
fn encode_with(
    wire_opcode: u16,
    seq: u32,
    out: &mut [u8],
    payload: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<usize, EncodeError> {
    let payload_out = out
        .get_mut(HEADER_SIZE..)
        .ok_or(EncodeError::BufferTooSmall)?;
    let len = payload(payload_out)?;
    write_header(wire_opcode, seq, len, out)
}

/// Encodes a request body with sequence number `seq`.
pub fn encode_request_body<R: RequestBody>(
    seq: u32,
    body: &R,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_with(R::OPCODE as u16, seq, out, |p| body.encode_payload(p))
}

/// Encodes a successful reply to an `R` request (the typed fast path of
/// [`encode_reply_ok`]: same bytes).
pub fn encode_reply_body<R: RequestBody>(
    seq: u32,
    body: &R::Reply,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_with(R::OPCODE.reply_wire(), seq, out, |p| {
        R::encode_reply_payload(body, p)
    })
}

/// Encodes a successful reply to an `opcode` request.
pub fn encode_reply_ok<T: Serialize>(
    opcode: Opcode,
    seq: u32,
    body: &T,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_body(opcode.reply_wire(), seq, body, out)
}

/// Encodes an error reply.
pub fn encode_reply_error(seq: u32, code: ErrorCode, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode_body(OPCODE_ERROR, seq, &code, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// The hand-written decoders accept exactly what postcard does,
    /// with the same values and errors: every payload of up to 3 bytes,
    /// and longer ones around the 5-byte varint limit.
    #[test]
    fn fast_reply_decoders_match_postcard() {
        fn check<R: RequestBody>(p: &[u8])
        where
            R::Reply: PartialEq + core::fmt::Debug,
        {
            assert_eq!(
                R::decode_reply_payload(p),
                decode_body::<R::Reply>(p),
                "{p:02x?}"
            );
        }
        fn check_request<R: RequestBody + PartialEq + core::fmt::Debug>(p: &[u8]) {
            assert_eq!(R::decode_payload(p), decode_body::<R>(p), "{p:02x?}");
        }
        fn all(p: &[u8]) {
            check::<VmallocRequest>(p);
            check::<VfreeRequest>(p);
            check::<PingRequest>(p);
            check_request::<VmallocRequest>(p);
            check_request::<VfreeRequest>(p);
            check_request::<PingRequest>(p);
        }
        all(&[]);
        for a in 0..=255u8 {
            all(&[a]);
            for b in 0..=255u8 {
                all(&[a, b]);
                for c in [0u8, 1, 0x0f, 0x10, 0x7f, 0x80, 0x81, 0xff] {
                    all(&[a, b, c]);
                }
            }
        }
        // Whole vmalloc requests: varints (non-minimal and bad ones too)
        // around every flags byte, cut at every length, with a byte more.
        let varints: [&[u8]; 7] = [
            &[0],
            &[0x7f],
            &[0x80, 0x01],
            &[0x80, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
            &[0xff, 0xff, 0xff, 0xff, 0x10],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        ];
        for (i, a) in varints.iter().enumerate() {
            let b = varints[(i * 3 + 1) % varints.len()];
            let c = varints[(i * 5 + 2) % varints.len()];
            for flags in 0..=255u8 {
                let mut p = [0u8; 24];
                let mut n = 0;
                for piece in [*a, b, &[flags][..], c, &[0x33][..]] {
                    p[n..n + piece.len()].copy_from_slice(piece);
                    n += piece.len();
                }
                for len in 0..=n {
                    all(&p[..len]);
                }
            }
        }
        let bytes = [0u8, 1, 0x0f, 0x10, 0x7f, 0x80, 0xff];
        for &last in &bytes {
            for &next in &bytes {
                for fill in [0x80u8, 0xff] {
                    for len in 4..=7 {
                        let mut p = [fill; 8];
                        p[len - 1] = last;
                        p[len] = next;
                        all(&p[..len]);
                        all(&p[..=len]);
                        // A varint, then a second one of the same shape.
                        let mut q = [0u8; 16];
                        q[..len].copy_from_slice(&p[..len]);
                        q[len..2 * len].copy_from_slice(&p[..len]);
                        all(&q[..2 * len]);
                        all(&q[..len + 1]);
                    }
                }
            }
        }
    }

    /// The hand-written encoders write postcard's bytes exactly.
    #[test]
    fn fast_encoders_match_postcard() {
        let values = [
            0u32,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0x1f_ffff,
            0x20_0000,
            0x0fff_ffff,
            0x1000_0000,
            0x4000_0000,
            u32::MAX,
        ];
        let mut fast = [0u8; MAX_MESSAGE_SIZE];
        let mut slow = [0u8; MAX_MESSAGE_SIZE];
        fn check<T: serde::Serialize>(
            encode: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
            body: &T,
        ) {
            let (mut fast, mut slow) = ([0u8; 64], [0u8; 64]);
            let n = encode(&mut fast).unwrap();
            let m = postcard::to_slice(body, &mut slow).unwrap().len();
            assert_eq!(&fast[..n], &slow[..m]);
        }
        for (i, &a) in values.iter().enumerate() {
            let b = values[(i * 7 + 3) % values.len()];
            let c = values[(i * 5 + 1) % values.len()];
            for flags in [
                VmallocFlags::NONE,
                VmallocFlags::ZEROED,
                VmallocFlags::NO_GUARD,
            ] {
                let r = VmallocRequest {
                    size: a,
                    align: b,
                    flags,
                    caller: c,
                };
                check(|b| r.encode_payload(b), &r);
                let n = encode_request_body(9, &r, &mut fast).unwrap();
                let m = encode_request(9, &Request::Vmalloc(r), &mut slow).unwrap();
                assert_eq!(&fast[..n], &slow[..m]);
            }
            let ok = VmallocOk {
                addr: VirtAddr(a),
                size: b,
            };
            check(|b| VmallocRequest::encode_reply_payload(&ok, b), &ok);
            let n = encode_reply_body::<VmallocRequest>(3, &ok, &mut fast).unwrap();
            let m = encode_response(3, &Response::Vmalloc(ok), &mut slow).unwrap();
            assert_eq!(&fast[..n], &slow[..m]);
            let r = VfreeRequest { addr: VirtAddr(a) };
            check(|b| r.encode_payload(b), &r);
            let ok = VfreeOk { size: a };
            check(|b| VfreeRequest::encode_reply_payload(&ok, b), &ok);
            let r = PingRequest { nonce: a };
            check(|b| r.encode_payload(b), &r);
            let ok = PingOk { nonce: a };
            check(|b| PingRequest::encode_reply_payload(&ok, b), &ok);
            // Too small a buffer is an error, never a panic.
            let ok = VmallocOk {
                addr: VirtAddr(a),
                size: b,
            };
            assert!(VmallocRequest::encode_reply_payload(&ok, &mut fast[..1]).is_err());
        }
    }

    /// The worked example of doc/ipc.md, byte for byte.
    #[test]
    fn vmalloc_request_worked_example() {
        let request = Request::Vmalloc(VmallocRequest {
            size: 65536,
            align: 4096,
            flags: VmallocFlags::ZEROED,
            caller: 0x0001_0234,
        });
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let len = encode_request(7, &request, &mut buf).unwrap();
        let expected: &[u8] = &[
            // header: version 1, opcode 1 (Vmalloc), seq 7, len 9
            0x01, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
            // size 65536 = varint 80 80 04
            0x80, 0x80, 0x04, //
            // align 4096 = varint 80 20
            0x80, 0x20, //
            // flags ZEROED = u8 01
            0x01, //
            // caller 0x10234 = varint b4 84 04
            0xb4, 0x84, 0x04,
        ];
        assert_eq!(&buf[..len], expected);
        assert_eq!(decode_request(expected), Ok((7, request)));
    }

    /// The reply of the worked example.
    #[test]
    fn vmalloc_reply_worked_example() {
        let response = Response::Vmalloc(VmallocOk {
            addr: VirtAddr(0x4000_0000),
            size: 65536,
        });
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let len = encode_response(7, &response, &mut buf).unwrap();
        let expected: &[u8] = &[
            0x01, 0x00, 0x01, 0x80, 0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, //
            0x80, 0x80, 0x80, 0x80, 0x04, // addr 0x4000_0000
            0x80, 0x80, 0x04, // size 65536
        ];
        assert_eq!(&buf[..len], expected);
        assert_eq!(decode_response(expected), Ok((7, response)));

        let error = Response::Error(ErrorCode::NoVirtualSpace);
        let len = encode_response(7, &error, &mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            &[0x01, 0x00, 0xff, 0xff, 0x07, 0, 0, 0, 0x01, 0, 0, 0, 0x03]
        );
    }

    fn ping_bytes() -> std::vec::Vec<u8> {
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let len = encode_request(1, &Request::Ping(PingRequest { nonce: 300 }), &mut buf).unwrap();
        buf[..len].to_vec()
    }

    #[test]
    fn header_checks() {
        let good = ping_bytes();
        assert!(decode_request(&good).is_ok());
        assert_eq!(
            decode_request(&good[..11]),
            Err(DecodeError::TooShort { len: 11 })
        );
        assert_eq!(decode_request(&[]), Err(DecodeError::TooShort { len: 0 }));

        let mut bad_version = good.clone();
        bad_version[0] = 2;
        assert_eq!(
            decode_request(&bad_version),
            Err(DecodeError::UnsupportedVersion { version: 2 })
        );

        let mut bad_opcode = good.clone();
        bad_opcode[2] = 99;
        assert_eq!(
            decode_request(&bad_opcode),
            Err(DecodeError::UnknownOpcode { opcode: 99 })
        );
        // A reply opcode is not a request.
        let mut reply_opcode = good.clone();
        reply_opcode[3] = 0x80;
        assert!(matches!(
            decode_request(&reply_opcode),
            Err(DecodeError::UnknownOpcode { opcode: 0x800c })
        ));

        // The length field must match the bytes after the header, both ways.
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            decode_request(&extra),
            Err(DecodeError::LengthMismatch {
                declared: 2,
                actual: 3
            })
        );
        assert_eq!(
            decode_request(&good[..good.len() - 1]),
            Err(DecodeError::LengthMismatch {
                declared: 2,
                actual: 1
            })
        );

        let too_long = std::vec![0u8; MAX_MESSAGE_SIZE + 1];
        assert_eq!(
            decode_request(&too_long),
            Err(DecodeError::TooLong {
                len: MAX_MESSAGE_SIZE + 1
            })
        );
        assert_eq!(peek_sequence(&good), Some(1));
        assert_eq!(peek_sequence(&good[..5]), None);
    }

    #[test]
    fn trailing_bytes_and_opcode_payload_mismatch() {
        // Ping payload with one extra byte, length field updated to match.
        let mut trailing = ping_bytes();
        trailing.push(0);
        trailing[8] = 3;
        assert_eq!(
            decode_request(&trailing),
            Err(DecodeError::TrailingBytes { unused: 1 })
        );

        // A Vmalloc payload under the Vfree opcode: Vfree reads one varint
        // and the rest is left over.
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let vmalloc = Request::Vmalloc(VmallocRequest {
            size: 4096,
            align: 4096,
            flags: VmallocFlags::NONE,
            caller: 0,
        });
        let len = encode_request(5, &vmalloc, &mut buf).unwrap();
        buf[2] = Opcode::Vfree.to_wire() as u8;
        assert!(matches!(
            decode_request(&buf[..len]),
            Err(DecodeError::TrailingBytes { .. })
        ));

        // Stats has an empty payload: any byte is trailing.
        let stats = Request::Stats(StatsRequest {});
        let len = encode_request(5, &stats, &mut buf).unwrap();
        assert_eq!(len, HEADER_SIZE);
        assert_eq!(decode_request(&buf[..len]), Ok((5, stats)));
    }

    #[test]
    fn invalid_enum_and_flag_values_are_rejected() {
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let ioremap = Request::Ioremap(IoremapRequest {
            phys: PhysAddr(0x1000_9000),
            size: 4096,
            mem_type: MemType::Device,
            caller: 0,
        });
        let len = encode_request(1, &ioremap, &mut buf).unwrap();
        // The memory type byte, then the caller tag (varint 0, one byte).
        assert_eq!(&buf[len - 2..len], &[1, 0]);
        // The memory type travels as abi's number: every known number
        // decodes to its type, every other one is refused.
        for n in 0..=255u8 {
            buf[len - 2] = n;
            match MemType::from_u8(n) {
                Some(mem_type) => assert_eq!(
                    decode_request(&buf[..len]),
                    Ok((
                        1,
                        Request::Ioremap(IoremapRequest {
                            mem_type,
                            ..match ioremap {
                                Request::Ioremap(r) => r,
                                _ => unreachable!(),
                            }
                        })
                    ))
                ),
                None => assert_eq!(decode_request(&buf[..len]), Err(DecodeError::BadPayload)),
            }
            // The typed path (the server's) agrees.
            assert_eq!(
                decode_body::<IoremapRequest>(&buf[HEADER_SIZE..len]).is_ok(),
                MemType::from_u8(n).is_some()
            );
        }
        assert_eq!(MemType::from_u8(3), None);

        let vmalloc = Request::Vmalloc(VmallocRequest {
            size: 1,
            align: 1,
            flags: VmallocFlags::NONE,
            caller: 0,
        });
        let len = encode_request(1, &vmalloc, &mut buf).unwrap();
        assert_eq!(&buf[HEADER_SIZE..len], &[1, 1, 0, 0]);
        buf[HEADER_SIZE + 2] = 0x80; // unknown flag bit
        assert_eq!(decode_request(&buf[..len]), Err(DecodeError::BadPayload));

        // An unknown error code in an error reply.
        let bytes = [0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(decode_response(&bytes), Err(DecodeError::BadPayload));
    }

    #[test]
    fn decode_error_codes() {
        assert_eq!(
            DecodeError::TooLong { len: 5000 }.to_error_code(),
            ErrorCode::TooLarge
        );
        assert_eq!(
            DecodeError::UnsupportedVersion { version: 9 }.to_error_code(),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            DecodeError::UnknownOpcode { opcode: 0 }.to_error_code(),
            ErrorCode::UnknownOpcode
        );
        assert_eq!(
            DecodeError::BadPayload.to_error_code(),
            ErrorCode::Malformed
        );
    }

    #[test]
    fn small_output_buffer_is_an_error() {
        let mut tiny = [0u8; 13];
        let ping = Request::Ping(PingRequest { nonce: 0x7fff_ffff });
        assert_eq!(
            encode_request(0, &ping, &mut tiny),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(
            encode_request(0, &ping, &mut tiny[..4]),
            Err(EncodeError::BufferTooSmall)
        );
    }

    /// The typed path writes and reads exactly the enum path's bytes.
    #[test]
    fn typed_path_matches_enum_path() {
        let body = VmallocRequest {
            size: 65536,
            align: 4096,
            flags: VmallocFlags::ZEROED,
            caller: 0x0001_0234,
        };
        let mut a = [0u8; MAX_MESSAGE_SIZE];
        let mut b = [0u8; MAX_MESSAGE_SIZE];
        let la = encode_request(7, &Request::Vmalloc(body), &mut a).unwrap();
        let lb = encode_request_body(7, &body, &mut b).unwrap();
        assert_eq!(a[..la], b[..lb]);
        let (seq, op, payload) = split_request(&b[..lb]).unwrap();
        assert_eq!((seq, op), (7, Opcode::Vmalloc));
        assert_eq!(decode_body::<VmallocRequest>(payload).unwrap(), body);

        let ok = VmallocOk {
            addr: VirtAddr(0x4000_0000),
            size: 65536,
        };
        let la = encode_response(7, &Response::Vmalloc(ok), &mut a).unwrap();
        let lb = encode_reply_ok(Opcode::Vmalloc, 7, &ok, &mut b).unwrap();
        assert_eq!(a[..la], b[..lb]);
        let la = encode_response(9, &Response::Error(ErrorCode::NotOwner), &mut a).unwrap();
        let lb = encode_reply_error(9, ErrorCode::NotOwner, &mut b).unwrap();
        assert_eq!(a[..la], b[..lb]);
        let (seq, wire, payload) = split_response(&b[..lb]).unwrap();
        assert_eq!((seq, wire), (9, OPCODE_ERROR));
        assert_eq!(
            decode_body::<ErrorCode>(payload).unwrap(),
            ErrorCode::NotOwner
        );
        // Trailing bytes are refused as on the enum path.
        assert!(matches!(
            decode_body::<PingRequest>(&[1, 2]),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }
}
