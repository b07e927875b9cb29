//! The memory-server client: an ordinary Rust API over the `ipc` protocol.
//!
//! [`MemClient`] encodes a request into the transport's buffer (in a task:
//! its IPC buffer), makes one `call`, checks the reply's sequence number and
//! opcode, and returns a typed result. Allocations come back as owning
//! handles ([`VmArea`], [`IoMapping`], [`DmaBuffer`], [`VmapArea`]): not
//! `Clone`, freed when dropped, or explicitly with an error report.
//!
//! The client is single-threaded (`RefCell` inside, so handles can borrow
//! it); a task that shares one between threads puts it behind a lock.
#![no_std]
#![forbid(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::fmt;

pub use abi::KernelError;
use ipc::{
    decode_body, decode_response, encode_request, encode_request_body, split_response,
    DmaAllocRequest, DmaFreeRequest, InfoRequest, IoremapRequest, IounmapRequest, PingRequest,
    Request, RequestBody, Response, StatsRequest, VfreeRequest, VirtToPhysRequest, VmallocRequest,
    VmapRequest, VunmapRequest, WindowMapRequest, MAX_MESSAGE_SIZE, OPCODE_ERROR,
};
pub use ipc::{
    AreaRecord, ErrorCode, InfoOk, MemType, PageRun, PhysAddr, RangeState, StatsOk, VirtAddr,
    VmallocFlags, VmapFlags, VmapSource, WindowMapOk, WindowRange,
};

/// How requests reach the server.
///
/// The real transport (userland) is the kernel `call` on the memory-server
/// endpoint with the task's IPC buffer as [`buffer`](Transport::buffer); the
/// host one in the tests hands the bytes to a fake server.
pub trait Transport {
    /// The message buffer: the request is written at its start, and the
    /// reply replaces it. At least `ipc::MAX_MESSAGE_SIZE` bytes.
    fn buffer(&mut self) -> &mut [u8];

    /// Sends the first `request_len` bytes of the buffer and blocks for the
    /// reply; returns the reply's length (the kernel tag's length).
    fn call(&mut self, request_len: usize) -> Result<usize, KernelError>;

    /// The return address of the function this is inlined into, as a
    /// caller tag for the server's records (vmallocinfo, leak reports): a
    /// code address in the task's image that a symbolizer can name.
    ///
    /// Called first thing in the `#[inline(never)]` allocation entries
    /// ([`MemClient::vmalloc`], [`MemClient::vzalloc`]), so an
    /// implementation that is `#[inline(always)]` and reads the link
    /// register sees the address the user's code returns to. The default
    /// (host transports, which cannot read it) is 0.
    #[inline(always)]
    fn return_address() -> u32
    where
        Self: Sized,
    {
        0
    }
}

/// Why a client operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The server refused the request.
    Server(ErrorCode),
    /// The kernel `call` failed.
    Transport(KernelError),
    /// The reply is not a valid message.
    Decode(ipc::DecodeError),
    /// The request could not be encoded (transport buffer too small).
    Encode(ipc::EncodeError),
    /// The reply carries another sequence number than the request.
    SequenceMismatch {
        /// Sent.
        expected: u32,
        /// Received.
        got: u32,
    },
    /// The reply answers another opcode than the request's.
    UnexpectedReply {
        /// The reply's header opcode.
        opcode: u16,
    },
    /// The transport reported a reply longer than its buffer.
    ReplyTooLong,
    /// The client is already in a call (re-entered from a drop during a
    /// call); nothing was sent.
    Busy,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<ErrorCode> for ClientError {
    fn from(code: ErrorCode) -> Self {
        ClientError::Server(code)
    }
}

struct Inner<T> {
    transport: T,
    next_seq: u32,
}

/// A connection to the memory server.
pub struct MemClient<T: Transport> {
    inner: RefCell<Inner<T>>,
    /// Frees attempted by `Drop` that failed (a drop cannot report them).
    drop_failures: Cell<u32>,
}

impl<T: Transport> fmt::Debug for MemClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemClient")
            .field("drop_failures", &self.drop_failures.get())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> MemClient<T> {
    /// A client over `transport`; sequence numbers start at 1.
    pub fn new(transport: T) -> Self {
        Self {
            inner: RefCell::new(Inner {
                transport,
                next_seq: 1,
            }),
            drop_failures: Cell::new(0),
        }
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.inner.into_inner().transport
    }

    /// How many frees done by dropping a handle failed.
    pub fn drop_failures(&self) -> u32 {
        self.drop_failures.get()
    }

    /// One round trip: encode, call, decode, check sequence and opcode.
    pub fn request(&self, request: &Request) -> Result<Response, ClientError> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| ClientError::Busy)?;
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        let len =
            encode_request(seq, request, inner.transport.buffer()).map_err(ClientError::Encode)?;
        let reply_len = inner.transport.call(len).map_err(ClientError::Transport)?;
        let reply = inner
            .transport
            .buffer()
            .get(..reply_len.min(MAX_MESSAGE_SIZE + 1))
            .ok_or(ClientError::ReplyTooLong)?;
        let (got, response) = decode_response(reply).map_err(ClientError::Decode)?;
        if got != seq {
            return Err(ClientError::SequenceMismatch { expected: seq, got });
        }
        match response.request_opcode() {
            Some(op) if op != request.opcode() => Err(ClientError::UnexpectedReply {
                opcode: response.wire_opcode(),
            }),
            _ => Ok(response),
        }
    }

    /// One round trip with a typed body: encode, call, decode exactly the
    /// reply body the opcode names, check sequence and opcode. No
    /// `Request`/`Response` enum is built (they are sized by their largest
    /// variant, kilobytes), so a small request stays cheap.
    pub fn call<R: RequestBody>(&self, body: &R) -> Result<R::Reply, ClientError> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| ClientError::Busy)?;
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        let len = encode_request_body(seq, body, inner.transport.buffer())
            .map_err(ClientError::Encode)?;
        let reply_len = inner.transport.call(len).map_err(ClientError::Transport)?;
        let reply = inner
            .transport
            .buffer()
            .get(..reply_len.min(MAX_MESSAGE_SIZE + 1))
            .ok_or(ClientError::ReplyTooLong)?;
        let (got, wire, payload) = split_response(reply).map_err(ClientError::Decode)?;
        if got != seq {
            return Err(ClientError::SequenceMismatch { expected: seq, got });
        }
        if wire == OPCODE_ERROR {
            let code: ErrorCode = decode_body(payload).map_err(ClientError::Decode)?;
            return Err(ClientError::Server(code));
        }
        if wire != R::OPCODE.reply_wire() {
            return Err(ClientError::UnexpectedReply { opcode: wire });
        }
        R::decode_reply_payload(payload).map_err(ClientError::Decode)
    }

    /// `size` bytes (rounded up to pages) of virtually contiguous memory.
    /// The caller tag is the return address into the calling function
    /// ([`Transport::return_address`]).
    #[inline(never)]
    pub fn vmalloc(&self, size: u32) -> Result<VmArea<'_, T>, ClientError> {
        // First statement: the link register still holds the return address.
        let caller = T::return_address();
        self.vmalloc_with(size, abi::PAGE_SIZE, VmallocFlags::NONE, caller)
    }

    /// Like [`vmalloc`](Self::vmalloc), zero-filled.
    #[inline(never)]
    pub fn vzalloc(&self, size: u32) -> Result<VmArea<'_, T>, ClientError> {
        let caller = T::return_address();
        self.vmalloc_with(size, abi::PAGE_SIZE, VmallocFlags::ZEROED, caller)
    }

    /// The full `Vmalloc` request: alignment, flags and an explicit caller
    /// tag (a code address, or any id such as the heap's `"heap"`).
    pub fn vmalloc_with(
        &self,
        size: u32,
        align: u32,
        flags: VmallocFlags,
        caller: u32,
    ) -> Result<VmArea<'_, T>, ClientError> {
        let ok = self.call(&VmallocRequest {
            size,
            align,
            flags,
            caller,
        })?;
        Ok(VmArea {
            client: self,
            addr: ok.addr,
            size: ok.size,
        })
    }

    /// Frees an area, reporting errors (dropping it frees silently).
    pub fn vfree(&self, area: VmArea<'_, T>) -> Result<(), ClientError> {
        let (addr, _) = area.into_raw();
        self.vfree_addr(addr).map(|_| ())
    }

    /// Frees the area starting at `addr` (from [`VmArea::into_raw`]);
    /// returns its size.
    pub fn vfree_addr(&self, addr: VirtAddr) -> Result<u32, ClientError> {
        let ok = self.call(&VfreeRequest { addr })?;
        Ok(ok.size)
    }

    /// Maps `size` bytes of device memory at `phys` as `mem_type`:
    /// [`MemType::Device`] (registers, Linux `ioremap`) or
    /// [`MemType::NormalUncached`] (Linux `ioremap_wc`); a device is never
    /// mapped cacheable (`PermissionDenied`). The caller tag is the return
    /// address into the calling function, as for [`vmalloc`](Self::vmalloc).
    #[inline(never)]
    pub fn ioremap(
        &self,
        phys: PhysAddr,
        size: u32,
        mem_type: MemType,
    ) -> Result<IoMapping<'_, T>, ClientError> {
        // First statement: the link register still holds the return address.
        let caller = T::return_address();
        self.ioremap_with(phys, size, mem_type, caller)
    }

    /// Like [`ioremap`](Self::ioremap), with an explicit caller tag.
    pub fn ioremap_with(
        &self,
        phys: PhysAddr,
        size: u32,
        mem_type: MemType,
        caller: u32,
    ) -> Result<IoMapping<'_, T>, ClientError> {
        let ok = self.call(&IoremapRequest {
            phys,
            size,
            mem_type,
            caller,
        })?;
        Ok(IoMapping {
            client: self,
            addr: ok.addr,
            size: ok.size,
        })
    }

    /// Unmaps a device mapping, reporting errors.
    pub fn iounmap(&self, mapping: IoMapping<'_, T>) -> Result<(), ClientError> {
        let (addr, _) = mapping.into_raw();
        self.iounmap_addr(addr)
    }

    /// Unmaps the device mapping at `addr`.
    pub fn iounmap_addr(&self, addr: VirtAddr) -> Result<(), ClientError> {
        self.call(&IounmapRequest { addr })?;
        Ok(())
    }

    /// Maps frames the caller owns at a new range. The caller tag is the
    /// return address into the calling function, as for
    /// [`vmalloc`](Self::vmalloc).
    #[inline(never)]
    pub fn vmap(
        &self,
        source: VmapSource,
        flags: VmapFlags,
    ) -> Result<VmapArea<'_, T>, ClientError> {
        // First statement: the link register still holds the return address.
        let caller = T::return_address();
        self.vmap_with(source, flags, caller)
    }

    /// Like [`vmap`](Self::vmap), with an explicit caller tag.
    pub fn vmap_with(
        &self,
        source: VmapSource,
        flags: VmapFlags,
        caller: u32,
    ) -> Result<VmapArea<'_, T>, ClientError> {
        let ok = self.call(&VmapRequest {
            source,
            flags,
            caller,
        })?;
        Ok(VmapArea {
            client: self,
            addr: ok.addr,
            size: ok.size,
        })
    }

    /// Removes a vmap area, reporting errors.
    pub fn vunmap(&self, area: VmapArea<'_, T>) -> Result<(), ClientError> {
        let (addr, _) = area.into_raw();
        self.vunmap_addr(addr)
    }

    /// Removes the vmap area at `addr`.
    pub fn vunmap_addr(&self, addr: VirtAddr) -> Result<(), ClientError> {
        self.call(&VunmapRequest { addr })?;
        Ok(())
    }

    /// `pages` physically contiguous pages for device DMA. The caller tag
    /// is the return address into the calling function, as for
    /// [`vmalloc`](Self::vmalloc).
    #[inline(never)]
    pub fn dma_alloc(&self, pages: u32) -> Result<DmaBuffer<'_, T>, ClientError> {
        // First statement: the link register still holds the return address.
        let caller = T::return_address();
        self.dma_alloc_with(pages, caller)
    }

    /// Like [`dma_alloc`](Self::dma_alloc), with an explicit caller tag.
    pub fn dma_alloc_with(&self, pages: u32, caller: u32) -> Result<DmaBuffer<'_, T>, ClientError> {
        let ok = self.call(&DmaAllocRequest { pages, caller })?;
        Ok(DmaBuffer {
            client: self,
            addr: ok.addr,
            phys: ok.phys,
            size: ok.size,
        })
    }

    /// Frees a DMA buffer, reporting errors.
    pub fn dma_free(&self, buffer: DmaBuffer<'_, T>) -> Result<(), ClientError> {
        let (addr, _) = buffer.into_raw();
        self.dma_free_addr(addr)
    }

    /// Frees the DMA buffer at `addr`.
    pub fn dma_free_addr(&self, addr: VirtAddr) -> Result<(), ClientError> {
        self.call(&DmaFreeRequest { addr })?;
        Ok(())
    }

    /// The physical address behind `addr` in one of the caller's areas.
    pub fn virt_to_phys(&self, addr: VirtAddr) -> Result<PhysAddr, ClientError> {
        let ok = self.call(&VirtToPhysRequest { addr })?;
        Ok(ok.phys)
    }

    /// One page of the vmallocinfo listing, from `cursor` (0 = start).
    pub fn info(&self, cursor: u32) -> Result<InfoOk, ClientError> {
        self.call(&InfoRequest { cursor })
    }

    /// One page of the window map from `cursor` (0 = the window start);
    /// observers only (`PermissionDenied`).
    pub fn window_map(&self, cursor: u32) -> Result<WindowMapOk, ClientError> {
        self.call(&WindowMapRequest { cursor })
    }

    /// The whole window map, page by page: calls `each` per range; returns
    /// the first page (its window totals).
    pub fn window_map_all(
        &self,
        mut each: impl FnMut(&WindowRange),
    ) -> Result<WindowMapOk, ClientError> {
        let first = self.window_map(0)?;
        first.ranges.iter().for_each(&mut each);
        let mut cursor = first.next_cursor;
        while let Some(from) = cursor {
            let page = self.window_map(from)?;
            page.ranges.iter().for_each(&mut each);
            cursor = page.next_cursor;
        }
        Ok(first)
    }

    /// The whole listing, page by page; calls `each` per record.
    pub fn info_all(&self, mut each: impl FnMut(&AreaRecord)) -> Result<(), ClientError> {
        let mut cursor = Some(0);
        while let Some(from) = cursor {
            let page = self.info(from)?;
            page.records.iter().for_each(&mut each);
            cursor = page.next_cursor;
        }
        Ok(())
    }

    /// Buddy and per-client statistics.
    pub fn stats(&self) -> Result<StatsOk, ClientError> {
        self.call(&StatsRequest {})
    }

    /// Liveness check; errors if the echo differs.
    pub fn ping(&self, nonce: u32) -> Result<(), ClientError> {
        let ok = self.call(&PingRequest { nonce })?;
        if ok.nonce == nonce {
            Ok(())
        } else {
            Err(ClientError::UnexpectedReply {
                opcode: ipc::Opcode::Ping.reply_wire(),
            })
        }
    }

    fn free_on_drop(&self, result: Result<(), ClientError>) {
        if result.is_err() {
            self.drop_failures
                .set(self.drop_failures.get().saturating_add(1));
        }
    }
}

/// Defines an owning handle: not `Clone`, frees itself on drop.
macro_rules! owning_handle {
    ($(#[$meta:meta])* $name:ident, $free_addr:ident) => {
        $(#[$meta])*
        pub struct $name<'c, T: Transport> {
            client: &'c MemClient<T>,
            addr: VirtAddr,
            size: u32,
        }

        impl<T: Transport> $name<'_, T> {
            /// First address.
            pub fn addr(&self) -> VirtAddr {
                self.addr
            }
            /// Size in bytes.
            pub fn size(&self) -> u32 {
                self.size
            }
            /// Gives up ownership without freeing; returns `(addr, size)`.
            /// Free later with the matching `*_addr` call.
            pub fn into_raw(self) -> (VirtAddr, u32) {
                let raw = (self.addr, self.size);
                core::mem::forget(self);
                raw
            }
        }

        impl<T: Transport> Drop for $name<'_, T> {
            fn drop(&mut self) {
                let result = self.client.$free_addr(self.addr).map(|_| ());
                self.client.free_on_drop(result);
            }
        }

        impl<T: Transport> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("addr", &self.addr)
                    .field("size", &self.size)
                    .finish()
            }
        }
    };
}

owning_handle!(
    /// A vmalloc area; `vfree`d when dropped.
    VmArea,
    vfree_addr
);
owning_handle!(
    /// A device mapping; `iounmap`ped when dropped.
    IoMapping,
    iounmap_addr
);
owning_handle!(
    /// A vmap area; `vunmap`ped when dropped.
    VmapArea,
    vunmap_addr
);

/// A DMA buffer; `dma_free`d when dropped.
pub struct DmaBuffer<'c, T: Transport> {
    client: &'c MemClient<T>,
    addr: VirtAddr,
    phys: PhysAddr,
    size: u32,
}

impl<T: Transport> DmaBuffer<'_, T> {
    /// Where the buffer is mapped.
    pub fn addr(&self) -> VirtAddr {
        self.addr
    }
    /// Physical start, for the device.
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }
    /// Size in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Gives up ownership without freeing; returns `(addr, size)`.
    pub fn into_raw(self) -> (VirtAddr, u32) {
        let raw = (self.addr, self.size);
        core::mem::forget(self);
        raw
    }
}

impl<T: Transport> Drop for DmaBuffer<'_, T> {
    fn drop(&mut self) {
        let result = self.client.dma_free_addr(self.addr);
        self.client.free_on_drop(result);
    }
}

impl<T: Transport> fmt::Debug for DmaBuffer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaBuffer")
            .field("addr", &self.addr)
            .field("phys", &self.phys)
            .field("size", &self.size)
            .finish()
    }
}
