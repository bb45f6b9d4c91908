//! Finding where a chunked body ends, so the fast path (see [`crate::fastpath`])
//! can pass one through as it comes, framing and trailers untouched, and
//! still know when the next answer on the connection begins.

/// Where the scan is inside a chunked body (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// In a chunk's size; `any` once a digit was seen.
    Size {
        any: bool,
        size: u64,
    },
    /// In whitespace after the size (before `;` or the line's end).
    SizeWs {
        size: u64,
    },
    /// In a chunk extension, after the size.
    Ext {
        size: u64,
    },
    /// After the size line's CR.
    SizeLf {
        size: u64,
    },
    /// In a chunk's data, this much left.
    Data {
        left: u64,
    },
    /// After the data, before its CRLF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    LineStart,
    /// Inside a trailer line.
    Line,
    /// After a trailer line's CR.
    LineLf,
    /// After the final empty line's CR.
    EndLf,
}

/// A bad chunked body: the upstream broke the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadChunk;

/// A scanner over one chunked body, fed the bytes as they arrive.
#[derive(Debug, Clone)]
pub struct Chunked {
    at: At,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            at: At::Size {
                any: false,
                size: 0,
            },
        }
    }
}

/// A chunk size this large is refused (no real body has one; it guards the arithmetic).
const SIZE_MAX: u64 = 1 << 60;

impl Chunked {
    /// Scans `b`: `Some(n)` when the body ends after `b[..n]`, `None` when all of `b` is inside it.
    ///
    /// # Errors
    /// [`BadChunk`] when the bytes are not a chunked body.
    pub fn scan(&mut self, b: &[u8]) -> Result<Option<usize>, BadChunk> {
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            self.at = match self.at {
                At::Data { left } => {
                    // Data is skipped whole, not byte by byte.
                    let take = left.min((b.len() - i) as u64);
                    i += take as usize;
                    match left - take {
                        0 => At::DataCr,
                        left => At::Data { left },
                    }
                }
                At::Size { any, size } => match (hex(c), c) {
                    (Some(d), _) if size < SIZE_MAX => At::Size {
                        any: true,
                        size: size * 16 + u64::from(d),
                    },
                    (None, b' ' | b'\t') if any => At::SizeWs { size },
                    (None, b';') if any => At::Ext { size },
                    (None, b'\r') if any => At::SizeLf { size },
                    _ => return Err(BadChunk),
                }
                .step(&mut i),
                At::SizeWs { size } => match c {
                    b' ' | b'\t' => At::SizeWs { size },
                    b';' => At::Ext { size },
                    b'\r' => At::SizeLf { size },
                    _ => return Err(BadChunk),
                }
                .step(&mut i),
                At::Ext { size } => match c {
                    b'\r' => At::SizeLf { size },
                    b'\n' => return Err(BadChunk),
                    _ => At::Ext { size },
                }
                .step(&mut i),
                At::SizeLf { size } => match (c, size) {
                    (b'\n', 0) => At::LineStart,
                    (b'\n', left) => At::Data { left },
                    _ => return Err(BadChunk),
                }
                .step(&mut i),
                At::DataCr if c == b'\r' => At::DataLf.step(&mut i),
                At::DataLf if c == b'\n' => At::Size {
                    any: false,
                    size: 0,
                }
                .step(&mut i),
                At::DataCr | At::DataLf => return Err(BadChunk),
                At::LineStart => match c {
                    b'\r' => At::EndLf,
                    b'\n' => return Err(BadChunk),
                    _ => At::Line,
                }
                .step(&mut i),
                At::Line => match c {
                    b'\r' => At::LineLf,
                    b'\n' => return Err(BadChunk),
                    _ => At::Line,
                }
                .step(&mut i),
                At::LineLf if c == b'\n' => At::LineStart.step(&mut i),
                At::LineLf => return Err(BadChunk),
                At::EndLf if c == b'\n' => return Ok(Some(i + 1)),
                At::EndLf => return Err(BadChunk),
            };
        }
        Ok(None)
    }
}

impl At {
    /// This state, one byte on.
    fn step(self, i: &mut usize) -> At {
        *i += 1;
        self
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        b"5 ;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\ngrpc-status: 0\r\n\r\n";

    #[test]
    fn finds_the_end_of_a_body_fed_whole_or_a_byte_at_a_time() {
        let mut whole = Chunked::default();
        let mut tail = BODY.to_vec();
        tail.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(whole.scan(&tail), Ok(Some(BODY.len())));

        let mut bytewise = Chunked::default();
        for (i, b) in BODY.iter().enumerate() {
            let end = bytewise.scan(std::slice::from_ref(b)).unwrap();
            assert_eq!(end.is_some(), i == BODY.len() - 1, "at byte {i}");
        }
    }

    #[test]
    fn an_empty_body_ends_after_its_last_chunk() {
        assert_eq!(Chunked::default().scan(b"0\r\n\r\n"), Ok(Some(5)));
        assert_eq!(Chunked::default().scan(b"0\r\n"), Ok(None));
    }

    #[test]
    fn broken_framing_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello",
            b"5\r\nhelloX",
            b"1000000000000000000\r\n",
            b"0\r\n\n",
            b"5 junk\r\n",
            b"0\r\nx-a: 1\n\r\n",
        ] {
            assert_eq!(Chunked::default().scan(bad), Err(BadChunk), "{bad:?}");
        }
    }
}
