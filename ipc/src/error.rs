//! Errors: the protocol's wire error codes, and local decode/encode errors.

use core::fmt;

use crate::wire::wire_enum;

wire_enum! {
    /// Why the server refused a request (the payload of an error reply).
    ///
    /// Explicit wire numbers: never renumber, only append. 0 is unused so a
    /// zeroed payload is never mistaken for a real code.
    pub enum ErrorCode: u16 {
        /// Size or count 0, or one that overflows when rounded up to pages.
        InvalidSize = 1,
        /// Alignment not a power of two, or larger than the window.
        BadAlignment = 2,
        /// No free virtual range of that size and alignment (after a purge).
        NoVirtualSpace = 3,
        /// Not enough free frames.
        OutOfMemory = 4,
        /// No area starts at that address.
        NotFound = 5,
        /// The area (or frame) belongs to another client.
        NotOwner = 6,
        /// The address is not page aligned.
        UnalignedAddress = 7,
        /// The caller may not do this (e.g. ioremap outside its device
        /// ranges, or with a memory type the device does not allow; a vmap
        /// mixing frames of different memory types).
        PermissionDenied = 8,
        /// The message could not be decoded.
        Malformed = 9,
        /// The client's page, area or window quota would be exceeded, or
        /// the kernel refused the mapping for the client's own page-table
        /// quota.
        QuotaExceeded = 10,
        /// The header's protocol version is not the server's.
        UnsupportedVersion = 11,
        /// The opcode is not a request the server knows.
        UnknownOpcode = 12,
        /// The message is larger than an IPC buffer, or a requested size is
        /// larger than the whole pool or window could ever hold.
        TooLarge = 13,
        /// The address names an area of another kind (e.g. vfree of an
        /// ioremap area).
        WrongAreaKind = 14,
        /// The server failed for a reason that is not the caller's (a kernel
        /// call it made failed). A server bug: report it.
        Internal = 15,
        /// A `Vmap` names the same frame more than once (overlapping runs,
        /// a run repeated): each frame appears at most once per mapping.
        DuplicateFrame = 16,
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.to_wire())
    }
}

/// Why a byte string is not a valid message. Local, not on the wire: the
/// server answers it with [`DecodeError::to_error_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the 12-byte header.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Longer than one IPC buffer.
    TooLong {
        /// Bytes received.
        len: usize,
    },
    /// The header's version is not [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// The opcode is not one this side accepts (an unknown number, or a
    /// reply opcode where a request was expected and vice versa).
    UnknownOpcode {
        /// The opcode found.
        opcode: u16,
    },
    /// The header's `len` does not match the bytes after the header.
    LengthMismatch {
        /// `len` from the header.
        declared: u32,
        /// Bytes actually after the header.
        actual: usize,
    },
    /// The payload is not a valid postcard encoding of the opcode's type
    /// (bad varint, unknown enum value or flag, too many elements, EOF).
    BadPayload,
    /// The payload decoded but left bytes unused (usually an opcode/payload
    /// mismatch).
    TrailingBytes {
        /// Bytes left over.
        unused: usize,
    },
}

impl DecodeError {
    /// The error code a server replies with.
    pub const fn to_error_code(self) -> ErrorCode {
        match self {
            DecodeError::TooLong { .. } => ErrorCode::TooLarge,
            DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            DecodeError::UnknownOpcode { .. } => ErrorCode::UnknownOpcode,
            DecodeError::TooShort { .. }
            | DecodeError::LengthMismatch { .. }
            | DecodeError::BadPayload
            | DecodeError::TrailingBytes { .. } => ErrorCode::Malformed,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is smaller than the message (use a buffer of
    /// [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) bytes: every message fits).
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_numbers_are_frozen() {
        let expected: [(ErrorCode, u16); 16] = [
            (ErrorCode::InvalidSize, 1),
            (ErrorCode::BadAlignment, 2),
            (ErrorCode::NoVirtualSpace, 3),
            (ErrorCode::OutOfMemory, 4),
            (ErrorCode::NotFound, 5),
            (ErrorCode::NotOwner, 6),
            (ErrorCode::UnalignedAddress, 7),
            (ErrorCode::PermissionDenied, 8),
            (ErrorCode::Malformed, 9),
            (ErrorCode::QuotaExceeded, 10),
            (ErrorCode::UnsupportedVersion, 11),
            (ErrorCode::UnknownOpcode, 12),
            (ErrorCode::TooLarge, 13),
            (ErrorCode::WrongAreaKind, 14),
            (ErrorCode::Internal, 15),
            (ErrorCode::DuplicateFrame, 16),
        ];
        assert_eq!(ErrorCode::ALL.len(), expected.len());
        for (code, number) in expected {
            assert_eq!(code.to_wire(), number);
            assert_eq!(ErrorCode::from_wire(number), Some(code));
        }
        assert_eq!(ErrorCode::from_wire(0), None);
        assert_eq!(ErrorCode::from_wire(17), None);
    }
}
