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

    /// The link register, read where this is inlined: the first statement
    /// of memclient's `#[inline(never)]` allocation entries, before they
    /// call anything, so it is the return address into the user's code.
    #[inline(always)]
    fn return_address() -> u32 {
        link_register::read()
    }
}

/// Reading the link register (the one instruction needs `asm!`).
mod link_register {
    use core::arch::asm;

    /// The current value of `lr`.
    #[inline(always)]
    pub fn read() -> u32 {
        let lr: u32;
        // SAFETY: copies a register into `lr`; touches no memory, stack or
        // flags.
        unsafe {
            asm!("mov {0}, lr", out(reg) lr, options(nomem, nostack, preserves_flags));
        }
        lr
    }
}

/// A client of the memory server.
pub type Client = MemClient<KernelTransport>;

/// A client on the endpoint in slot `ep`.
pub fn client(ep: CapSlot) -> Client {
    MemClient::new(KernelTransport::new(ep))
}

/// This task's badge on the memory-server endpoint in slot `ep` (the
/// server's name for it: `AreaRecord::owner`, `ClientUsage::client`).
pub fn badge(ep: CapSlot) -> Result<u32, KernelError> {
    match sys::cap_info(ep)? {
        (1, badge, _) => Ok(badge),
        _ => Err(KernelError::WrongCapabilityType),
    }
}

/// This task's own row of the server's `Stats`: areas, pages and window
/// pages held, and both quotas. `None` if the server did not list it.
pub fn own_usage(
    client: &Client,
    ep: CapSlot,
) -> Result<Option<ipc::ClientUsage>, memclient::ClientError> {
    let me = badge(ep).map_err(memclient::ClientError::Transport)?;
    let stats = client.stats()?;
    Ok(stats.clients.iter().find(|u| u.client == me).copied())
}

/// How the kernel mapped this task's page at `addr`: the memory type it
/// installed (read back from the descriptor with `mapping_info`).
pub fn mapped_type(addr: abi::VirtAddr) -> Result<abi::MemType, KernelError> {
    sys::mapping_info(addr).map(|(attrs, _, _)| attrs.mem_type())
}
