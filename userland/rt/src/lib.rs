//! The runtime every user task links: the `_start` entry, safe system-call
//! wrappers over `abi`, a `log` backend that prints through the kernel, and
//! a panic handler that reports and exits.
//!
//! A task defines `#[no_mangle] fn task_main(arg: u32) -> i32`; `arg` is the
//! value its boot-manifest entry gives it, the return value its exit code.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod dev;
pub mod mem;
pub mod mmio;
pub mod sys;

pub mod heap;

mod logger;

pub use logger::{init_logger, LineBuf};

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.start, "ax"
    .global _start
    .arm
_start:
    @ r0 = manifest argument, sp = top of the stack (set by the kernel)
    bl      task_entry
1:  b       1b
"#
);

extern "Rust" {
    fn task_main(arg: u32) -> i32;
}

#[no_mangle]
extern "C" fn task_entry(arg: u32) -> ! {
    // SAFETY: every task binary defines `task_main` with this signature
    // (documented above); the linker refuses an image without it.
    let code = unsafe { task_main(arg) };
    sys::exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut line = logger::LineBuf::new();
    let _ = write!(line, "panic: {}", info.message());
    if let Some(at) = info.location() {
        let _ = write!(line, " (at {}:{})", at.file(), at.line());
    }
    line.log();
    sys::exit(101)
}
