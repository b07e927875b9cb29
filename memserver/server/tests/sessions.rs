//! Property test: random multi-client sessions through memclient and the
//! loopback transport, against a small model of what each client holds.
//! After every step the server's accounting matches the core, every
//! mapped pool frame is allocated, the fake mapper saw nothing the kernel
//! would refuse, and each client's PTEs equal its areas' pages; after all
//! clients exit the pool and the page tables are back to empty.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use abi::{PhysAddr, VirtAddr, PAGE_SIZE};
use common::*;
use ipc::*;
use memclient::ClientError;
use memserver::*;
use proptest::prelude::*;

const POOL: u32 = 128;
const WINDOW_PAGES: u32 = 160;
const CLIENTS: u32 = 4; // 1 devices, 2 plain, 3 small quota, 4 unknown (refused)

#[derive(Debug)]
struct Area {
    addr: u32,
    kind: AreaKind,
    /// Mapped pages.
    pages: u32,
    owned: u32,
    guard: bool,
    /// For a vmap: the area whose frames it aliases.
    alias_of: Option<u32>,
}

#[derive(Debug, Default)]
struct Model {
    areas: Vec<Vec<Area>>,
}

impl Model {
    fn quota(c: u32) -> Option<Quota> {
        match c {
            1 | 2 => Some(Quota::UNLIMITED),
            3 => Some(SMALL_QUOTA),
            _ => None,
        }
    }
    fn usage(&self, c: u32) -> (u32, u32) {
        let a = &self.areas[c as usize];
        (a.iter().map(|a| a.owned).sum(), a.len() as u32)
    }
    /// Window pages of `c`'s areas: mapped pages plus guard page each.
    fn window_pages(&self, c: u32) -> u32 {
        self.areas[c as usize]
            .iter()
            .map(|a| a.pages + u32::from(a.guard))
            .sum()
    }
    /// Expected quota refusal for `pages` more frames and one more area
    /// spanning `window` pages of the window.
    fn over_quota(&self, c: u32, pages: u32, window: u32) -> bool {
        let q = Self::quota(c).unwrap();
        let (p, n) = self.usage(c);
        u64::from(p) + u64::from(pages) > u64::from(q.max_pages)
            || n + 1 > q.max_areas
            || u64::from(self.window_pages(c)) + u64::from(window) > u64::from(q.max_window_pages)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Vmalloc {
        c: u32,
        pages: u32,
        align_shift: u32,
        zero: bool,
        no_guard: bool,
    },
    Free {
        c: u32,
        pick: usize,
    },
    ForeignFree {
        c: u32,
        pick: usize,
    },
    WrongKindFree {
        c: u32,
        pick: usize,
    },
    Ioremap {
        c: u32,
        virtio: bool,
        off: u32,
        size: u32,
    },
    Vmap {
        c: u32,
        pick: usize,
        read_only: bool,
    },
    DmaAlloc {
        c: u32,
        pages: u32,
    },
    VirtToPhys {
        c: u32,
        pick: usize,
        off: u32,
    },
    Info {
        c: u32,
    },
    Stats {
        c: u32,
    },
    Exit {
        c: u32,
    },
    Fault {
        c: u32,
        pick: usize,
    },
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 1..=CLIENTS;
    let pick = any::<usize>();
    prop_oneof![
        6 => (c.clone(), 1u32..=24, 0u32..5, any::<bool>(), any::<bool>()).prop_map(
            |(c, pages, align_shift, zero, no_guard)| Op::Vmalloc { c, pages, align_shift, zero, no_guard }
        ),
        5 => (c.clone(), pick).prop_map(|(c, pick)| Op::Free { c, pick }),
        1 => (c.clone(), pick).prop_map(|(c, pick)| Op::ForeignFree { c, pick }),
        1 => (c.clone(), pick).prop_map(|(c, pick)| Op::WrongKindFree { c, pick }),
        2 => (c.clone(), any::<bool>(), 0u32..0x200, 1u32..0x300).prop_map(
            |(c, virtio, off, size)| Op::Ioremap { c, virtio, off, size }
        ),
        2 => (c.clone(), pick, any::<bool>()).prop_map(|(c, pick, read_only)| Op::Vmap { c, pick, read_only }),
        2 => (c.clone(), 1u32..=8).prop_map(|(c, pages)| Op::DmaAlloc { c, pages }),
        2 => (c.clone(), pick, any::<u32>()).prop_map(|(c, pick, off)| Op::VirtToPhys { c, pick, off }),
        1 => c.clone().prop_map(|c| Op::Info { c }),
        1 => c.clone().prop_map(|c| Op::Stats { c }),
        1 => c.clone().prop_map(|c| Op::Exit { c }),
        1 => (c, pick).prop_map(|(c, pick)| Op::Fault { c, pick }),
        1 => Just(Op::Purge),
    ]
}

struct Session {
    server: Rc<RefCell<TestServer>>,
    clients: Vec<Client>,
    model: Model,
}

impl Session {
    fn new() -> Self {
        let server = Rc::new(RefCell::new(server_with(
            common::window(WINDOW_PAGES, 32),
            POOL,
        )));
        let clients = (0..=CLIENTS)
            .map(|c| client(&server, ClientId(c)))
            .collect();
        Self {
            server,
            clients,
            model: Model {
                areas: (0..=CLIENTS).map(|_| Vec::new()).collect(),
            },
        }
    }

    fn call(&self, c: u32, request: Request) -> Result<Response, ErrorCode> {
        match self.clients[c as usize].request(&request) {
            Ok(Response::Error(code)) => Err(code),
            Ok(r) => Ok(r),
            Err(ClientError::Server(code)) => Err(code),
            Err(e) => panic!("transport-level failure: {e:?}"),
        }
    }

    fn free_request(kind: AreaKind, addr: u32) -> Request {
        let addr = VirtAddr(addr);
        match kind {
            AreaKind::Vmalloc => Request::Vfree(VfreeRequest { addr }),
            AreaKind::Ioremap => Request::Iounmap(IounmapRequest { addr }),
            AreaKind::Vmap => Request::Vunmap(VunmapRequest { addr }),
            AreaKind::Dma => Request::DmaFree(DmaFreeRequest { addr }),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        use ErrorCode::*;
        match *op {
            Op::Vmalloc {
                c,
                pages,
                align_shift,
                zero,
                no_guard,
            } => {
                let mut flags = VmallocFlags::NONE;
                if zero {
                    flags = flags.union(VmallocFlags::ZEROED);
                }
                if no_guard {
                    flags = flags.union(VmallocFlags::NO_GUARD);
                }
                let align = PAGE_SIZE << align_shift;
                let r = self.call(
                    c,
                    Request::Vmalloc(VmallocRequest {
                        size: pages * PAGE_SIZE - 7,
                        align,
                        flags,
                        caller: c * 1000 + pages,
                    }),
                );
                let span = pages + u32::from(!no_guard);
                match r {
                    Ok(Response::Vmalloc(ok)) => {
                        prop_assert!(
                            Model::quota(c).is_some() && !self.model.over_quota(c, pages, span)
                        );
                        prop_assert_eq!(ok.size, pages * PAGE_SIZE);
                        prop_assert_eq!(ok.addr.0 % align, 0);
                        self.model.areas[c as usize].push(Area {
                            addr: ok.addr.0,
                            kind: AreaKind::Vmalloc,
                            pages,
                            owned: pages,
                            guard: !no_guard,
                            alias_of: None,
                        });
                    }
                    Err(PermissionDenied) => prop_assert!(Model::quota(c).is_none()),
                    Err(QuotaExceeded) => prop_assert!(self.model.over_quota(c, pages, span)),
                    Err(NoVirtualSpace | OutOfMemory) => {
                        prop_assert!(!self.model.over_quota(c, pages, span))
                    }
                    other => prop_assert!(false, "vmalloc: {:?}", other),
                }
            }
            Op::Free { c, pick } => {
                let list = &self.model.areas[c as usize];
                if list.is_empty() {
                    return Ok(());
                }
                let i = pick % list.len();
                let (addr, kind) = (list[i].addr, list[i].kind);
                let aliased = list.iter().any(|a| a.alias_of == Some(addr));
                let r = self.call(c, Self::free_request(kind, addr));
                if aliased {
                    prop_assert_eq!(r, Err(PermissionDenied));
                } else {
                    prop_assert!(r.is_ok(), "free of a live area: {:?}", r);
                    if let Ok(Response::Vfree(ok)) = r {
                        prop_assert_eq!(ok.size, self.model.areas[c as usize][i].pages * PAGE_SIZE);
                    }
                    self.model.areas[c as usize].remove(i);
                    // A second free of the same address is NotFound.
                    prop_assert_eq!(self.call(c, Self::free_request(kind, addr)), Err(NotFound));
                }
            }
            Op::ForeignFree { c, pick } => {
                let other = c % CLIENTS + 1;
                let list = &self.model.areas[other as usize];
                if list.is_empty() {
                    return Ok(());
                }
                let a = &list[pick % list.len()];
                prop_assert_eq!(
                    self.call(c, Self::free_request(a.kind, a.addr)),
                    Err(NotOwner)
                );
            }
            Op::WrongKindFree { c, pick } => {
                let list = &self.model.areas[c as usize];
                if list.is_empty() {
                    return Ok(());
                }
                let a = &list[pick % list.len()];
                let wrong = match a.kind {
                    AreaKind::Vmalloc => AreaKind::Dma,
                    AreaKind::Dma => AreaKind::Ioremap,
                    AreaKind::Ioremap => AreaKind::Vmap,
                    AreaKind::Vmap => AreaKind::Vmalloc,
                };
                prop_assert_eq!(
                    self.call(c, Self::free_request(wrong, a.addr)),
                    Err(WrongAreaKind)
                );
            }
            Op::Ioremap {
                c,
                virtio,
                off,
                size,
            } => {
                let grant = if virtio { VIRTIO } else { UART };
                let phys = grant.start.0 + off;
                let inside = u64::from(phys) + u64::from(size) <= grant.end();
                let r = self.call(
                    c,
                    Request::Ioremap(IoremapRequest {
                        phys: PhysAddr(phys),
                        size,
                        mem_type: MemType::Device,
                        caller: 0x10_0000 + c,
                    }),
                );
                let pages = ((phys & 0xfff) + size).div_ceil(PAGE_SIZE);
                match r {
                    Ok(Response::Ioremap(ok)) => {
                        prop_assert!(c == 1 && inside && !self.model.over_quota(c, 0, pages + 1));
                        prop_assert_eq!(ok.addr.0 & 0xfff, phys & 0xfff);
                        self.model.areas[c as usize].push(Area {
                            addr: ok.addr.0 & !0xfff,
                            kind: AreaKind::Ioremap,
                            pages,
                            owned: 0,
                            guard: true,
                            alias_of: None,
                        });
                    }
                    Err(PermissionDenied) => prop_assert!(c != 1 || !inside),
                    Err(QuotaExceeded) => prop_assert!(self.model.over_quota(c, 0, pages + 1)),
                    Err(NoVirtualSpace) => {}
                    other => prop_assert!(false, "ioremap: {:?}", other),
                }
            }
            Op::Vmap { c, pick, read_only } => {
                let list = &self.model.areas[c as usize];
                let sources: Vec<&Area> = list.iter().filter(|a| a.owned > 0).collect();
                if sources.is_empty() {
                    return Ok(());
                }
                let src = sources[pick % sources.len()];
                let (src_addr, src_kind, src_pages) = (src.addr, src.kind, src.pages);
                let source = if src_kind == AreaKind::Dma {
                    VmapSource::Dma {
                        addr: VirtAddr(src_addr),
                    }
                } else {
                    // Frames through VirtToPhys, in reverse page order, one run each.
                    let mut runs = BoundedVec::new();
                    for p in (0..src_pages).rev() {
                        let Ok(Response::VirtToPhys(ok)) = self.call(
                            c,
                            Request::VirtToPhys(VirtToPhysRequest {
                                addr: VirtAddr(src_addr + p * PAGE_SIZE),
                            }),
                        ) else {
                            prop_assert!(false, "virt_to_phys of an own page");
                            unreachable!()
                        };
                        runs.push(PageRun {
                            pfn: ok.phys.pfn(),
                            count: 1,
                        })
                        .unwrap();
                    }
                    VmapSource::Frames(runs)
                };
                let flags = if read_only {
                    VmapFlags::READ_ONLY
                } else {
                    VmapFlags::NONE
                };
                match self.call(
                    c,
                    Request::Vmap(VmapRequest {
                        source,
                        flags,
                        caller: 0x20_0000 + c,
                    }),
                ) {
                    Ok(Response::Vmap(ok)) => {
                        prop_assert!(!self.model.over_quota(c, 0, src_pages + 1));
                        prop_assert_eq!(ok.size, src_pages * PAGE_SIZE);
                        let s = self.server.borrow();
                        let pte = s.mapper().pte(c, ok.addr.0).unwrap();
                        prop_assert_eq!(pte.attrs.is_writable(), !read_only);
                        // The alias has the memory type of the frames'
                        // own mapping.
                        let src_pte = s.mapper().pte(c, src_addr).unwrap();
                        prop_assert_eq!(pte.attrs.mem_type(), src_pte.attrs.mem_type());
                        let want = if src_kind == AreaKind::Dma {
                            MemType::NormalUncached
                        } else {
                            MemType::NormalCached
                        };
                        prop_assert_eq!(pte.attrs.mem_type(), want);
                        drop(s);
                        self.model.areas[c as usize].push(Area {
                            addr: ok.addr.0,
                            kind: AreaKind::Vmap,
                            pages: src_pages,
                            owned: 0,
                            guard: true,
                            alias_of: Some(src_addr),
                        });
                    }
                    Err(QuotaExceeded) => prop_assert!(self.model.over_quota(c, 0, src_pages + 1)),
                    Err(NoVirtualSpace) => {}
                    other => prop_assert!(false, "vmap: {:?}", other),
                }
            }
            Op::DmaAlloc { c, pages } => {
                match self.call(
                    c,
                    Request::DmaAlloc(DmaAllocRequest {
                        pages,
                        caller: 0x30_0000 + c,
                    }),
                ) {
                    Ok(Response::DmaAlloc(ok)) => {
                        prop_assert!(
                            Model::quota(c).is_some()
                                && !self.model.over_quota(c, pages, pages + 1)
                        );
                        prop_assert_eq!(ok.size, pages * PAGE_SIZE);
                        self.model.areas[c as usize].push(Area {
                            addr: ok.addr.0,
                            kind: AreaKind::Dma,
                            pages,
                            owned: pages,
                            guard: true,
                            alias_of: None,
                        });
                    }
                    Err(PermissionDenied) => prop_assert!(Model::quota(c).is_none()),
                    Err(QuotaExceeded) => prop_assert!(self.model.over_quota(c, pages, pages + 1)),
                    Err(NoVirtualSpace | OutOfMemory) => {}
                    other => prop_assert!(false, "dma_alloc: {:?}", other),
                }
            }
            Op::VirtToPhys { c, pick, off } => {
                let list = &self.model.areas[c as usize];
                if list.is_empty() {
                    return Ok(());
                }
                let a = &list[pick % list.len()];
                let addr = a.addr + off % (a.pages * PAGE_SIZE);
                let r = self.call(
                    c,
                    Request::VirtToPhys(VirtToPhysRequest {
                        addr: VirtAddr(addr),
                    }),
                );
                let s = self.server.borrow();
                let pte = s
                    .mapper()
                    .pte(c, addr)
                    .expect("a page of a live area is mapped");
                prop_assert_eq!(
                    r,
                    Ok(Response::VirtToPhys(VirtToPhysOk {
                        phys: PhysAddr((pte.pfn << 12) | (addr & 0xfff))
                    }))
                );
            }
            Op::Info { c } => {
                // The observer (client 1) sees every area; any other
                // client only its own.
                let mut n = 0usize;
                let mut foreign = 0usize;
                self.clients[c as usize]
                    .info_all(|r| {
                        n += 1;
                        foreign += usize::from(r.owner != c);
                    })
                    .unwrap();
                let total: usize = if c == OBSERVER.0 {
                    self.model.areas.iter().map(Vec::len).sum()
                } else {
                    prop_assert_eq!(foreign, 0);
                    self.model.areas[c as usize].len()
                };
                prop_assert_eq!(n, total);
            }
            Op::Stats { c } => {
                let stats = self.clients[c as usize].stats().unwrap();
                for u in stats.clients.iter() {
                    prop_assert!(c == OBSERVER.0 || u.client == c);
                    prop_assert_eq!((u.pages, u.areas), self.model.usage(u.client));
                    prop_assert_eq!(u.window_pages, self.model.window_pages(u.client));
                    let q = Model::quota(u.client).unwrap();
                    prop_assert_eq!(
                        (u.quota_pages, u.quota_window_pages),
                        (q.max_pages, q.max_window_pages)
                    );
                }
                // Client 4 is refused admission: it has no row.
                let rows = if c == OBSERVER.0 {
                    3
                } else {
                    u32::from(c != 4)
                };
                prop_assert_eq!(stats.clients_total, rows);
                prop_assert_eq!(stats.clients.len() as u32, rows);
                prop_assert_eq!(stats.free_pages, self.server.borrow().pool().free_frames());
            }
            Op::Exit { c } => {
                let summary = self.server.borrow_mut().client_exited(ClientId(c));
                let (pages, areas) = self.model.usage(c);
                prop_assert_eq!((summary.frames_released, summary.areas), (pages, areas));
                self.model.areas[c as usize].clear();
            }
            Op::Fault { c, pick } => {
                let list = &self.model.areas[c as usize];
                if list.is_empty() {
                    return Ok(());
                }
                let a = &list[pick % list.len()];
                let (start, pages, guard) = (a.addr, a.pages, a.guard);
                let at = VirtAddr(start + pages * PAGE_SIZE + 12);
                let outcome = self.server.borrow_mut().client_faulted(ClientId(c), at);
                let report = outcome.overrun;
                if guard {
                    let report = report.expect("a guard-page hit is reported");
                    prop_assert_eq!(report.area_start, VirtAddr(start));
                    prop_assert_eq!(report.area_size, pages * PAGE_SIZE);
                } else if let Some(report) = report {
                    // Unguarded: the address may be inside this client's
                    // next area's guard page, never another client's.
                    prop_assert_eq!(report.client, ClientId(c));
                }
                prop_assert_eq!(
                    outcome.reclaimed.areas as usize,
                    self.model.areas[c as usize].len()
                );
                self.model.areas[c as usize].clear();
            }
            Op::Purge => self.server.borrow_mut().purge(),
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let s = self.server.borrow();
        prop_assert_eq!(s.check_invariants(), Ok(()));
        assert_mapped_frames_allocated(&s);
        prop_assert!(
            s.mapper().violations.is_empty(),
            "{:?}",
            s.mapper().violations
        );
        for c in 0..=CLIENTS {
            let pages: u32 = self.model.areas[c as usize].iter().map(|a| a.pages).sum();
            prop_assert_eq!(
                s.mapper().ptes_of(c),
                pages as usize,
                "PTEs of client {}",
                c
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_leak_nothing(ops in proptest::collection::vec(op(), 1..120), exit_order in Just(()).prop_perturb(|_, mut rng| {
        let mut order: Vec<u32> = (1..=CLIENTS).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u32() as usize) % (i + 1));
        }
        order
    })) {
        let mut session = Session::new();
        for op in &ops {
            session.step(op)?;
            session.check()?;
        }
        for c in exit_order {
            session.server.borrow_mut().client_exited(ClientId(c));
            session.model.areas[c as usize].clear();
            session.check()?;
        }
        let clients = std::mem::take(&mut session.clients);
        for c in &clients {
            prop_assert_eq!(c.drop_failures(), 0);
        }
        drop(clients);
        assert_no_leaks(&mut session.server.borrow_mut(), POOL);
        let s = session.server.borrow();
        prop_assert_eq!(s.core().window().stats().free_bytes, WINDOW_PAGES * PAGE_SIZE);
    }
}
