//! `log` backend: each record becomes one `log` system call per console
//! line; the kernel prefixes the task's name.
//!
//! A record longer than one line is never cut silently: [`LineBuf`] sends
//! what it holds with a trailing ` …` and carries on with a line that
//! starts with `… `, so the whole text reaches the console over several
//! lines.

use core::fmt::{self, Write};

use crate::sys;

/// Bytes in one console line, continuation marks included.
const LINE_BYTES: usize = 240;
/// Marks a line continued on the next (`" …"`, U+2026 is three bytes).
const CONTINUED: &str = " \u{2026}";
/// Starts a continuation line (`"… "`).
const CONTINUATION: &str = "\u{2026} ";

/// A fixed line buffer (no allocator needed) for building one log line
/// with `write!`.
///
/// When the text outgrows one line, the part written so far is logged at
/// once, ending in ` …`, and the buffer restarts with `… ` and the rest;
/// [`log`](Self::log) sends the last piece. A `LineBuf` used only to build
/// a string ([`as_str`](Self::as_str)) therefore holds the tail of an
/// over-long text, its head having gone to the console already.
pub struct LineBuf {
    buf: [u8; LINE_BYTES],
    len: usize,
    /// Lines already sent for this text (continuation pieces).
    pieces_sent: u32,
}

impl LineBuf {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_BYTES],
            len: 0,
            pieces_sent: 0,
        }
    }
    /// The bytes written since the last piece was sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// The text written since the last piece was sent (only ever split at
    /// character boundaries, so always valid UTF-8).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
    /// How many continued pieces went to the console before the current one.
    pub fn pieces_sent(&self) -> u32 {
        self.pieces_sent
    }
    /// Sends the current piece as the last line of the text and empties
    /// the buffer.
    pub fn log(&mut self) {
        sys::log(self.as_bytes());
        self.len = 0;
        self.pieces_sent = 0;
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Sends the current piece with the continued mark and starts the
    /// next one with the continuation mark.
    fn send_continued(&mut self) {
        self.push(CONTINUED.as_bytes());
        sys::log(self.as_bytes());
        self.len = 0;
        self.pieces_sent += 1;
        self.push(CONTINUATION.as_bytes());
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        loop {
            // Room for text, keeping space for the continued mark.
            let room = LINE_BYTES - CONTINUED.len() - self.len;
            if s.len() <= room {
                self.push(s.as_bytes());
                return Ok(());
            }
            // The longest prefix that fits and ends on a character boundary.
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.push(&s.as_bytes()[..cut]);
            s = &s[cut..];
            self.send_continued();
        }
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
        line.log();
    }
    fn flush(&self) {}
}

static LOGGER: TaskLogger = TaskLogger;

/// Routes the `log` macros to the kernel console.
pub fn init_logger() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}
