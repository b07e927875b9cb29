//! Creates boot tasks from the manifest: validates and loads each ELF
//! image into a fresh address space, maps a stack and the IPC buffer, and
//! hands out the capabilities. A bad image or spec is refused with a
//! message; the rest of the system still starts.

use abi::{Badge, KernelError, Pfn, PhysAddr, IPC_BUFFER_VADDR};
use kerncore::elf::{self, ElfError};
use kerncore::mmu::{Access, Attributes, MemType};
use kerncore::stack::UserStack;
use log::{info, warn};

use crate::board;
use crate::kpool::{page_bytes, KPOOL};
use crate::manifest::{CapSpec, System, TaskSpec, LINEAR_MAP_BASE};
use crate::sched::{initial_context, Kernel};
use crate::task::{Cap, State, Task, MAX_CAPS};
use crate::vspace::{NewSpaceError, VSpace};

/// Task images must lie in `[USER_IMAGE_START, USER_IMAGE_END)`.
pub const USER_IMAGE_START: u32 = 0x0001_0000;
/// End of the image area (below the stack).
pub const USER_IMAGE_END: u32 = 0x3000_0000;
/// Top of the user stack; one unmapped guard page separates it from the
/// IPC buffer above. The stack grows down from here for
/// `TaskSpec::stack_pages` pages, with an unmapped guard page below it
/// (and nothing mapped below that down to the image area's end).
pub const USER_STACK_TOP: u32 = IPC_BUFFER_VADDR.0 - 0x1000;
/// Largest stack a manifest may ask for: 16 MiB.
pub const MAX_STACK_PAGES: u32 = 4096;

/// Why a task could not be created.
#[derive(Debug)]
pub enum LoadError {
    /// The image was not embedded (kernel built without `tools/runner`).
    MissingImage,
    /// The ELF failed validation.
    BadImage(ElfError),
    /// Kernel pool or free RAM exhausted, or a bad address.
    Kernel(KernelError),
    /// A capability spec names something that does not exist.
    BadCapSpec,
    /// No free task slot.
    TooManyTasks,
    /// The kernel pool cannot promise the task's page-table quota.
    CannotReserve {
        /// The quota asked for (1 KiB L2 tables).
        tables: u32,
        /// Unpromised free 1 KiB blocks left in the pool.
        free: u32,
    },
    /// `stack_pages` is 0 or above [`MAX_STACK_PAGES`].
    BadStackSize(u32),
    /// The manifest names a device (or its interrupt) the board lacks.
    NoDevice(board::NoDevice),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::MissingImage => {
                f.write_str("image not embedded (build the kernel with tools/runner)")
            }
            LoadError::BadImage(e) => write!(f, "bad ELF image: {e:?}"),
            LoadError::Kernel(e) => write!(f, "{e}"),
            LoadError::BadCapSpec => f.write_str("bad capability in the manifest"),
            LoadError::TooManyTasks => f.write_str("no free task slot"),
            LoadError::CannotReserve { tables, free } => write!(
                f,
                "kernel pool cannot reserve its page-table quota of {tables} tables \
                 ({tables} KiB; {free} KiB unreserved)"
            ),
            LoadError::BadStackSize(pages) => {
                write!(f, "bad stack size: {pages} pages (1 to {MAX_STACK_PAGES})")
            }
            LoadError::NoDevice(e) => write!(f, "{e}"),
        }
    }
}

impl From<KernelError> for LoadError {
    fn from(e: KernelError) -> Self {
        LoadError::Kernel(e)
    }
}

/// Free RAM handed out to Pool capabilities at boot: `[next, end)`.
pub struct FreeRam {
    /// Next free byte.
    pub next: u32,
    /// End of RAM.
    pub end: u32,
}

const fn user_attrs(access: Access, xn: bool) -> Attributes {
    Attributes {
        mem: MemType::NormalWriteBack,
        access,
        execute_never: xn,
        not_global: true,
        shareable: true,
    }
}

fn load_image(vs: &mut VSpace, image: &[u8]) -> Result<u32, LoadError> {
    let img = elf::parse(image, USER_IMAGE_START, USER_IMAGE_END).map_err(LoadError::BadImage)?;
    let mut pool = KPOOL.lock();
    for seg in img.segments() {
        let attrs = if seg.executable {
            user_attrs(Access::UserRo, false)
        } else if seg.writable {
            user_attrs(Access::UserRw, true)
        } else {
            user_attrs(Access::UserRo, true)
        };
        let mut page_va = seg.page_start();
        while page_va < seg.page_end() {
            let pa = pool.alloc(4096).ok_or(KernelError::OutOfKernelMemory)?;
            // SAFETY: a page just taken from the kernel pool, not yet
            // mapped anywhere else.
            let dst = unsafe { page_bytes(pa) };
            // Copy the part of [vaddr, vaddr+filesz) inside this page.
            let file_lo = seg.vaddr.max(page_va);
            let file_hi = (seg.vaddr + seg.filesz).min(page_va + 4096);
            if file_lo < file_hi {
                let src_off = (seg.offset + (file_lo - seg.vaddr)) as usize;
                let n = (file_hi - file_lo) as usize;
                let dst_off = (file_lo - page_va) as usize;
                dst[dst_off..dst_off + n].copy_from_slice(&image[src_off..src_off + n]);
            }
            if let Err(e) = vs.map_pages(&mut pool, page_va, 1, attrs, &[pa_run(pa)], None) {
                pool.free(pa, 4096);
                return Err(e.into());
            }
            page_va += 4096;
        }
    }
    Ok(img.entry)
}

/// The one-frame run of page `pa`.
fn pa_run(pa: PhysAddr) -> abi::FrameRun {
    abi::FrameRun {
        pfn: pa.pfn().0,
        count: 1,
    }
}

fn map_fresh_pages(vs: &mut VSpace, va: u32, pages: u32) -> Result<PhysAddr, LoadError> {
    let mut pool = KPOOL.lock();
    let mut first = PhysAddr(0);
    for i in 0..pages {
        let pa = pool.alloc(4096).ok_or(KernelError::OutOfKernelMemory)?;
        if i == 0 {
            first = pa;
        }
        if let Err(e) = vs.map_pages(
            &mut pool,
            va + i * 4096,
            1,
            user_attrs(Access::UserRw, true),
            &[pa_run(pa)],
            None,
        ) {
            pool.free(pa, 4096);
            return Err(e.into());
        }
    }
    Ok(first)
}

fn build_caps(
    spec: &TaskSpec,
    free: &mut FreeRam,
    vs: &mut VSpace,
) -> Result<[Option<Cap>; MAX_CAPS], LoadError> {
    let mut caps = [None; MAX_CAPS];
    if spec.caps.len() > MAX_CAPS {
        return Err(LoadError::BadCapSpec);
    }
    for (slot, c) in spec.caps.iter().enumerate() {
        caps[slot] = match *c {
            CapSpec::Endpoint { ep, badge, rights } => {
                if ep as usize >= crate::task::MAX_ENDPOINTS {
                    return Err(LoadError::BadCapSpec);
                }
                Some(Cap::Endpoint {
                    ep,
                    badge: Badge(badge),
                    rights,
                })
            }
            CapSpec::PoolPages(pages) => {
                let bytes = pages.checked_mul(4096).ok_or(LoadError::BadCapSpec)?;
                if free.end - free.next < bytes {
                    return Err(KernelError::OutOfKernelMemory.into());
                }
                let base = Pfn(free.next >> 12);
                free.next += bytes;
                Some(Cap::Pool { base, count: pages })
            }
            CapSpec::AllFreeRam => {
                let start = (free.next + 0xf_ffff) & !0xf_ffff;
                if start >= free.end {
                    return Err(KernelError::OutOfKernelMemory.into());
                }
                let mib = (free.end - start) >> 20;
                vs.map_sections(
                    LINEAR_MAP_BASE,
                    PhysAddr(start),
                    mib,
                    user_attrs(Access::UserRw, true),
                );
                free.next = free.end;
                Some(Cap::Pool {
                    base: Pfn(start >> 12),
                    count: mib << 8,
                })
            }
            CapSpec::Dev(role, instance) => {
                let regs = board::device(role, instance).map_err(LoadError::NoDevice)?;
                let (first, pages) = regs.pages();
                Some(Cap::Device {
                    base: first.pfn(),
                    count: pages,
                    irq: regs.irq.unwrap_or(abi::NO_IRQ),
                    info: abi::DeviceInfo::new(Some(role), instance, regs.offset()),
                })
            }
            CapSpec::VSpace(task) => Some(Cap::VSpace {
                task,
                quota: 0,
                window_pages: 0,
                flags: abi::ClientFlags::NONE,
            }),
            CapSpec::Client {
                task,
                quota_pages,
                window_pages,
                flags,
            } => Some(Cap::VSpace {
                task,
                quota: quota_pages,
                window_pages,
                flags,
            }),
            CapSpec::DevIrq(role, instance) => {
                let regs = board::device(role, instance).map_err(LoadError::NoDevice)?;
                let irq = regs
                    .irq
                    .ok_or(LoadError::NoDevice(board::NoDevice::Role(role)))?;
                Some(Cap::Irq { irq })
            }
            CapSpec::Empty => None,
        };
    }
    Ok(caps)
}

fn create(k: &mut Kernel, spec: &TaskSpec, free: &mut FreeRam) -> Result<usize, LoadError> {
    if spec.image.is_empty() {
        return Err(LoadError::MissingImage);
    }
    let stack = match UserStack::below(USER_STACK_TOP, spec.stack_pages) {
        Some(s) if (1..=MAX_STACK_PAGES).contains(&spec.stack_pages) => s,
        _ => return Err(LoadError::BadStackSize(spec.stack_pages)),
    };
    let mut vs = match VSpace::new(&mut KPOOL.lock(), spec.kmem_tables) {
        Ok(vs) => vs,
        Err(NewSpaceError::CannotReserve { free_tables }) => {
            return Err(LoadError::CannotReserve {
                tables: spec.kmem_tables,
                free: free_tables,
            })
        }
        Err(NewSpaceError::OutOfKernelMemory) => return Err(KernelError::OutOfKernelMemory.into()),
    };
    let built = (|| {
        let entry = load_image(&mut vs, spec.image)?;
        map_fresh_pages(&mut vs, stack.bottom, spec.stack_pages)?;
        let ipc_buf = map_fresh_pages(&mut vs, IPC_BUFFER_VADDR.0, 1)?;
        let caps = build_caps(spec, free, &mut vs)?;
        Ok::<_, LoadError>((entry, ipc_buf, caps))
    })();
    let (entry, ipc_buf, caps) = match built {
        Ok(v) => v,
        Err(e) => {
            vs.destroy(&mut KPOOL.lock());
            return Err(e);
        }
    };
    let task = Task {
        id: abi::TaskId(0),
        name: spec.name,
        prio: spec.prio.min(7),
        state: State::Ready,
        ctx: initial_context(entry, USER_STACK_TOP, spec.arg),
        vspace: Some(vs),
        caps,
        ipc_buf,
        reply_to: None,
        send_tag: abi::MessageTag::default(),
        send_badge: Badge(0),
        send_is_call: false,
        report: None,
        supervisor: None,
        irq: None,
        irq_pending: false,
        root: spec.root,
        stack,
        expect_failure: spec.expect_failure,
    };
    let slot = k.add_task(task).ok_or(LoadError::TooManyTasks)?;
    let id = k.task(slot).id;
    k.task(slot).supervisor = spec.supervisor.map(|ep| (ep, Badge(id.0)));
    Ok(slot)
}

/// The name of the embedded image `image` is (its ELF under
/// `target/armv7a-none-eabi/release/`), or `other` for a test's own bytes.
fn image_name(image: &[u8]) -> &'static str {
    let embedded: [(&'static str, &[u8]); 4] = [
        ("ktest", crate::images::KTEST),
        ("memsrv", crate::images::MEMSRV),
        ("memtools", crate::images::MEMTOOLS),
        ("blkdrv", crate::images::BLKDRV),
    ];
    embedded
        .iter()
        .find(|(_, bytes)| core::ptr::eq(*bytes, image))
        .map_or("other", |(name, _)| name)
}

/// Creates every task of `system`; returns how many started.
pub fn load_system(k: &mut Kernel, system: &System, free: &mut FreeRam) -> usize {
    info!("system {:?}: {}", system.name, system.about);
    let mut started = 0;
    for spec in system.tasks {
        match create(k, spec, free) {
            Ok(slot) => {
                started += 1;
                let tables = k.task(slot).vspace.as_ref().map_or(0, |v| v.tables().1);
                // `task ID NAME: image IMAGE` is what the host symbolizer
                // reads to name this task's addresses (doc/observability.md).
                info!(
                    "task {} {}: image {}, prio {} arg {} ({} caps, {} KiB, stack {} KiB, {} page tables reserved)",
                    k.task(slot).id.0,
                    spec.name,
                    image_name(spec.image),
                    spec.prio,
                    spec.arg,
                    spec.caps.len(),
                    spec.image.len() / 1024,
                    spec.stack_pages * 4,
                    tables
                );
            }
            Err(e) => warn!("task {}: refused: {e}", spec.name),
        }
    }
    let (used, reserved, size) = {
        let pool = KPOOL.lock();
        (
            pool.used_bytes() / 1024,
            pool.reserved_blocks(),
            pool.size_bytes(),
        )
    };
    info!(
        "kernel pool: {used} KiB used, {reserved} KiB reserved for page tables, of {} KiB; free RAM left for Pool capabilities: {:#010x}-{:#010x}",
        size / 1024,
        free.next,
        free.end
    );
    started
}
