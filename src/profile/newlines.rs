//! Where the lines of a buffer end, for a reader that asks for one newline after another.
//!
//! A goroutine dump's lines are short (40 bytes on average), and a memchr call per line costs more
//! in its set-up than in its search. On x86-64 the buffer is instead compared 64 bytes at a time
//! (four SSE2 compares, always present on that architecture) into a bit mask of its newlines, and
//! each later line end in those 64 bytes is a count of trailing zeros. Elsewhere it is memchr.

/// The newlines of `buf`, found front to back.
pub struct Newlines<'a> {
    buf: &'a [u8],
    /// The 64 bytes last compared (`block..block + 64`), and the newlines among them (bit i:
    /// `buf[block + i]`). Empty before the first compare.
    block: usize,
    end: usize,
    mask: u64,
}

impl<'a> Newlines<'a> {
    pub fn new(buf: &'a [u8]) -> Newlines<'a> {
        Newlines { buf, block: 0, end: 0, mask: 0 }
    }

    /// The offset of the first newline at or after `from`, if any.
    #[inline]
    pub fn find(&mut self, from: usize) -> Option<usize> {
        if from >= self.block && from < self.end {
            let m = self.mask & (!0u64 << (from - self.block));
            if m != 0 {
                return Some(self.block + m.trailing_zeros() as usize);
            }
            return self.scan(self.end);
        }
        self.scan(from)
    }

    /// The first newline at or after `at`, comparing 64 bytes at a time while that many remain.
    fn scan(&mut self, mut at: usize) -> Option<usize> {
        while at + 64 <= self.buf.len() {
            prefetch(self.buf, at + PREFETCH_AHEAD);
            let mask = mask64(&self.buf[at..at + 64]);
            if mask != 0 {
                (self.block, self.end, self.mask) = (at, at + 64, mask);
                return Some(at + mask.trailing_zeros() as usize);
            }
            at += 64;
        }
        self.end = 0;
        let tail = self.buf.get(at..)?;
        memchr::memchr(b'\n', tail).map(|i| at + i)
    }
}

/// How far ahead of the compares the bytes are asked into the cache: the hardware prefetcher
/// stops at every 4 KiB page of a memory-mapped file, and most of a parse's time is otherwise
/// spent waiting for its bytes.
const PREFETCH_AHEAD: usize = 512;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(buf: &[u8], at: usize) {
    if let Some(b) = buf.get(at) {
        // SAFETY: a prefetch only hints the cache and never faults; the address is in `buf`.
        unsafe { std::arch::x86_64::_mm_prefetch(b as *const u8 as *const i8, std::arch::x86_64::_MM_HINT_T0) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch(_: &[u8], _: usize) {}

/// Bit i set where `bytes[i]` is a newline (`bytes` is 64 bytes long).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask64(bytes: &[u8]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    assert!(bytes.len() >= 64);
    let p = bytes.as_ptr() as *const __m128i;
    // SAFETY: SSE2 is part of x86-64; the four unaligned 16-byte loads stay within the 64 bytes
    // asserted above.
    let m = unsafe {
        let newline = _mm_set1_epi8(b'\n' as i8);
        [0, 1, 2, 3].map(|k| _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p.add(k)), newline)) as u32 as u64)
    };
    m[0] | m[1] << 16 | m[2] << 32 | m[3] << 48
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn mask64(bytes: &[u8]) -> u64 {
    bytes[..64].iter().enumerate().fold(0, |m, (i, &b)| m | ((b == b'\n') as u64) << i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every newline of `buf` from `from` on, asked for as a line reader does, against memchr.
    fn agrees(buf: &[u8], starts: &[usize]) {
        let mut n = Newlines::new(buf);
        for &from in starts {
            let want = memchr::memchr(b'\n', buf.get(from..).unwrap_or(&[])).map(|i| from + i);
            assert_eq!(n.find(from), want, "from {from} in {} bytes", buf.len());
        }
    }

    #[test]
    fn finds_what_memchr_finds_from_any_offset() {
        // Lines of every length from 0 to 200, so line ends fall at every place in a block, on
        // its edges, and blocks hold none.
        let mut buf = Vec::new();
        for len in 0..200 {
            buf.extend(std::iter::repeat_n(b'x', len));
            buf.push(b'\n');
        }
        buf.extend(b"no newline at the end");
        // Line by line, as a reader goes…
        let mut starts = vec![0];
        while let Some(i) = memchr::memchr(b'\n', &buf[*starts.last().unwrap()..]) {
            starts.push(starts.last().unwrap() + i + 1);
        }
        agrees(&buf, &starts);
        // …skipping lines it already knows (a jump past several blocks), and from every offset.
        agrees(&buf, &starts.iter().copied().step_by(7).collect::<Vec<_>>());
        agrees(&buf, &(0..=buf.len() + 2).collect::<Vec<_>>());
        for cut in [0, 1, 63, 64, 65, 127, 128, 129] {
            agrees(&buf[..cut.min(buf.len())], &(0..=cut + 1).collect::<Vec<_>>());
        }
    }
}
