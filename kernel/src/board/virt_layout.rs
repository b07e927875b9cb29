// The QEMU `virt` memory layout, as plain constants: included by the board
// module and by `build.rs` (which writes the linker script's load address
// from it), so there is one place that says where the kernel lives.

/// Start of RAM (`hw/arm/virt.c`: `VIRT_MEM`).
pub const RAM_BASE: u32 = 0x4000_0000;
/// Where the kernel image is loaded: QEMU puts the device tree in the
/// first MiB of RAM, and only if the image leaves that MiB free.
pub const KERNEL_LOAD: u32 = 0x4010_0000;
/// Kernel virtual address = physical + this for RAM (the direct map puts
/// the RAM base at 0x8000_0000, the start of the kernel half).
pub const KERNEL_VIRT_OFFSET: u32 = 0x4000_0000;
