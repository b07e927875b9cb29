//! `log` backend: each record becomes one `log` system call; the kernel
//! prefixes the task's name.

use core::fmt::{self, Write};

use crate::sys;

/// A fixed line buffer (no allocator needed) for building one log line
/// with `write!`; text past 240 bytes is cut.
pub struct LineBuf {
    buf: [u8; 240],
    len: usize,
}

impl LineBuf {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            buf: [0; 240],
            len: 0,
        }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// The text written so far (cut at a character boundary if needed).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

struct TaskLogger;

impl log::Log for TaskLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut line = LineBuf::new();
        if record.level() <= log::Level::Warn {
            let _ = write!(line, "{}: ", record.level());
        }
        let _ = write!(line, "{}", record.args());
        sys::log(line.as_bytes());
    }
    fn flush(&self) {}
}

static LOGGER: TaskLogger = TaskLogger;

/// Routes the `log` macros to the kernel console.
pub fn init_logger() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}
