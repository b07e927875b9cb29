//! What the clients know about the devices they may be granted. Addresses
//! come from the task's own Device capability (`userlib::dev`), never from
//! here.

pub use userlib::dev::identity;
use userlib::dev::Device;

/// PrimeCell part number of the PL031 real-time clock.
pub const PL031_PART: u32 = 0x031;
/// PL031 data register: the seconds counter.
pub const RTCDR: u32 = 0x000;

/// Whether `[phys, phys + size)` lies inside the range of `d`.
pub fn inside(d: &Device, phys: u32, size: u32) -> bool {
    let end = u64::from(phys) + u64::from(size);
    d.page() <= phys && end <= u64::from(d.page()) + u64::from(d.size())
}
