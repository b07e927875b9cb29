//! System-call wrappers (`doc/syscalls.md`). Each is a single `svc #0` with
//! the number in r7; the raw stub is the only `unsafe` here.

use core::arch::asm;

use abi::{
    Badge, CapSlot, ClientFlags, FrameRun, IpcBuffer, KernelError, MapAttrs, MessageTag, PhysAddr,
    Syscall, VirtAddr, CAP_INFO_BASIC, CAP_INFO_LIMITS, IPC_BUFFER_VADDR,
};

/// Raw call: returns r0..r3.
#[inline(always)]
fn syscall(nr: Syscall, args: [u32; 6]) -> [u32; 4] {
    raw_syscall(nr as u32, args)
}

#[inline(always)]
fn check(r: [u32; 4]) -> Result<[u32; 4], KernelError> {
    KernelError::check(r[0]).map(|()| r)
}

/// This task's IPC buffer.
///
/// Message bytes are read and written here around `call`/`send`/`recv`.
pub fn ipc_buffer() -> &'static mut IpcBuffer {
    // SAFETY: the kernel maps one IPC-buffer page at IPC_BUFFER_VADDR in
    // every task before it starts; tasks are single-threaded, and callers
    // do not keep the reference across another call to this function.
    unsafe { &mut *(IPC_BUFFER_VADDR.as_u32() as *mut IpcBuffer) }
}

/// Writes `bytes` to the kernel console as one line.
pub fn log(bytes: &[u8]) {
    let _ = syscall(
        Syscall::Log,
        [bytes.as_ptr() as u32, bytes.len() as u32, 0, 0, 0, 0],
    );
}

/// Raw `log` with any pointer (tests use it to pass bad pointers).
pub fn log_raw(ptr: u32, len: u32) -> Result<(), KernelError> {
    check(syscall(Syscall::Log, [ptr, len, 0, 0, 0, 0])).map(|_| ())
}

/// Ends the task.
pub fn exit(code: i32) -> ! {
    let _ = syscall(Syscall::Exit, [code as u32, 0, 0, 0, 0, 0]);
    // The kernel never returns from exit; spin if it somehow did.
    loop {
        core::hint::spin_loop();
    }
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    let _ = syscall(Syscall::Yield, [0; 6]);
}

/// Sends `tag` (and `tag.length()` bytes of the IPC buffer).
pub fn send(ep: CapSlot, tag: MessageTag) -> Result<(), KernelError> {
    check(syscall(Syscall::Send, [ep.0, tag.raw(), 0, 0, 0, 0])).map(|_| ())
}

/// Sends with a raw tag word (tests of the kernel's tag checks).
pub fn send_raw(ep: CapSlot, raw_tag: u32) -> Result<(), KernelError> {
    check(syscall(Syscall::Send, [ep.0, raw_tag, 0, 0, 0, 0])).map(|_| ())
}

/// Receives: the sender's badge and tag.
pub fn recv(ep: CapSlot) -> Result<(Badge, MessageTag), KernelError> {
    let r = check(syscall(Syscall::Recv, [ep.0, 0, 0, 0, 0, 0]))?;
    Ok((Badge(r[1]), tag_from(r[2])))
}

/// Calls: sends and waits for the reply; returns the reply tag.
#[inline]
pub fn call(ep: CapSlot, tag: MessageTag) -> Result<MessageTag, KernelError> {
    let r = check(syscall(Syscall::Call, [ep.0, tag.raw(), 0, 0, 0, 0]))?;
    Ok(tag_from(r[2]))
}

/// Calls with a raw tag word.
pub fn call_raw(ep: CapSlot, raw_tag: u32) -> Result<MessageTag, KernelError> {
    let r = check(syscall(Syscall::Call, [ep.0, raw_tag, 0, 0, 0, 0]))?;
    Ok(tag_from(r[2]))
}

/// Replies to the pending caller, then receives the next message.
#[inline]
pub fn reply_recv(ep: CapSlot, reply: MessageTag) -> Result<(Badge, MessageTag), KernelError> {
    let r = check(syscall(Syscall::ReplyRecv, [ep.0, reply.raw(), 0, 0, 0, 0]))?;
    Ok((Badge(r[1]), tag_from(r[2])))
}

#[inline(always)]
fn tag_from(raw: u32) -> MessageTag {
    // The kernel only delivers tags it validated.
    MessageTag::from_raw(raw).unwrap_or_default()
}

/// Maps `runs` (copied to the IPC buffer) at `vaddr` in the VSpace `vspace`;
/// the frames must lie in the Pool/Device capability `frames`.
pub fn map_pages(
    vspace: CapSlot,
    vaddr: VirtAddr,
    runs: &[FrameRun],
    attrs: MapAttrs,
    frames: CapSlot,
) -> Result<u32, KernelError> {
    let buf = ipc_buffer();
    let Some(dst) = buf.frame_runs_mut(runs.len()) else {
        return Err(KernelError::InvalidArgument);
    };
    dst.copy_from_slice(runs);
    map_pages_from_buffer(vspace, vaddr, runs.len() as u32, attrs.raw(), frames)
}

/// `map_pages` with the runs already in the IPC buffer and raw attributes.
pub fn map_pages_from_buffer(
    vspace: CapSlot,
    vaddr: VirtAddr,
    nruns: u32,
    attrs: u32,
    frames: CapSlot,
) -> Result<u32, KernelError> {
    let r = check(syscall(
        Syscall::MapPages,
        [vspace.0, vaddr.0, nruns, attrs, frames.0, 0],
    ))?;
    Ok(r[1])
}

/// Clears `count` entries at `vaddr`; returns how many were mapped.
pub fn unmap_pages(vspace: CapSlot, vaddr: VirtAddr, count: u32) -> Result<u32, KernelError> {
    let r = check(syscall(
        Syscall::UnmapPages,
        [vspace.0, vaddr.0, count, 0, 0, 0],
    ))?;
    Ok(r[1])
}

/// Invalidates TLB entries (`count = abi::FLUSH_ALL` for the whole space).
pub fn flush_tlb(vspace: CapSlot, vaddr: VirtAddr, count: u32) -> Result<(), KernelError> {
    check(syscall(
        Syscall::FlushTlb,
        [vspace.0, vaddr.0, count, 0, 0, 0],
    ))
    .map(|_| ())
}

/// Binds this task to the interrupt of capability `irq`.
pub fn irq_bind(irq: CapSlot) -> Result<(), KernelError> {
    check(syscall(Syscall::IrqBind, [irq.0, 0, 0, 0, 0, 0])).map(|_| ())
}

/// Waits for the bound interrupt.
pub fn irq_wait(irq: CapSlot) -> Result<(), KernelError> {
    check(syscall(Syscall::IrqWait, [irq.0, 0, 0, 0, 0, 0])).map(|_| ())
}

/// Re-enables the bound interrupt.
pub fn irq_ack(irq: CapSlot) -> Result<(), KernelError> {
    check(syscall(Syscall::IrqAck, [irq.0, 0, 0, 0, 0, 0])).map(|_| ())
}

/// The board's free-running counter: (count, counts per second). The
/// frequency is the board's real one (vexpress-a9: the A9 global timer,
/// 100 MHz; virt: CNTVCT at CNTFRQ, 62.5 MHz under TCG, the host's under
/// KVM): never assume a value.
pub fn read_counter() -> (u64, u32) {
    let r = syscall(Syscall::ReadCounter, [0; 6]);
    ((r[2] as u64) << 32 | r[1] as u64, r[3])
}

/// What a capability slot holds: (type number, parameter, parameter)
/// (`cap_info` part [`CAP_INFO_BASIC`]).
pub fn cap_info(slot: CapSlot) -> Result<(u32, u32, u32), KernelError> {
    let r = check(syscall(
        Syscall::CapInfo,
        [slot.0, CAP_INFO_BASIC, 0, 0, 0, 0],
    ))?;
    Ok((r[1], r[2], r[3]))
}

/// A VSpace capability's client limits (`cap_info` part
/// [`CAP_INFO_LIMITS`]): (window quota in pages, client flags).
/// `InvalidArgument` for any other kind of capability.
pub fn cap_info_limits(slot: CapSlot) -> Result<(u32, ClientFlags), KernelError> {
    let r = check(syscall(
        Syscall::CapInfo,
        [slot.0, CAP_INFO_LIMITS, 0, 0, 0, 0],
    ))?;
    // The kernel only reports flags this ABI knows; anything else would be
    // a newer kernel's right this task cannot use.
    Ok((r[2], ClientFlags::from_bits(r[3]).unwrap_or_default()))
}

/// Any part of `cap_info`, raw: (type number, r2, r3). Part
/// [`CAP_INFO_LIMITS`] of a Device capability is (3, irq or
/// [`abi::NO_IRQ`], [`abi::DeviceInfo`] bits); of a Pool capability (2,
/// first RAM frame of the board, RAM frame count); of a VSpace capability
/// (4, window quota in pages, [`ClientFlags`] bits).
pub fn cap_info_part(slot: CapSlot, part: u32) -> Result<(u32, u32, u32), KernelError> {
    let r = check(syscall(Syscall::CapInfo, [slot.0, part, 0, 0, 0, 0]))?;
    Ok((r[1], r[2], r[3]))
}

/// How the caller's own page at `vaddr` is mapped: (attributes, physical
/// address of the page, raw short-descriptor entry). `NotMapped` if
/// nothing is mapped there, `OutOfWindow` for a kernel address.
pub fn mapping_info(vaddr: VirtAddr) -> Result<(MapAttrs, PhysAddr, u32), KernelError> {
    let r = check(syscall(Syscall::MappingInfo, [vaddr.0, 0, 0, 0, 0, 0]))?;
    let attrs = MapAttrs::from_raw(r[1]).ok_or(KernelError::InvalidArgument)?;
    Ok((attrs, PhysAddr(r[2]), r[3]))
}

/// Any number in r7 (the typed wrappers above use it; tests of
/// `BadSyscall` call it directly).
#[inline(always)]
pub fn raw_syscall(nr: u32, args: [u32; 6]) -> [u32; 4] {
    let (r0, r1, r2, r3): (u32, u32, u32, u32);
    // SAFETY: `svc` enters the kernel, which validates every argument and
    // writes only r0-r3 (and the caller's IPC buffer, which Rust code only
    // reaches through `ipc_buffer()`); all other registers are preserved.
    unsafe {
        asm!(
            "svc #0",
            inlateout("r0") args[0] => r0,
            inlateout("r1") args[1] => r1,
            inlateout("r2") args[2] => r2,
            inlateout("r3") args[3] => r3,
            in("r4") args[4],
            in("r5") args[5],
            in("r7") nr,
            options(nostack)
        );
    }
    [r0, r1, r2, r3]
}
