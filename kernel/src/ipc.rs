//! Synchronous IPC on endpoints: send, receive, call and reply.
//!
//! A message is a tag (label + length) and `length` bytes copied by the
//! kernel from the sender's IPC buffer to the receiver's, at the moment both
//! are there (no kernel buffering). A call leaves the caller waiting for the
//! reply and records it as the receiver's reply target. When the partner is
//! already waiting, `call` and `reply_recv` switch straight to it without a
//! scheduler pass (the fast path).

use abi::fault::FAULT_MESSAGE_SIZE;
use abi::{Badge, EndpointRights, KernelError, MessageTag, LABEL_FAULT};
use zerocopy::{FromBytes, IntoBytes};

use crate::kpool::page_bytes;
use crate::sched::Kernel;
use crate::task::{Cap, State};

/// Copies the first `len` bytes of one IPC buffer to another, a word at a
/// time (the buffers are page aligned; `memcpy` on unknown alignment moved
/// short messages byte by byte). Exactly `len` bytes are written: no stale
/// sender bytes past the message reach the receiver.
#[inline(always)]
fn copy_message(src: &[u8; 4096], dst: &mut [u8; 4096], len: usize) {
    let len = len.min(4096);
    let words = len & !3;
    // Word views of the page-aligned buffers (zerocopy checks alignment;
    // it always holds, and the byte copy below is the fallback anyway).
    match (
        <[u32]>::ref_from_bytes(&src[..words]),
        <[u32]>::mut_from_bytes(&mut dst[..words]),
    ) {
        (Ok(s), Ok(d)) => {
            for (d, s) in d.iter_mut().zip(s) {
                *d = *s;
            }
        }
        _ => dst[..words].copy_from_slice(&src[..words]),
    }
    dst[words..len].copy_from_slice(&src[words..len]);
}

/// Validates a raw tag word from a task.
pub fn user_tag(raw: u32) -> Result<MessageTag, KernelError> {
    let tag = MessageTag::from_raw(raw).map_err(|e| match e {
        abi::msg::TagError::TooLong => KernelError::MessageTooLong,
        abi::msg::TagError::ReservedBits => KernelError::InvalidArgument,
    })?;
    if tag.is_kernel_label() {
        return Err(KernelError::ReservedLabel);
    }
    Ok(tag)
}

impl Kernel {
    /// Looks up an endpoint capability with `needed` rights.
    pub fn endpoint_cap(
        &mut self,
        t: usize,
        slot: u32,
        needed: EndpointRights,
    ) -> Result<(usize, Badge), KernelError> {
        let cap = self
            .task(t)
            .caps
            .get(slot as usize)
            .copied()
            .flatten()
            .ok_or(KernelError::InvalidCapability)?;
        match cap {
            Cap::Endpoint { ep, badge, rights } => {
                if rights.contains(needed) {
                    Ok((ep as usize, badge))
                } else {
                    Err(KernelError::MissingRights)
                }
            }
            _ => Err(KernelError::WrongCapabilityType),
        }
    }

    /// Copies the `tag.length()` message bytes of the IPC buffer at
    /// `src_pa` into task `to`'s IPC buffer.
    #[inline(always)]
    fn copy_message_between(&mut self, src_pa: abi::PhysAddr, to: usize, tag: MessageTag) {
        let dst_pa = self.task(to).ipc_buf;
        let len = tag.length().min(4096);
        if len != 0 && src_pa != dst_pa {
            // SAFETY: the IPC-buffer pages of two distinct live tasks
            // (kernel pool); the kernel lock excludes every other access.
            let (src, dst) = unsafe { (page_bytes(src_pa), page_bytes(dst_pa)) };
            copy_message(src, dst, len);
        }
    }

    /// Moves the pending message of `sender` to `receiver` and sets both
    /// sides' states; `receiver` becomes ready (it may be the caller).
    fn deliver(&mut self, sender: usize, receiver: usize) {
        let (tag, badge) = if let Some(report) = self.task(sender).report.take() {
            // A fault/exit report: the kernel is the author.
            let dst_pa = self.task(receiver).ipc_buf;
            // SAFETY: the receiver's IPC-buffer page is a kernel-pool page
            // owned by the live receiver; no other reference is held.
            let dst = unsafe { page_bytes(dst_pa) };
            dst[..FAULT_MESSAGE_SIZE].copy_from_slice(report.as_bytes());
            let badge = self.task(sender).send_badge;
            self.task(sender).state = State::Dead;
            (
                MessageTag::new(LABEL_FAULT, FAULT_MESSAGE_SIZE).unwrap_or_default(),
                badge,
            )
        } else {
            let (src_pa, tag, badge, is_call) = {
                let s = self.task(sender);
                (s.ipc_buf, s.send_tag, s.send_badge, s.send_is_call)
            };
            self.copy_message_between(src_pa, receiver, tag);
            if is_call {
                self.task(sender).state = State::AwaitingReply {
                    server: receiver as u8,
                };
                // A caller still waiting on this receiver loses its reply
                // target: tell it (doc/syscalls.md, `PeerGone`).
                if let Some(old) = self.task(receiver).reply_to.replace(sender as u8) {
                    let old = old as usize;
                    let stale = matches!(self.tasks[old].as_ref().map(|t| t.state),
                        Some(State::AwaitingReply { server }) if server as usize == receiver);
                    if stale && old != sender {
                        self.set_result(old, Err(KernelError::PeerGone));
                        self.make_ready(old);
                    }
                }
            } else {
                self.set_result(sender, Ok([0; 3]));
                self.make_ready(sender);
            }
            (tag, badge)
        };
        self.set_result(receiver, Ok([badge.0, tag.raw(), 0]));
        self.task(receiver).state = State::Ready;
    }

    /// `send` and `call`.
    pub fn sys_send(
        &mut self,
        cur: usize,
        slot: u32,
        raw_tag: u32,
        is_call: bool,
    ) -> Result<(), KernelError> {
        let tag = user_tag(raw_tag)?;
        let (ep, badge) = self.endpoint_cap(cur, slot, EndpointRights::SEND)?;
        {
            let t = self.task(cur);
            t.send_tag = tag;
            t.send_badge = badge;
            t.send_is_call = is_call;
        }
        match self.endpoints[ep].receivers.pop() {
            Some(r) => {
                self.deliver(cur, r);
                if is_call {
                    // Fast path: the caller now waits; run the server.
                    self.switch_directly(r);
                } else {
                    self.make_ready(r);
                }
            }
            None => {
                self.task(cur).state = State::Sending { ep: ep as u8 };
                self.endpoints[ep].senders.push(cur);
            }
        }
        Ok(())
    }

    /// `recv`.
    pub fn sys_recv(&mut self, cur: usize, slot: u32) -> Result<(), KernelError> {
        let (ep, _) = self.endpoint_cap(cur, slot, EndpointRights::RECEIVE)?;
        self.receive_on(cur, ep);
        Ok(())
    }

    fn receive_on(&mut self, cur: usize, ep: usize) {
        match self.endpoints[ep].senders.pop() {
            Some(s) => self.deliver(s, cur),
            None => {
                self.task(cur).state = State::Receiving { ep: ep as u8 };
                self.endpoints[ep].receivers.push(cur);
            }
        }
    }

    /// `reply_recv`: reply to the pending caller, then receive.
    pub fn sys_reply_recv(
        &mut self,
        cur: usize,
        slot: u32,
        raw_tag: u32,
    ) -> Result<(), KernelError> {
        // Validate everything before acting.
        let tag = user_tag(raw_tag)?;
        let (ep, _) = self.endpoint_cap(cur, slot, EndpointRights::RECEIVE)?;
        let caller = self
            .task(cur)
            .reply_to
            .take()
            .map(usize::from)
            .filter(|&c| {
                matches!(self.tasks[c].as_ref().map(|t| t.state),
                     Some(State::AwaitingReply { server }) if server as usize == cur)
            });
        // (A waiting caller with no other sender queued takes `fastpath`
        // before this; here the reply goes through the run queue.)
        if let Some(c) = caller {
            let src_pa = self.task(cur).ipc_buf;
            self.copy_message_between(src_pa, c, tag);
            self.set_result(c, Ok([0, tag.raw(), 0]));
            self.make_ready(c);
        }
        self.receive_on(cur, ep);
        Ok(())
    }

    /// Hands a dead task's report to a waiting supervisor, or queues it.
    pub fn offer_report(&mut self, t: usize, ep: usize) {
        match self.endpoints.get_mut(ep).and_then(|e| e.receivers.pop()) {
            Some(r) => {
                self.deliver(t, r);
                self.make_ready(r);
            }
            None => {
                if let Some(e) = self.endpoints.get_mut(ep) {
                    e.senders.push(t);
                }
            }
        }
    }
}

/// The IPC fast path (seL4's idea): `call` to a waiting server and
/// `reply_recv` to a waiting caller with no other sender queued are by far
/// the most frequent calls. This handles exactly those cases with the
/// minimum of work — one capability check, one tag check, the copy, two
/// state changes and a direct switch — and returns the context to resume.
/// Anything else (an error, nobody waiting, a pending reply target that
/// would need `PeerGone`, a fault report) returns `None` and takes the
/// general path, which has the same semantics.
pub fn fastpath(k: &mut Kernel, cur: usize) -> Option<*const crate::arch::trap::TrapFrame> {
    let (nr, slot, raw_tag) = {
        let ctx = &k.tasks.get(cur)?.as_ref()?.ctx;
        (ctx.r[7], ctx.r[0], ctx.r[1])
    };
    let is_call = nr == abi::Syscall::Call as u32;
    if !is_call && nr != abi::Syscall::ReplyRecv as u32 {
        return None;
    }
    let tag = MessageTag::from_raw(raw_tag).ok()?;
    if tag.is_kernel_label() {
        return None;
    }
    let needed = if is_call {
        EndpointRights::SEND
    } else {
        EndpointRights::RECEIVE
    };
    let (ep, badge) = match k.tasks[cur]
        .as_ref()?
        .caps
        .get(slot as usize)
        .copied()
        .flatten()?
    {
        Cap::Endpoint { ep, badge, rights } if rights.contains(needed) => (ep as usize, badge),
        _ => return None,
    };
    let (partner, src_pa) = if is_call {
        // A server must be waiting, with no reply owed to someone else.
        let server = k.endpoints.get(ep)?.receivers.peek()?;
        let s = k.tasks.get(server)?.as_ref()?;
        if s.reply_to.is_some() || s.vspace.is_none() {
            return None;
        }
        k.endpoints[ep].receivers.pop();
        (server, k.tasks[cur].as_ref()?.ipc_buf)
    } else {
        // The caller must be waiting for this task's reply, and no other
        // client queued (else the general path receives it at once).
        let caller = usize::from(k.tasks[cur].as_ref()?.reply_to?);
        let waiting = matches!(k.tasks.get(caller)?.as_ref()?.state,
            State::AwaitingReply { server } if server as usize == cur);
        if !waiting || !k.endpoints.get(ep)?.senders.is_empty() {
            return None;
        }
        (caller, k.tasks[cur].as_ref()?.ipc_buf)
    };
    k.copy_message_between(src_pa, partner, tag);
    if is_call {
        let me = k.task(cur);
        me.state = State::AwaitingReply {
            server: partner as u8,
        };
        let server = k.task(partner);
        server.reply_to = Some(cur as u8);
        server.state = State::Ready;
        server.ctx.r[0] = 0;
        server.ctx.r[1] = badge.0;
        server.ctx.r[2] = tag.raw();
        server.ctx.r[3] = 0;
    } else {
        let me = k.task(cur);
        me.reply_to = None;
        me.state = State::Receiving { ep: ep as u8 };
        k.endpoints[ep].receivers.push(cur);
        let caller = k.task(partner);
        caller.state = State::Ready;
        caller.ctx.r[0] = 0;
        caller.ctx.r[1] = 0;
        caller.ctx.r[2] = tag.raw();
        caller.ctx.r[3] = 0;
    }
    k.current = Some(partner);
    Some(k.load(partner))
}
