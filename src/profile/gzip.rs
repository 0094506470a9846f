//! A pprof body is itself gzip (magic 1f 8b), not a transfer encoding. Decompression is capped so a
//! gzip bomb ends in an error instead of eating the machine.

use std::io::Read;

use super::DecodeError;

/// 1 GiB: far above any real goroutine profile, far below what would hurt.
pub const DEFAULT_MAX_PROFILE_BYTES: u64 = 1 << 30;

pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

pub fn gunzip(bytes: &[u8], max_bytes: u64) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(max_bytes as usize));
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    decoder.take(max_bytes.saturating_add(1)).read_to_end(&mut out).map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() as u64 > max_bytes {
        return Err(DecodeError::TooLarge { limit: max_bytes });
    }
    Ok(out)
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
    fn truncated_gzip_is_an_error() {
        let data = gz(b"some profile bytes that are long enough to compress somewhat");
        let cut = &data[..data.len() / 2];
        assert!(matches!(gunzip(cut, 1 << 20), Err(DecodeError::Gzip(_))));
    }
}
