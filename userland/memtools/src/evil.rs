//! Hostile clients.
//!
//! - `evil`: every kind of bad request, each of which must get its exact
//!   typed error (and change nothing); the server must still answer a ping
//!   afterwards; then it writes past the end of an area into the guard page
//!   and is killed (the server reports the overrun and reclaims it).
//! - `innocent`: holds one area that `evil` tries to free, iounmap and
//!   translate; checks it survived untouched.
//! - `exhaust`: runs the window out (`NoVirtualSpace`) and RAM out
//!   (`OutOfMemory`) and checks no frame leaks (boot with `-m 128M`: the
//!   pool is then smaller than the 240 MiB window).

use alloc::format;
use alloc::vec::Vec;
use core::fmt::Debug;

use abi::{DeviceRole, MessageTag, Pfn, PhysAddr, VirtAddr, IPC_BUFFER_VADDR, PAGE_SIZE};
use ipc::{decode_response, BoundedVec, Opcode, Response, HEADER_SIZE, PROTOCOL_VERSION};
use log::{error, info};
use memclient::{ClientError, ErrorCode, MemType, PageRun, VmallocFlags, VmapFlags, VmapSource};
use userlib::{dev, mem, sys};

use crate::stress::{fill, verify, Client};
use crate::MEMSERVER;

const P: u32 = PAGE_SIZE;
/// Caller tag of the innocent client's area (evil finds it by this).
const INNOCENT_TAG: u32 = 0x1a0c_e417;
/// Caller tag of the area evil allocates when it is done with the
/// innocent one (the innocent client waits for it).
const EVIL_DONE_TAG: u32 = 0xd0e5_0001;
/// Caller tag of the area evil overruns (the server's report names it).
const OVERRUN_TAG: u32 = 0x0bad_c0de;
/// How long either side waits for the other (yields).
const PATIENCE: u32 = 20_000;

/// Counts the checks and reports each one.
struct Checks {
    done: u32,
    wrong: u32,
}

impl Checks {
    /// `got` must be exactly the server error `want`.
    fn expect<T: Debug>(&mut self, what: &str, got: Result<T, ClientError>, want: ErrorCode) {
        self.done += 1;
        match got {
            Err(ClientError::Server(code)) if code == want => {
                info!("evil: {what} -> {code:?} ok");
            }
            other => {
                self.wrong += 1;
                error!("evil: {what} -> {other:?}, expected {want:?}");
            }
        }
    }

    /// A step that must succeed (setting up the next check).
    fn ok<T>(&mut self, what: &str, got: Result<T, ClientError>) -> Option<T> {
        match got {
            Ok(v) => Some(v),
            Err(e) => {
                self.wrong += 1;
                error!("evil: {what} failed: {e:?}");
                None
            }
        }
    }
}

/// Sends `len` bytes already in the IPC buffer as a memory-server request
/// and decodes the reply: the sequence number and the response.
fn raw_call(len: usize) -> Result<(u32, Response), ClientError> {
    let tag = MessageTag::new(mem::MEMSERVER_LABEL, len)
        .ok_or(ClientError::Transport(abi::KernelError::MessageTooLong))?;
    let reply = sys::call(MEMSERVER, tag).map_err(ClientError::Transport)?;
    let bytes = &sys::ipc_buffer().bytes[..reply.length()];
    decode_response(bytes).map_err(ClientError::Decode)
}

/// Writes a header (doc/ipc.md: version u16, opcode u16, seq u32, len u32,
/// all little-endian) and `payload` into the IPC buffer; returns the
/// message length. Written by hand, not with `ipc`'s encoder, so any field
/// can be wrong.
fn put(version: u16, opcode: u16, seq: u32, declared_len: u32, payload: &[u8]) -> usize {
    let buf = &mut sys::ipc_buffer().bytes;
    buf[0..2].copy_from_slice(&version.to_le_bytes());
    buf[2..4].copy_from_slice(&opcode.to_le_bytes());
    buf[4..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..12].copy_from_slice(&declared_len.to_le_bytes());
    buf[HEADER_SIZE..HEADER_SIZE + payload.len()].copy_from_slice(payload);
    HEADER_SIZE + payload.len()
}

/// A raw message must get error `want`, echoing `seq`.
fn expect_raw(c: &mut Checks, what: &str, len: usize, seq: u32, want: ErrorCode) {
    let got = match raw_call(len) {
        Ok((s, Response::Error(code))) if s == seq => Err(ClientError::Server(code)),
        Ok((s, Response::Error(_))) => Err(ClientError::SequenceMismatch {
            expected: seq,
            got: s,
        }),
        Ok((_, other)) => Ok(other.wire_opcode()),
        Err(e) => Err(e),
    };
    c.expect(what, got, want);
}

/// Garbage, truncated and mis-versioned messages, written byte by byte.
fn raw_requests(c: &mut Checks) {
    // A valid Ping payload: nonce 5 = varint 05.
    let ping = Opcode::Ping.to_wire();
    let vmalloc = Opcode::Vmalloc.to_wire();
    expect_raw(c, "empty message", 0, 0, ErrorCode::Malformed);
    put(PROTOCOL_VERSION, ping, 0x51, 1, &[5]);
    expect_raw(c, "header cut to 6 bytes", 6, 0, ErrorCode::Malformed);
    // Vmalloc of 64 KiB with its last 4 bytes cut, header length unchanged.
    let len = put(
        PROTOCOL_VERSION,
        vmalloc,
        0x52,
        9,
        &[0x80, 0x80, 0x04, 0x80, 0x20],
    );
    expect_raw(
        c,
        "truncated payload (len says 9, 5 sent)",
        len,
        0x52,
        ErrorCode::Malformed,
    );
    // Same bytes, header length matching: postcard runs out mid-struct.
    let len = put(
        PROTOCOL_VERSION,
        vmalloc,
        0x53,
        5,
        &[0x80, 0x80, 0x04, 0x80, 0x20],
    );
    expect_raw(
        c,
        "truncated payload (len 5)",
        len,
        0x53,
        ErrorCode::Malformed,
    );
    // A varint that never ends (every continuation bit set).
    let len = put(PROTOCOL_VERSION, vmalloc, 0x54, 12, &[0xff; 12]);
    expect_raw(
        c,
        "garbage payload (0xff x 12)",
        len,
        0x54,
        ErrorCode::Malformed,
    );
    // A flags byte with a bit no flag has.
    let len = put(
        PROTOCOL_VERSION,
        vmalloc,
        0x55,
        6,
        &[0x80, 0x20, 0x80, 0x20, 0xf0, 0x00],
    );
    expect_raw(
        c,
        "unknown vmalloc flag bits",
        len,
        0x55,
        ErrorCode::Malformed,
    );
    let len = put(PROTOCOL_VERSION, ping, 0x56, 2, &[5, 0]);
    expect_raw(
        c,
        "trailing byte after a ping",
        len,
        0x56,
        ErrorCode::Malformed,
    );
    let len = put(PROTOCOL_VERSION + 1, ping, 0x57, 1, &[5]);
    expect_raw(
        c,
        "protocol version 2",
        len,
        0x57,
        ErrorCode::UnsupportedVersion,
    );
    let len = put(0, ping, 0x58, 1, &[5]);
    expect_raw(
        c,
        "protocol version 0",
        len,
        0x58,
        ErrorCode::UnsupportedVersion,
    );
    let len = put(PROTOCOL_VERSION, 99, 0x59, 1, &[5]);
    expect_raw(c, "unknown opcode 99", len, 0x59, ErrorCode::UnknownOpcode);
    let len = put(PROTOCOL_VERSION, Opcode::Ping.reply_wire(), 0x5a, 1, &[5]);
    expect_raw(
        c,
        "a reply opcode as a request",
        len,
        0x5a,
        ErrorCode::UnknownOpcode,
    );
    let len = put(PROTOCOL_VERSION, ipc::OPCODE_ERROR, 0x5b, 2, &[1, 0]);
    expect_raw(
        c,
        "the error opcode as a request",
        len,
        0x5b,
        ErrorCode::UnknownOpcode,
    );
    // A whole IPC buffer of garbage behind a valid Ping payload.
    let max = abi::IPC_BUFFER_SIZE;
    sys::ipc_buffer().bytes[HEADER_SIZE..].fill(0xa5);
    put(
        PROTOCOL_VERSION,
        ping,
        0x5c,
        (max - HEADER_SIZE) as u32,
        &[5],
    );
    expect_raw(
        c,
        "4096-byte message, 4083 trailing bytes",
        max,
        0x5c,
        ErrorCode::Malformed,
    );
}

/// Pages probed from the start of the window when looking for the
/// innocent client's area (it allocates first thing: it lies low).
const PROBE_PAGES: u32 = 1024;
/// Where evil's done marker lands: the first 64 MiB-aligned address of the
/// window that is free (the low one is in use), and the next ones.
const DONE_MARKER_ALIGN: u32 = 64 << 20;
const DONE_MARKER_SPOTS: [u32; 3] = [0x4400_0000, 0x4800_0000, 0x4c00_0000];

/// Whether `addr` lies in an area of another client. `Info` lists only a
/// client's own areas, so the two clients find each other's the way any
/// client can: a translation of an address in a foreign area is refused
/// with `NotOwner`, of an address in no area with `NotFound`.
fn foreign(client: &Client, addr: u32) -> Result<bool, ClientError> {
    match client.virt_to_phys(VirtAddr(addr)) {
        Err(ClientError::Server(ErrorCode::NotOwner)) => Ok(true),
        Err(ClientError::Server(ErrorCode::NotFound)) | Ok(_) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The first page of the window in a foreign area (the innocent client's:
/// the only other client).
fn find_foreign(client: &Client) -> Result<Option<VirtAddr>, ClientError> {
    let start = abi::VMALLOC_START_DEFAULT.0;
    for page in 0..PROBE_PAGES {
        let addr = start + page * P;
        if foreign(client, addr)? {
            return Ok(Some(VirtAddr(addr)));
        }
    }
    Ok(None)
}

fn wait_for_foreign(client: &Client) -> Result<Option<VirtAddr>, ClientError> {
    for _ in 0..PATIENCE / 100 {
        if let Some(a) = find_foreign(client)? {
            return Ok(Some(a));
        }
        sys::yield_now();
    }
    Ok(None)
}

/// Waits until `addr` is (`present`) or is no longer in a foreign area.
fn wait_for_spot(client: &Client, spots: &[u32], present: bool) -> Result<bool, ClientError> {
    for _ in 0..PATIENCE {
        let mut any = false;
        for &s in spots {
            any |= foreign(client, s)?;
        }
        if any == present {
            return Ok(true);
        }
        sys::yield_now();
    }
    Ok(false)
}

/// The hostile client.
pub fn run() -> i32 {
    let client = mem::client(MEMSERVER);
    let mut c = Checks { done: 0, wrong: 0 };
    if c.ok("ping", client.ping(1)).is_none() {
        return 1;
    }

    // --- vfree of what is not ours to free.
    let Some(area) = c.ok("vmalloc(2 pages)", client.vmalloc(2 * P)) else {
        return 1;
    };
    let a = area.addr();
    c.expect(
        "vfree(area + 0x10) (unaligned)",
        client.vfree_addr(VirtAddr(a.0 + 0x10)),
        ErrorCode::UnalignedAddress,
    );
    c.expect(
        "vfree(area + 1 page) (inside, not the start)",
        client.vfree_addr(VirtAddr(a.0 + P)),
        ErrorCode::NotFound,
    );
    c.expect(
        "vfree(0x4e000000) (unknown)",
        client.vfree_addr(VirtAddr(0x4e00_0000)),
        ErrorCode::NotFound,
    );
    c.expect(
        "vfree(0x00001000) (below the window)",
        client.vfree_addr(VirtAddr(0x1000)),
        ErrorCode::NotFound,
    );
    let (raw, _) = area.into_raw();
    c.ok("vfree", client.vfree_addr(raw));
    c.expect(
        "vfree twice (double free)",
        client.vfree_addr(raw),
        ErrorCode::NotFound,
    );

    // --- Info lists only its own areas.
    let Some(mine) = c.ok("vmalloc(1 page)", client.vmalloc(P)) else {
        return 1;
    };
    let me = mem::badge(MEMSERVER).unwrap_or(0);
    let (mut listed, mut others) = (0u32, 0u32);
    let listing = client.info_all(|r| {
        listed += 1;
        if r.owner != me {
            others += 1;
        }
    });
    if listing.is_ok() && listed >= 1 && others == 0 {
        info!("evil: info lists only its own areas ({listed}) ok");
    } else {
        c.wrong += 1;
        error!("evil: info listed {listed} areas, {others} of other clients: {listing:?}");
    }
    drop(mine);

    // --- Another client's area, found by probing (NotOwner).
    let mut innocent_at = None;
    match wait_for_foreign(&client) {
        Ok(Some(theirs)) => {
            innocent_at = Some(theirs);
            info!(
                "evil: found the innocent client's area at {:#010x}",
                theirs.0
            );
            c.expect(
                "vfree(foreign area)",
                client.vfree_addr(theirs),
                ErrorCode::NotOwner,
            );
            c.expect(
                "iounmap(foreign area)",
                client.iounmap_addr(theirs),
                ErrorCode::NotOwner,
            );
            c.expect(
                "virt_to_phys(foreign area)",
                client.virt_to_phys(theirs),
                ErrorCode::NotOwner,
            );
            c.expect(
                "vmap(dma = foreign area)",
                client.vmap(VmapSource::Dma { addr: theirs }, VmapFlags::NONE),
                ErrorCode::NotOwner,
            );
        }
        other => {
            c.wrong += 1;
            error!("evil: the innocent client's area never showed up: {other:?}");
        }
    }

    // --- Sizes and alignments.
    let vm = |size, align| client.vmalloc_with(size, align, VmallocFlags::NONE, 0);
    c.expect("vmalloc(0)", vm(0, P), ErrorCode::InvalidSize);
    c.expect(
        "vmalloc(0xfffff001) (overflows when rounded)",
        vm(0xffff_f001, P),
        ErrorCode::InvalidSize,
    );
    c.expect(
        "vmalloc(1 GiB) (more than RAM)",
        vm(1 << 30, P),
        ErrorCode::TooLarge,
    );
    c.expect("vmalloc(align 0)", vm(P, 0), ErrorCode::BadAlignment);
    c.expect(
        "vmalloc(align 3 pages) (not a power of two)",
        vm(P, 3 * P),
        ErrorCode::BadAlignment,
    );
    c.expect(
        "vmalloc(align 2 GiB) (larger than the window)",
        vm(P, 1 << 31),
        ErrorCode::BadAlignment,
    );
    c.expect(
        "vmalloc(65 pages) (quota 64)",
        vm(65 * P, P),
        ErrorCode::QuotaExceeded,
    );
    // Fill the rest of the quota page by page: the next one is refused.
    let mut held = Vec::with_capacity(64);
    let refusal = loop {
        match client.vmalloc(P) {
            Ok(a) => held.push(a),
            Err(e) => break e,
        }
        if held.len() > 64 {
            break ClientError::Server(ErrorCode::Internal);
        }
    };
    c.expect::<()>(
        "vmalloc(1 page) past the quota",
        Err(refusal),
        ErrorCode::QuotaExceeded,
    );
    info!("evil: quota full after {} more 1-page areas", held.len());
    drop(held);
    c.expect("dma_alloc(0)", client.dma_alloc(0), ErrorCode::InvalidSize);
    c.expect(
        "dma_alloc(1M pages)",
        client.dma_alloc(1 << 20),
        ErrorCode::TooLarge,
    );

    // --- ioremap of what is not a granted device. Every address comes
    // from this task's own view (its frames, its Device capability), none
    // from the board.
    let Some(granted) = crate::granted_device("evil") else {
        return 1;
    };
    // The console: the manifest gives evil a capability describing it but
    // no grant at the server.
    let Some(console) = dev::find(DeviceRole::Console) else {
        error!("evil: no Device capability with role console (the ungranted device)");
        return 1;
    };
    let granted_at = granted.page();
    let name = dev::role_name(granted.role());
    // A RAM frame of its own (pool memory) and the kernel's frame behind
    // its IPC buffer (kernel memory).
    let own_ram = client
        .vmalloc(P)
        .and_then(|a| Ok((client.virt_to_phys(a.addr())?, a)));
    let Some((own_frame, own_area)) = c.ok("vmalloc + virt_to_phys", own_ram) else {
        return 1;
    };
    let kernel_page = match sys::mapping_info(IPC_BUFFER_VADDR) {
        Ok((_, pa, _)) => pa.0,
        Err(e) => {
            error!("evil: mapping_info(IPC buffer): {e}");
            return 1;
        }
    };
    let io = |phys, size| client.ioremap(PhysAddr(phys), size, MemType::Device);
    c.expect(
        "ioremap(RAM: a frame of its own vmalloc area)",
        io(own_frame.0 & !(P - 1), P),
        ErrorCode::PermissionDenied,
    );
    c.expect(
        "ioremap(kernel: the frame of its IPC buffer)",
        io(kernel_page, P),
        ErrorCode::PermissionDenied,
    );
    c.ok("vfree", client.vfree(own_area));
    c.expect(
        "ioremap(console) (not granted)",
        io(console.phys(), P),
        ErrorCode::PermissionDenied,
    );
    c.expect(
        &format!(
            "ioremap({name}, {} pages) (grant is {} page{})",
            granted.frames + 1,
            granted.frames,
            if granted.frames == 1 { "" } else { "s" }
        ),
        io(granted_at, granted.size() + P),
        ErrorCode::PermissionDenied,
    );
    c.expect(
        &format!("ioremap({name}, size 0)"),
        io(granted_at, 0),
        ErrorCode::InvalidSize,
    );
    c.expect(
        "ioremap(0xfffff000, 8 KiB) (past 4 GiB)",
        io(0xffff_f000, 2 * P),
        ErrorCode::InvalidSize,
    );
    c.expect(
        &format!("ioremap({name}, NormalCached) (a device is never cached)"),
        client.ioremap(PhysAddr(granted_at), P, MemType::NormalCached),
        ErrorCode::PermissionDenied,
    );
    if let Some(wc) = c.ok(
        &format!("ioremap({name}, NormalUncached)"),
        client.ioremap(PhysAddr(granted_at), P, MemType::NormalUncached),
    ) {
        match mem::mapped_type(wc.addr()) {
            Ok(MemType::NormalUncached) => {
                info!("evil: ioremap({name}, NormalUncached) maps Normal uncached ok")
            }
            other => {
                c.wrong += 1;
                error!("evil: ioremap({name}, NormalUncached) mapped as {other:?}");
            }
        }
    }

    // --- Wrong kinds and vmap of frames not ours.
    let (Some(dev), Some(area)) = (
        c.ok(&format!("ioremap({name})"), io(granted_at, P)),
        c.ok("vmalloc(1 page)", client.vmalloc(P)),
    ) else {
        return 1;
    };
    c.expect(
        "vfree(ioremap area)",
        client.vfree_addr(dev.addr()),
        ErrorCode::WrongAreaKind,
    );
    c.expect(
        "iounmap(vmalloc area)",
        client.iounmap_addr(area.addr()),
        ErrorCode::WrongAreaKind,
    );
    c.expect(
        "dma_free(vmalloc area)",
        client.dma_free_addr(area.addr()),
        ErrorCode::WrongAreaKind,
    );
    c.expect(
        "vmap(dma = vmalloc area)",
        client.vmap(VmapSource::Dma { addr: area.addr() }, VmapFlags::NONE),
        ErrorCode::WrongAreaKind,
    );
    let frames = |pfn, count| {
        let runs = BoundedVec::from_slice(&[PageRun {
            pfn: Pfn(pfn),
            count,
        }])
        .unwrap_or_default();
        VmapSource::Frames(runs)
    };
    let kernel_frame = kernel_page >> abi::PAGE_SHIFT;
    c.expect(
        "vmap(kernel frame: its IPC buffer's)",
        client.vmap(frames(kernel_frame, 1), VmapFlags::NONE),
        ErrorCode::NotOwner,
    );
    c.expect(
        &format!("vmap(device frame: the granted {name}) (ioremap it instead)"),
        client.vmap(frames(granted.first_frame, 1), VmapFlags::NONE),
        ErrorCode::NotOwner,
    );
    c.expect(
        "vmap(0 runs)",
        client.vmap(VmapSource::Frames(BoundedVec::new()), VmapFlags::NONE),
        ErrorCode::InvalidSize,
    );
    c.expect(
        "vmap(run of 0 frames)",
        client.vmap(frames(kernel_frame, 0), VmapFlags::NONE),
        ErrorCode::InvalidSize,
    );
    c.expect(
        "vmap(run of 4G-1 frames)",
        client.vmap(frames(kernel_frame, u32::MAX), VmapFlags::NONE),
        ErrorCode::TooLarge,
    );
    // Starting at its own frame but 16 MiB long: far more than its quota
    // of 64 pages could own.
    if let Some(phys) = c.ok("virt_to_phys", client.virt_to_phys(area.addr())) {
        c.expect(
            "vmap(own frame + the 4095 after it)",
            client.vmap(frames(phys.pfn().0, 4096), VmapFlags::NONE),
            ErrorCode::NotOwner,
        );
    }
    c.expect(
        "virt_to_phys(guard page)",
        client.virt_to_phys(VirtAddr(area.addr().0 + P)),
        ErrorCode::NotFound,
    );
    c.ok("iounmap", client.iounmap(dev));
    c.ok("vfree", client.vfree(area));

    raw_requests(&mut c);

    // The server must still be serving.
    if c.ok("ping after the bad requests", client.ping(0x0e71))
        .is_none()
    {
        return 1;
    }
    if c.wrong == 0 {
        info!(
            "evil: all {} bad requests refused with their exact errors; server alive (ping answered)",
            c.done
        );
    } else {
        error!("evil: {} of {} checks went wrong", c.wrong, c.done);
    }

    // Tell the innocent client we are done with its area, and wait for it
    // to check and free it (the overrun below reclaims everything of ours).
    let done = c.ok(
        "vmalloc(done marker)",
        client.vmalloc_with(P, DONE_MARKER_ALIGN, VmallocFlags::NONE, EVIL_DONE_TAG),
    );
    if done.is_some() {
        let freed = match innocent_at {
            Some(theirs) => matches!(wait_for_spot(&client, &[theirs.0], false), Ok(true)),
            None => false,
        };
        if !freed {
            error!("evil: the innocent client never freed its area");
        }
    }

    // --- Write one word past the end of an area: the guard page.
    let Some(victim) = c.ok(
        "vmalloc(8 KiB)",
        client.vmalloc_with(2 * P, P, VmallocFlags::NONE, OVERRUN_TAG),
    ) else {
        return 1;
    };
    let (addr, size) = victim.into_raw();
    info!(
        "evil: writing past the end of {:#010x}-{:#010x} into its guard page",
        addr.0,
        addr.0 + size
    );
    let past = (addr.0 + size) as usize as *mut u32;
    // SAFETY: deliberately not safe for the task: the guard page is
    // unmapped, so this store faults and the kernel stops the task (the
    // point of the exercise). No Rust object lives at that address.
    unsafe { past.write_volatile(0xdead_beef) };
    error!("evil: the write into the guard page did not fault");
    3
}

/// Holds an area for `evil` to attack; checks it survived.
pub fn innocent() -> i32 {
    let client = mem::client(MEMSERVER);
    let area = match client.vmalloc_with(4 * P, P, VmallocFlags::NONE, INNOCENT_TAG) {
        Ok(a) => a,
        Err(e) => {
            error!("innocent: vmalloc: {e:?}");
            return 1;
        }
    };
    const SEED: u32 = 0x1a0c;
    // SAFETY: the server mapped the area read-write for this task; `area`
    // keeps it mapped.
    unsafe { fill(area.addr(), area.size(), SEED) };
    info!(
        "innocent: holding {:#010x}-{:#010x} for evil to try",
        area.addr().0,
        area.addr().0 + area.size()
    );
    match wait_for_spot(&client, &DONE_MARKER_SPOTS, true) {
        Ok(true) => {}
        other => {
            error!("innocent: evil never said it was done: {other:?}");
            return 1;
        }
    }
    // SAFETY: as above.
    let intact = unsafe { verify(area.addr(), area.size(), area.addr(), SEED) };
    match client.vfree(area) {
        Ok(()) if intact => {
            info!("innocent: area intact after evil's attempts; freed");
            0
        }
        other => {
            error!("innocent: area intact: {intact}, vfree: {other:?}");
            1
        }
    }
}

/// Runs the window out, then RAM; checks nothing leaks.
pub fn exhaust() -> i32 {
    let client = mem::client(MEMSERVER);
    match exhaust_inner(&client) {
        Ok(()) => {
            info!("exhaust: NoVirtualSpace and OutOfMemory as expected; zero frames leaked");
            0
        }
        Err(e) => {
            error!("exhaust: {e}");
            1
        }
    }
}

/// Spacing of the window-exhaustion spacers: two 4 MiB aliases (with
/// their guard pages) never fit between two of them.
const SPACER_ALIGN: u32 = 8 << 20;

fn free_pages(client: &Client) -> Result<u32, &'static str> {
    client
        .stats()
        .map(|s| s.free_pages)
        .map_err(|_| "stats failed")
}

fn exhaust_inner(client: &Client) -> Result<(), &'static str> {
    // Handles are kept in vectors reserved up front: the heap grows through
    // vmalloc, which is exactly what is about to fail.
    let mut aliases = Vec::with_capacity(256);
    let mut areas = Vec::with_capacity(1024);

    // The window: alias one 4 MiB DMA buffer over and over (vmap uses
    // window space but no frames) until no range is left. The client's
    // window quota is the whole window (guard pages count in both), so
    // 1-page spacers every 8 MiB first leave holes no 4 MiB alias fits
    // into: the window runs out while the quota still has room.
    let dma = client.dma_alloc(1024).map_err(|_| "dma_alloc(1024)")?;
    let mut spacers = Vec::with_capacity(32);
    while spacers.len() < 32 {
        match client.vmalloc_with(P, SPACER_ALIGN, VmallocFlags::NONE, 0x5bac_e000) {
            Ok(a) => spacers.push(a),
            Err(ClientError::Server(ErrorCode::NoVirtualSpace)) => break,
            Err(_) => return Err("vmalloc(spacer)"),
        }
    }
    let err = loop {
        match client.vmap(VmapSource::Dma { addr: dma.addr() }, VmapFlags::NONE) {
            Ok(a) if aliases.len() < 256 => aliases.push(a),
            Ok(_) => return Err("the window never ran out"),
            Err(e) => break e,
        }
    };
    info!(
        "exhaust: window full after {} aliases of 4 MiB: vmap -> {err:?}",
        aliases.len()
    );
    if err != ClientError::Server(ErrorCode::NoVirtualSpace) {
        return Err("vmap on a full window: expected NoVirtualSpace");
    }
    let before = free_pages(client)?;
    let err = client.vmalloc(8 << 20).map(|_| ());
    let after = free_pages(client)?;
    info!("exhaust: vmalloc(8 MiB) on a full window -> {err:?}; free frames {before} -> {after}");
    if err != Err(ClientError::Server(ErrorCode::NoVirtualSpace)) || before != after {
        return Err("vmalloc on a full window: expected NoVirtualSpace, no frame taken");
    }
    for a in aliases.drain(..) {
        client.vunmap(a).map_err(|_| "vunmap")?;
    }
    for a in spacers.drain(..) {
        client.vfree(a).map_err(|_| "vfree(spacer)")?;
    }
    client.dma_free(dma).map_err(|_| "dma_free")?;

    // RAM: 1 MiB areas (each page touched) until the pool is empty; twice,
    // and the second time must fit exactly as many with exactly as many
    // frames left over: nothing from the first round leaked.
    let mut rounds = [(0usize, 0u32); 2];
    for round in &mut rounds {
        let err = loop {
            match client.vmalloc(1 << 20) {
                Ok(a) if areas.len() < 1024 => {
                    // SAFETY: mapped read-write for this task while held.
                    unsafe { fill(a.addr(), a.size(), 0x00e4) };
                    areas.push(a);
                }
                Ok(_) => return Err("RAM never ran out"),
                Err(e) => break e,
            }
        };
        *round = (areas.len(), free_pages(client)?);
        info!(
            "exhaust: RAM full after {} areas of 1 MiB ({} frames left): vmalloc -> {err:?}",
            round.0, round.1
        );
        if err != ClientError::Server(ErrorCode::OutOfMemory) {
            return Err("vmalloc with RAM exhausted: expected OutOfMemory");
        }
        for a in areas.drain(..) {
            // SAFETY: still mapped (not freed yet).
            if !unsafe { verify(a.addr(), a.size(), a.addr(), 0x00e4) } {
                return Err("data MISMATCH");
            }
            client.vfree(a).map_err(|_| "vfree")?;
        }
    }
    info!(
        "exhaust: second round {} areas / {} frames left == first round {} / {}: zero frames leaked",
        rounds[1].0, rounds[1].1, rounds[0].0, rounds[0].1
    );
    if rounds[0] != rounds[1] {
        return Err("the second round differs: frames leaked");
    }
    Ok(())
}
