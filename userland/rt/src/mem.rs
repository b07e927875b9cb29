//! The memory-server client for tasks: `memclient` over the kernel's `call`.

use abi::{CapSlot, KernelError, MessageTag};
use memclient::{MemClient, Transport};

use crate::sys;

/// Message label of memory-server requests (the protocol's own header
/// carries the opcode; the kernel only needs a non-kernel label).
pub const MEMSERVER_LABEL: u16 = 1;

/// `memclient::Transport` over `call` on an endpoint capability, using the
/// task's IPC buffer for the request and the reply.
#[derive(Debug)]
pub struct KernelTransport {
    ep: CapSlot,
}

impl KernelTransport {
    /// Talks to the memory server through the endpoint in slot `ep`.
    pub const fn new(ep: CapSlot) -> Self {
        Self { ep }
    }
}

impl Transport for KernelTransport {
    fn buffer(&mut self) -> &mut [u8] {
        &mut sys::ipc_buffer().bytes[..]
    }

    fn call(&mut self, request_len: usize) -> Result<usize, KernelError> {
        let tag =
            MessageTag::new(MEMSERVER_LABEL, request_len).ok_or(KernelError::MessageTooLong)?;
        Ok(sys::call(self.ep, tag)?.length())
    }
}

/// A client of the memory server.
pub type Client = MemClient<KernelTransport>;

/// A client on the endpoint in slot `ep`.
pub fn client(ep: CapSlot) -> Client {
    MemClient::new(KernelTransport::new(ep))
}
