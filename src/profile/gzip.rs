//! A pprof body is itself gzip (magic 1f 8b), not a transfer encoding. Decompression is capped so a
//! gzip bomb ends in an error instead of eating the machine.

use std::io::Read;

use super::DecodeError;

/// 1 GiB: far above any real goroutine profile, far below what would hurt.
pub const DEFAULT_MAX_PROFILE_BYTES: u64 = 1 << 30;

pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Deflate's densest coding: 258 bytes from 2 bits, about 1032 to 1.
const MAX_DEFLATE_RATIO: usize = 1032;

pub fn gunzip(bytes: &[u8], max_bytes: u64) -> Result<Vec<u8>, DecodeError> {
    gunzip_into(bytes, max_bytes, Vec::new())
}

/// As [`gunzip`], into `out`'s allocation (cleared first): a reader of many profiles keeps one.
pub fn gunzip_into(bytes: &[u8], max_bytes: u64, out: Vec<u8>) -> Result<Vec<u8>, DecodeError> {
    gunzip_capped(bytes, max_bytes, out, |_| max_bytes)
}

/// How much is inflated before the content is looked at to choose its cap.
const HEAD_BYTES: u64 = 64 << 10;

/// As [`gunzip_into`], with a cap chosen from what the first 64 KiB inflate to (`cap(head)`, at
/// most `max_bytes`): a protobuf profile is allowed less than a text dump. The cap holds before
/// anything past it is inflated.
pub fn gunzip_capped(bytes: &[u8], max_bytes: u64, mut out: Vec<u8>, cap: impl FnOnce(&[u8]) -> u64) -> Result<Vec<u8>, DecodeError> {
    out.clear();
    let gzip_error = |e: std::io::Error| DecodeError::Gzip(e.to_string());
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    (&mut decoder).take(HEAD_BYTES.min(max_bytes.saturating_add(1))).read_to_end(&mut out).map_err(gzip_error)?;
    let limit = cap(&out).min(max_bytes);
    out.reserve(expected_size(bytes, limit).saturating_sub(out.len()));
    let room = limit.saturating_add(1).saturating_sub(out.len() as u64);
    decoder.take(room).read_to_end(&mut out).map_err(gzip_error)?;
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Room to reserve for the inflated bytes, so they are not copied while the buffer doubles: the
/// size the trailer declares (ISIZE, the last member's size mod 2^32), which is only a hint from
/// the input, so never more than deflate can produce from this many bytes, nor than `max_bytes`.
fn expected_size(bytes: &[u8], max_bytes: u64) -> usize {
    let most = bytes.len().saturating_mul(MAX_DEFLATE_RATIO).min(usize::try_from(max_bytes).unwrap_or(usize::MAX));
    let declared = match bytes.len().checked_sub(4) {
        Some(at) if bytes.len() >= 18 => u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize,
        _ => 0,
    };
    declared.min(most)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn bomb_is_capped() {
        let bomb = gz(&vec![0u8; 10 << 20]);
        assert!(matches!(gunzip(&bomb, 1 << 20), Err(DecodeError::TooLarge { .. })));
        assert_eq!(gunzip(&bomb, 20 << 20).unwrap().len(), 10 << 20);
    }

    #[test]
    fn the_declared_size_is_only_a_hint() {
        let data = gz(&vec![7u8; 100_000]);
        assert_eq!(expected_size(&data, 1 << 30), 100_000);
        assert_eq!(expected_size(&data, 1000), 1000, "capped by max_bytes");
        // A trailer claiming 4 GiB from a few bytes reserves what deflate could make of them.
        let mut lying = gz(b"tiny");
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(expected_size(&lying, 1 << 30), n * MAX_DEFLATE_RATIO);
        assert!(matches!(gunzip(&lying, 1 << 30), Err(DecodeError::Gzip(_))), "the wrong size is still an error");
        // One that understates it grows the buffer as it goes, to the same error.
        let mut short = data.clone();
        let n = short.len();
        short[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(gunzip(&short, 1 << 30), Err(DecodeError::Gzip(_))), "flate2 checks the trailer");
        assert_eq!(gunzip_into(&data, 1 << 30, vec![1, 2, 3]).unwrap(), vec![7u8; 100_000]);
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gz(b"some profile bytes that are long enough to compress somewhat");
        let cut = &data[..data.len() / 2];
        assert!(matches!(gunzip(cut, 1 << 20), Err(DecodeError::Gzip(_))));
    }
}
