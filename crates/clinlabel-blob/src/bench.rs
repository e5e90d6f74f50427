//! Measurements the `clinlabel bench` commands print. Nothing here asserts
//! a speed; callers report the figures.

use std::time::Instant;

use bytes::Bytes;
use clinlabel_crypto::{CHUNK_SIZE, DataKey, Sha256Stream, StreamDecryptor, StreamEncryptor};
use futures::stream::{self, Stream, StreamExt};

use crate::{BlobError, BlobStore};

/// Single-core figures in GB/s (10^9 bytes per second) for 1 MiB chunks.
#[derive(Clone, Copy, Debug)]
pub struct CryptoReport {
    /// AES-256-GCM chunked encryption ([`StreamEncryptor`], ring).
    pub encrypt_gbps: f64,
    /// Authenticated chunked decryption ([`StreamDecryptor`]).
    pub decrypt_gbps: f64,
    /// SHA-256 of the plaintext ([`Sha256Stream`]).
    pub sha256_gbps: f64,
    /// What one upload costs on one core: encryption plus SHA-256.
    pub encrypt_and_hash_gbps: f64,
}

/// A buffer of pseudo-random bytes (xorshift64*), cheap to make.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs.max(1e-9) / 1e9
}

/// Feeds `total` bytes through `f` in 1 MiB pieces taken from a 16 MiB buffer;
/// returns seconds.
fn time_pieces(total: usize, buf: &[u8], mut f: impl FnMut(&[u8])) -> f64 {
    let start = Instant::now();
    let mut done = 0;
    let mut off = 0;
    while done < total {
        let n = CHUNK_SIZE.min(total - done);
        if off + n > buf.len() {
            off = 0;
        }
        f(&buf[off..off + n]);
        off += n;
        done += n;
    }
    start.elapsed().as_secs_f64()
}

/// Encryption throughput in GB/s on the calling thread, over `bytes` bytes.
pub fn crypto_throughput(bytes: usize) -> f64 {
    let buf = pseudo_random(16 << 20, 7);
    encrypt_gbps(bytes, &buf)
}

fn encrypt_gbps(bytes: usize, buf: &[u8]) -> f64 {
    let key = DataKey::generate();
    let mut enc = StreamEncryptor::new(&key, "bench").expect("valid id");
    let mut sink = 0usize;
    let secs = time_pieces(bytes, buf, |p| {
        for f in enc.push(p).expect("encrypt") {
            sink ^= f.len();
        }
    });
    std::hint::black_box(sink);
    gbps(bytes as u64, secs)
}

/// Encryption, decryption and hashing throughput over `bytes` bytes each.
pub fn crypto_report(bytes: usize) -> CryptoReport {
    let buf = pseudo_random(16 << 20, 7);
    let encrypt_gbps = encrypt_gbps(bytes, &buf);

    // Decrypt a real 16 MiB object repeatedly (fresh decryptor each pass).
    let key = DataKey::generate();
    let ct = clinlabel_crypto::encrypt_all(&key, "bench", &buf).expect("encrypt");
    let start = Instant::now();
    let mut done = 0usize;
    while done < bytes {
        let mut dec = StreamDecryptor::new(&key, "bench");
        for piece in ct.chunks(CHUNK_SIZE) {
            std::hint::black_box(dec.push(piece).expect("decrypt"));
        }
        std::hint::black_box(dec.finish().expect("decrypt"));
        done += buf.len();
    }
    let decrypt_gbps = gbps(done as u64, start.elapsed().as_secs_f64());

    let mut h = Sha256Stream::new();
    let secs = time_pieces(bytes, &buf, |p| h.update(p));
    std::hint::black_box(h.finalize());
    let sha256_gbps = gbps(bytes as u64, secs);

    let mut enc = StreamEncryptor::new(&key, "bench").expect("valid id");
    let mut h = Sha256Stream::new();
    let secs = time_pieces(bytes, &buf, |p| {
        h.update(p);
        std::hint::black_box(enc.push(p).expect("encrypt"));
    });
    std::hint::black_box(h.finalize());
    let encrypt_and_hash_gbps = gbps(bytes as u64, secs);

    CryptoReport {
        encrypt_gbps,
        decrypt_gbps,
        sha256_gbps,
        encrypt_and_hash_gbps,
    }
}

/// Runs `openssl speed -evp aes-256-gcm -bytes 16384 -seconds <secs>` (one
/// core) and returns its GB/s, or `None` if openssl is missing or its output
/// is not understood.
pub fn openssl_aes_gcm_gbps(seconds: u32) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args([
            "speed",
            "-evp",
            "aes-256-gcm",
            "-bytes",
            "16384",
            "-seconds",
        ])
        .arg(seconds.to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_openssl_speed(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the result line (`AES-256-GCM  4171969.13k`, in 1000s of bytes per
/// second) of `openssl speed` into GB/s.
pub fn parse_openssl_speed(output: &str) -> Option<f64> {
    let line = output.lines().rev().find(|l| {
        l.trim_start()
            .to_ascii_lowercase()
            .starts_with("aes-256-gcm")
    })?;
    let field = line.split_whitespace().last()?;
    let kbytes: f64 = field.strip_suffix('k').unwrap_or(field).parse().ok()?;
    Some(kbytes * 1000.0 / 1e9)
}

/// What [`stream_roundtrip`] measured.
#[derive(Clone, Debug)]
pub struct StreamReport {
    pub bytes: u64,
    pub encrypt_secs: f64,
    pub decrypt_secs: f64,
    /// The process's peak resident set (VmHWM), if /proc is available.
    pub peak_rss_bytes: Option<u64>,
    pub sha256: String,
}

/// Peak resident set size of this process (VmHWM from /proc/self/status).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `size` bytes of pseudo-random data as a body stream of 256 KiB pieces,
/// sliced without copying from one 4 MiB buffer: memory stays constant
/// whatever `size` is.
pub fn generated_body(
    size: u64,
    seed: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    const PIECE: u64 = 256 << 10;
    let pool = Bytes::from(pseudo_random(4 << 20, seed));
    let pieces = size.div_ceil(PIECE);
    stream::iter(0..pieces).map(move |i| {
        let n = PIECE.min(size - i * PIECE) as usize;
        // Vary the offset so consecutive chunks differ.
        let off = ((i.wrapping_mul(7919) * 4096) % (pool.len() as u64 - PIECE)) as usize;
        Ok(pool.slice(off..off + n))
    })
}

/// Streams `size` generated bytes through `put` and back through `get`,
/// checking the SHA-256 both ways, then deletes the blob.
pub async fn stream_roundtrip(store: &BlobStore, size: u64) -> Result<StreamReport, BlobError> {
    let key = DataKey::generate();
    let blob_id = format!(
        "bench-{}",
        clinlabel_crypto::to_hex(&DataKey::generate().to_bytes()[..8])
    );
    let start = Instant::now();
    let info = store.put(&key, &blob_id, generated_body(size, 42)).await?;
    let encrypt_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut s = store.get(&key, &blob_id).await?;
    let mut h = Sha256Stream::new();
    let mut n = 0u64;
    while let Some(piece) = s.next().await {
        let piece = piece?;
        n += piece.len() as u64;
        h.update(&piece);
    }
    let decrypt_secs = start.elapsed().as_secs_f64();
    store.delete(&blob_id).await?;
    let back = h.finalize_hex();
    if n != size || info.size != size || back != info.sha256 {
        return Err(BlobError::Body(std::io::Error::other(format!(
            "round trip mismatch: put {} bytes sha256 {}, got {n} bytes sha256 {back}",
            info.size, info.sha256
        ))));
    }
    Ok(StreamReport {
        bytes: size,
        encrypt_secs,
        decrypt_secs,
        peak_rss_bytes: peak_rss_bytes(),
        sha256: back,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_speed_output() {
        let out = "The 'numbers' are in 1000s of bytes per second processed.\n\
                   type          16384 bytes\nAES-256-GCM    4171969.13k\n";
        let v = parse_openssl_speed(out).unwrap();
        assert!((v - 4.17196913).abs() < 1e-6, "{v}");
        assert_eq!(parse_openssl_speed("garbage"), None);
    }

    #[tokio::test]
    async fn generated_body_has_the_requested_size() {
        let total = generated_body(1_000_001, 1)
            .fold(0usize, |a, p| async move { a + p.unwrap().len() })
            .await;
        assert_eq!(total, 1_000_001);
    }
}
