// The vexpress-a9 memory layout, as plain constants: included by the board
// module and by `build.rs` (which writes the linker script's load address
// from it), so there is one place that says where the kernel lives.

/// Start of RAM (the daughterboard's DDR, up to 1 GiB).
pub const RAM_BASE: u32 = 0x6000_0000;
/// Where the kernel image is loaded: 1 MiB into RAM (the same offset the
/// `virt` board needs for its device tree).
pub const KERNEL_LOAD: u32 = 0x6010_0000;
/// Kernel virtual address = physical + this for RAM (the direct map puts
/// the RAM base at 0x8000_0000, the start of the kernel half).
pub const KERNEL_VIRT_OFFSET: u32 = 0x2000_0000;
