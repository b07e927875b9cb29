//! The memory-server protocol: what a client and the memory server exchange
//! through the kernel's opaque IPC copy (`doc/ipc.md` has it byte by byte).
//!
//! A message is a 12-byte [`Header`] (little-endian, fixed layout, read with
//! `zerocopy`) followed by a `postcard` payload whose type the header's
//! opcode selects. Every message fits one IPC buffer (4096 bytes): the
//! compile-time bounds below and a property test check it. Decoding any byte
//! string returns a value or a [`DecodeError`], never panics.
//!
//! ```text
//! request:  Header{version, opcode = Opcode,          seq, len} + body
//! ok reply: Header{version, opcode = Opcode | 0x8000, seq, len} + ok body
//! error:    Header{version, opcode = 0xFFFF,          seq, len} + ErrorCode
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod bounded;
mod codec;
mod error;
mod header;
mod request;
mod response;
mod wire;

#[cfg(feature = "fake-server")]
pub mod fake;

pub use abi::{MemType, Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
pub use bounded::BoundedVec;
pub use codec::{
    decode_body, decode_request, decode_response, encode_reply_body, encode_reply_error,
    encode_reply_ok, encode_request, encode_request_body, encode_response, peek_sequence,
    split_request, split_response, RequestBody,
};
pub use error::{DecodeError, EncodeError, ErrorCode};
pub use header::{Header, Opcode, HEADER_SIZE, OPCODE_ERROR, OPCODE_REPLY_BIT};
pub use request::{
    DmaAllocRequest, DmaFreeRequest, InfoRequest, IoremapRequest, IounmapRequest, PageRun,
    PingRequest, Request, StatsRequest, VfreeRequest, VirtToPhysRequest, VmallocFlags,
    VmallocRequest, VmapFlags, VmapRequest, VmapSource, VunmapRequest, WindowMapRequest,
    HEAP_CALLER_TAG,
};
pub use response::{
    AreaKind, AreaRecord, ClientUsage, DmaAllocOk, DmaFreeOk, InfoOk, IoremapOk, IounmapOk, PingOk,
    RangeState, Response, StatsOk, VfreeOk, VirtToPhysOk, VmallocOk, VmapOk, VunmapOk, WindowMapOk,
    WindowRange,
};

/// The protocol version this crate speaks (header field `version`).
pub const PROTOCOL_VERSION: u16 = 1;
/// The largest message: one IPC buffer.
pub const MAX_MESSAGE_SIZE: usize = abi::IPC_BUFFER_SIZE;
/// The largest payload after the header.
pub const MAX_PAYLOAD_SIZE: usize = MAX_MESSAGE_SIZE - HEADER_SIZE;

/// Frame runs one `Vmap` request may carry.
pub const MAX_VMAP_RUNS: usize = 256;
/// Area records one `Info` reply carries at most (one "page" of the listing).
pub const INFO_MAX_RECORDS: usize = 100;
/// Ranges one `WindowMap` reply carries at most.
pub const WINDOW_MAP_MAX_RANGES: usize = 80;
/// Per-client usage records one `Stats` reply carries at most.
pub const STATS_MAX_CLIENTS: usize = 64;
/// Buddy orders reported by `Stats` (orders 0..=10, Linux's MAX_ORDER 11).
pub const NR_ORDERS: usize = 11;

// Every message fits the IPC buffer, by construction: the postcard maximum
// of every body (varints at their widest, bounded vectors full) plus the
// header. `tests/max_size.rs` checks real encodings against these bounds.
const _: () = assert!(HEADER_SIZE + Request::MAX_PAYLOAD_SIZE <= MAX_MESSAGE_SIZE);
const _: () = assert!(HEADER_SIZE + Response::MAX_PAYLOAD_SIZE <= MAX_MESSAGE_SIZE);
