//! What the boot manifest tells the server: the window, the physical RAM
//! (so nothing can ioremap it), and per client its quota and the device
//! ranges it was granted.

use alloc::vec::Vec;
use core::fmt;

use abi::PhysAddr;
use memcore::VmapConfig;

/// A client: the badge of the endpoint capability it calls the server
/// through. The kernel writes the badge, so a client cannot forge it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl From<ClientId> for memcore::OwnerId {
    fn from(c: ClientId) -> Self {
        memcore::OwnerId(c.0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// Limits on what one client may hold at once.
///
/// Pages count frames the client holds (vmalloc and DMA areas; a vmap
/// aliases frames already counted and an ioremap maps device memory, so
/// neither adds pages). Areas count every live area of any kind. Window
/// pages count the virtual pages every live area spans, guard page
/// included, whatever backs them: a client cannot fill the shared window
/// with page-free ioremaps, vmaps of a few frames or no-guard areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Frames the client may hold.
    pub max_pages: u32,
    /// Live areas (any kind) the client may hold.
    pub max_areas: u32,
    /// Virtual pages of the window its live areas may span (guard pages
    /// included).
    pub max_window_pages: u32,
}

impl Quota {
    /// No limit beyond the pool and the window themselves.
    pub const UNLIMITED: Quota = Quota::new(u32::MAX, u32::MAX, u32::MAX);

    /// A quota of `max_pages` frames, `max_areas` areas and
    /// `max_window_pages` window pages.
    pub const fn new(max_pages: u32, max_areas: u32, max_window_pages: u32) -> Self {
        Self {
            max_pages,
            max_areas,
            max_window_pages,
        }
    }
}

/// A physical range `[start, start + size)`: a description used for
/// grants and RAM, not an ownership token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// First byte.
    pub start: PhysAddr,
    /// Bytes (> 0).
    pub size: u32,
}

impl PhysRange {
    /// `[start, start + size)`.
    pub const fn new(start: u32, size: u32) -> Self {
        Self {
            start: PhysAddr(start),
            size,
        }
    }

    /// One past the last byte, widened: a range may end at 4 GiB exactly.
    pub const fn end(&self) -> u64 {
        self.start.0 as u64 + self.size as u64
    }

    /// Whether `[start, end)` lies entirely inside this range.
    pub const fn covers(&self, start: u64, end: u64) -> bool {
        self.start.0 as u64 <= start && end <= self.end()
    }

    /// Whether `[start, end)` shares a byte with this range.
    pub const fn overlaps(&self, start: u64, end: u64) -> bool {
        start < self.end() && (self.start.0 as u64) < end
    }
}

/// One client of the boot manifest.
///
/// Not `Clone`: the server takes it over, and a second copy of a grant
/// list is a second place to forget to update.
#[derive(Debug)]
pub struct ClientConfig {
    /// Its badge.
    pub client: ClientId,
    /// Its limits.
    pub quota: Quota,
    /// Physical device ranges it may ioremap (its Device capabilities).
    pub devices: Vec<PhysRange>,
    /// May see every client's areas and usage in `Info` and `Stats`
    /// (`abi::ClientFlags::OBSERVER` in the manifest: the vmallocinfo
    /// tool). Any other client sees only its own.
    pub observer: bool,
}

impl ClientConfig {
    /// A client with `quota`, no device grant, not an observer.
    pub fn new(client: ClientId, quota: Quota) -> Self {
        Self {
            client,
            quota,
            devices: Vec::new(),
            observer: false,
        }
    }

    /// Grants (or not) the observer right.
    #[must_use]
    pub fn with_observer(mut self, observer: bool) -> Self {
        self.observer = observer;
        self
    }

    /// Adds a device grant.
    #[must_use]
    pub fn with_device(mut self, range: PhysRange) -> Self {
        self.devices.push(range);
        self
    }
}

/// The whole server configuration.
#[derive(Debug)]
pub struct ServerConfig {
    /// The vmalloc window and its lazy-purge threshold.
    pub window: VmapConfig,
    /// All physical RAM, the kernel's and the pool's included: ioremap of
    /// any of it is refused even if a grant (wrongly) covers it.
    pub ram: Vec<PhysRange>,
    /// The clients of the manifest.
    pub clients: Vec<ClientConfig>,
    /// Quota of a badge the manifest does not list, admitted on its first
    /// allocating request; `None` refuses such badges every allocation
    /// (`PermissionDenied`). Badges come from the kernel, so the number of
    /// such clients is bounded by the capabilities the boot made.
    pub unknown_clients: Option<Quota>,
}

impl ServerConfig {
    /// The default window, no RAM list, no clients, unknown badges refused.
    pub fn new(window: VmapConfig) -> Self {
        Self {
            window,
            ram: Vec::new(),
            clients: Vec::new(),
            unknown_clients: None,
        }
    }
}

/// Why the configuration was refused (at boot, not on the wire).
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The window is empty, unaligned or inverted.
    InvalidWindow,
    /// Two entries for one badge.
    DuplicateClient(ClientId),
    /// A range of size 0 or past 4 GiB.
    InvalidRange(PhysRange),
    /// A device grant overlaps RAM or the pool.
    DeviceIsRam {
        /// Whose grant.
        client: ClientId,
        /// The grant.
        range: PhysRange,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
