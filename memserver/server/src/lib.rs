//! `memserver`: the memory server's request handling, independent of the
//! kernel, so the whole server runs on the host against a fake [`Mapper`].
//!
//! The task (userland) is a loop around [`Server::handle`]: receive a
//! message and the caller's badge, hand both to the server, reply with the
//! bytes it wrote. Fault and exit messages from the kernel go to
//! [`Server::client_faulted`] and [`Server::client_exited`].
//!
//! # Request flow
//!
//! ```text
//! bytes ──decode──▶ Request ──validate──▶ account ──act──▶ Response ──encode──▶ bytes
//!        ipc::decode_request   sizes, alignment,   quota     memcore          ipc::encode_response
//!        (errors: Malformed,   ownership, kind,    check     (vmalloc, vfree,
//!         TooLarge, Unsupported- grants                       ioremap, …)
//!         Version, UnknownOpcode)
//! ```
//!
//! 1. **Decode** ([`ipc::decode_request`]). A message that does not decode is
//!    answered with the error its [`ipc::DecodeError`] maps to, addressed
//!    with the sequence number from the header when the header is readable
//!    ([`ipc::peek_sequence`]), else 0. Decoding never panics.
//! 2. **Validate**, in a fixed order per request so each bad request has
//!    one exact error: sizes (`InvalidSize` for 0 or overflowing sizes;
//!    `TooLarge` for sizes no empty pool or window could ever hold), then
//!    alignment (`BadAlignment`), then who may do it (`PermissionDenied` for
//!    an unknown badge when unknown badges are not admitted, for an ioremap
//!    outside the client's grants, of RAM or as Normal cacheable memory,
//!    for a vmap mixing DMA and vmalloc frames, or for freeing frames a
//!    live vmap still aliases; `DuplicateFrame` for a vmap naming a frame
//!    twice), then for frees the area itself, in Linux's order
//!    (`UnalignedAddress`, `NotFound`, `NotOwner`, then `WrongAreaKind`).
//! 3. **Account**: the client's [`Quota`] is checked against its usage
//!    *before* anything changes, so `QuotaExceeded` leaves no trace.
//! 4. **Act** through [`memcore::MemCore`], which rolls back everything on
//!    its own failures (`NoVirtualSpace`, `OutOfMemory`) and on the
//!    kernel's refusals, whose number it carries: `AttributesNotAllowed` →
//!    `PermissionDenied`, `KernelQuotaExceeded` → `QuotaExceeded`,
//!    `OutOfKernelMemory` → `OutOfMemory`, anything else → `Internal` (a
//!    server bug). Only on success is the client's usage updated.
//! 5. **Encode** the typed [`ipc::Response`] into the reply buffer.
//!
//! # Accounting
//!
//! The client table is keyed by badge ([`ClientId`]). Each row holds the
//! quota and the device grants from the boot manifest ([`ClientConfig`])
//! and a [`Usage`]: frames held (`pages`: vmalloc and DMA frames), live
//! `areas` of any kind, and of those the `ioremaps`, `vmaps` and DMA
//! frames, and the `window_pages` its areas reserve (guard pages
//! included). A vmap aliases frames the client already holds and an
//! ioremap maps device memory, so neither adds pages, but both count as
//! areas and by their window pages: the window quota is what stops a
//! client from filling the shared window with them.
//!
//! # Privacy
//!
//! `Info` and `Stats` show a client only its own areas and usage row
//! unless its [`ClientConfig::observer`] right is set; the pool-wide
//! figures of `Stats` are shown to everyone.
//!
//! The table is derived state: every number in it is recomputable from the
//! `vm_struct`s the core holds, and [`Server::check_invariants`] does so.
//! Freed frames are charged off at once, although the core keeps them out
//! of the pool until the next batched TLB flush (see memcore's crate docs):
//! the client no longer holds them.
//!
//! # Reclamation
//!
//! [`Server::client_exited`] frees every area the client holds (any kind)
//! and resets its usage; [`Server::client_faulted`] first looks for the
//! area the fault overran — the fault address in one of the client's guard
//! pages, or in the page just past an area without one — and returns an
//! [`OverrunReport`] whose `Display` is the line the task logs
//! (`overran area 0x…-0x… (N bytes, caller 0x…)`), then reclaims likewise.
//!
//! # Vmap and frame ownership
//!
//! `Vmap` of explicit frame runs is accepted only for frames inside the
//! caller's own vmalloc and DMA areas (`NotOwner` otherwise), so a client
//! can alias its own memory but never reach another client's frames or the
//! kernel's. While such an alias is live, freeing the area that owns the
//! frames is refused with `PermissionDenied`: otherwise the frames would go
//! back to the pool, and to the next client, while the alias still maps
//! them. `READ_ONLY` is honoured; `NO_GUARD` is not (memcore's `vmap` always
//! reserves a guard page, which is the safe direction). The alias has the
//! memory type of the frames' own mapping (DMA frames: Normal uncached;
//! vmalloc frames: Normal cacheable), and names each frame once.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod config;
mod report;
mod server;

pub use config::{ClientConfig, ClientId, ConfigError, PhysRange, Quota, ServerConfig};
pub use memcore::{MapAttrs, MapError, Mapper, MemType, OwnerId, VaRange, VmapConfig};
pub use report::{ClientView, ExitSummary, FaultOutcome, LeakGroup, OverrunReport, Usage};
pub use server::Server;
