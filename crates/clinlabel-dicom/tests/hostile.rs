//! Hostile input: the FINDINGS crafted-length file and variants, deflate bombs,
//! truncation at every structural point, non-DICOM bytes, and mutated real files.
//! A counting global allocator asserts that memory stays bounded; every test in
//! this binary takes `LOCK` so the peak measured is its own.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clinlabel_dicom::ingest::{IngestOptions, ingest};
use clinlabel_dicom::{Limits, decode_frame, image_meta, open_bytes};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = CURRENT.fetch_add(new - l.size(), Ordering::Relaxed) + (new - l.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

static LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result and the peak bytes allocated above the start.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

fn meta_group(ts: &str) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v.extend_from_slice(b"DICM");
    let mut el = |tag: [u8; 4], vr: &[u8; 2], val: &[u8]| {
        let mut val = val.to_vec();
        if val.len() % 2 == 1 {
            val.push(0);
        }
        v.extend_from_slice(&tag);
        v.extend_from_slice(vr);
        if vr == b"OB" {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&(val.len() as u32).to_le_bytes());
        } else {
            v.extend_from_slice(&(val.len() as u16).to_le_bytes());
        }
        v.extend_from_slice(&val);
    };
    el([0x02, 0x00, 0x01, 0x00], b"OB", &[0, 1]);
    el(
        [0x02, 0x00, 0x02, 0x00],
        b"UI",
        b"1.2.840.10008.5.1.4.1.1.7",
    );
    el([0x02, 0x00, 0x03, 0x00], b"UI", b"1.2.3.4");
    el([0x02, 0x00, 0x10, 0x00], b"UI", ts.as_bytes());
    v
}

/// The FINDINGS case: a small explicit-VR file whose Pixel Data declares
/// 0xF0000000 bytes.
fn crafted_pixel_length() -> Vec<u8> {
    let mut v = meta_group("1.2.840.10008.1.2.1");
    // (0028,0010) Rows US 2 = 512, (0028,0011) Columns
    v.extend_from_slice(&[0x28, 0x00, 0x10, 0x00, b'U', b'S', 2, 0, 0, 2]);
    v.extend_from_slice(&[0x28, 0x00, 0x11, 0x00, b'U', b'S', 2, 0, 0, 2]);
    v.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0]);
    v.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    v.extend_from_slice(&[0u8; 64]);
    v
}

fn opens_with_code(bytes: &[u8], limits: &Limits) -> Result<(), &'static str> {
    open_bytes(bytes, limits).map(|_| ()).map_err(|e| e.code())
}

#[test]
fn crafted_length_is_refused_with_bounded_memory() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bytes = crafted_pixel_length();
    assert!(bytes.len() < 400, "{} bytes", bytes.len());
    let (r, peak) = measure(|| opens_with_code(&bytes, &Limits::default()));
    assert_eq!(r, Err("length_exceeds_file"));
    assert!(
        peak < 1 << 20,
        "peak {peak} bytes for a {}-byte file",
        bytes.len()
    );
    let msg = open_bytes(&bytes, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("(7FE0,0010)") && msg.contains("4026531840"),
        "{msg}"
    );
}

#[test]
fn crafted_lengths_in_other_encodings_and_depths_are_refused() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Implicit VR: (0010,0010) with a 0xF0000000 length.
    let mut implicit = meta_group("1.2.840.10008.1.2");
    implicit.extend_from_slice(&[0x10, 0x00, 0x10, 0x00]);
    implicit.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    implicit.extend_from_slice(b"DOE^JOHN");
    // Big endian: same, tag and length big-endian, long VR.
    let mut be = meta_group("1.2.840.10008.1.2.2");
    be.extend_from_slice(&[0x00, 0x10, 0x00, 0x10, b'U', b'T', 0, 0]);
    be.extend_from_slice(&0xF000_0000u32.to_be_bytes());
    be.extend_from_slice(b"DOE^JOHN");
    // Deep inside an undefined-length sequence item of an undefined-length item.
    let mut nested = meta_group("1.2.840.10008.1.2.1");
    nested.extend_from_slice(&[
        0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    nested.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    nested.extend_from_slice(&[
        0x08, 0x00, 0x15, 0x92, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    nested.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    nested.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
    nested.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    nested.extend_from_slice(&[0u8; 32]);
    // An encapsulated fragment that declares 0xF0000000 bytes.
    let mut frag = meta_group("1.2.840.10008.1.2.4.50");
    frag.extend_from_slice(&[
        0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    frag.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    frag.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    frag.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    frag.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
    // A defined-length item longer than its sequence.
    let mut item = meta_group("1.2.840.10008.1.2.1");
    item.extend_from_slice(&[0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 16, 0, 0, 0]);
    item.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0x70]);
    item.extend_from_slice(&[0u8; 64]);
    for (label, bytes) in [
        ("implicit", implicit),
        ("big endian", be),
        ("nested", nested),
        ("fragment", frag),
        ("item", item),
    ] {
        let (r, peak) = measure(|| opens_with_code(&bytes, &Limits::default()));
        assert_eq!(r, Err("length_exceeds_file"), "{label}");
        assert!(peak < 1 << 20, "{label}: peak {peak}");
    }
    // A File Meta Information Group Length of 0xF0000000 (the value, not an
    // element length): must not drive an allocation either.
    let mut group_len = vec![0u8; 128];
    group_len.extend_from_slice(b"DICM");
    group_len.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    group_len.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    group_len.extend_from_slice(&meta_group("1.2.840.10008.1.2.1")[132..]);
    group_len.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0]);
    group_len.extend_from_slice(b"A^B ");
    let (r, peak) = measure(|| opens_with_code(&group_len, &Limits::default()));
    assert!(peak < 1 << 20, "group length: peak {peak} ({r:?})");
    // Nesting 10,000 levels deep is refused without exhausting the stack.
    let mut deep = meta_group("1.2.840.10008.1.2.1");
    for _ in 0..10_000 {
        deep.extend_from_slice(&[
            0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    assert_eq!(opens_with_code(&deep, &Limits::default()), Err("malformed"));
}

#[test]
fn deflate_bomb_is_capped() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = Vec::new();
    // (0010,0010) PN followed by a huge OB element of zeros: 64 MiB inflated.
    body.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0]);
    body.extend_from_slice(b"A^B ");
    body.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
    body.extend_from_slice(&(64u32 << 20).to_le_bytes());
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&body).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    drop(zeros);
    let mut file = meta_group("1.2.840.10008.1.2.1.99");
    file.extend_from_slice(&enc.finish().unwrap());
    assert!(file.len() < 200_000, "{} bytes compressed", file.len());
    let limits = Limits {
        max_inflated_bytes: 8 << 20,
        ..Limits::default()
    };
    let (r, peak) = measure(|| opens_with_code(&file, &limits));
    assert_eq!(r, Err("limit_exceeded"));
    assert!(peak < 24 << 20, "peak {peak}");
}

fn real(name: &str) -> Vec<u8> {
    let reference = common::reference();
    std::fs::read(common::path_of(&reference, name)).unwrap()
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits::default();
    for name in [
        "pydicom/CT_small.dcm",
        "pydicom/MR_small_bigendian.dcm",
        "pydicom/SC_rgb_rle.dcm",
        "pydicom/JPEG2000.dcm",
    ] {
        let bytes = real(name);
        // Cut inside the meta group, the data set and the pixel data.
        for frac in [0.05, 0.2, 0.5, 0.8, 0.95, 0.999] {
            let cut = (bytes.len() as f64 * frac) as usize;
            let head = &bytes[..cut.max(140)];
            let r = open_bytes(head, &limits).and_then(|f| {
                let m = image_meta(&f);
                decode_frame(&f, &m, 0).map(|_| ())
            });
            let e = r.expect_err(&format!("{name} cut at {cut} must fail"));
            assert!(
                matches!(
                    e.code(),
                    "truncated" | "malformed" | "decode_failed" | "missing_attribute"
                ),
                "{name} cut at {cut}: {} ({e})",
                e.code()
            );
        }
        // Through ingest: reported by name, and the rest continues.
        // Cuts inside the pixel data (a cut that lands on an element boundary
        // before the image attributes leaves a valid non-image object).
        for back in [1usize, 7, 60] {
            let cut = bytes.len() - back;
            let report = ingest(
                vec![
                    ("cut.dcm".to_string(), bytes[..cut].to_vec()),
                    ("whole.dcm".to_string(), bytes.clone()),
                ],
                &IngestOptions::default(),
            );
            assert_eq!(report.items.len(), 1, "{name} cut at {cut}");
            assert_eq!(report.items[0].name, "whole.dcm");
            assert_eq!(report.rejected.len(), 1, "{name} cut at {cut}");
            assert_eq!(report.rejected[0].name, "cut.dcm");
            assert!(
                matches!(report.rejected[0].code, "truncated" | "malformed"),
                "{name} cut at {cut}: {:?}",
                report.rejected[0]
            );
        }
    }
}

#[test]
fn non_dicom_bytes_are_named() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let report = ingest(
        vec![
            ("empty.dcm".to_string(), Vec::new()),
            (
                "notes.txt".to_string(),
                b"Patient notes, not an image at all".repeat(20),
            ),
            ("zeros.bin".to_string(), vec![0u8; 4096]),
        ],
        &IngestOptions::default(),
    );
    assert!(report.items.is_empty());
    let codes: Vec<(&str, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.name.as_str(), r.code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("empty.dcm", "not_dicom"),
            ("notes.txt", "not_dicom"),
            ("zeros.bin", "not_dicom")
        ]
    );
    assert!(
        report.rejected[0].reason.starts_with("not DICOM"),
        "{:?}",
        report.rejected[0]
    );
}

#[test]
fn unsupported_transfer_syntax_is_named() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut bytes = meta_group("1.2.3.999.1");
    bytes.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0]);
    bytes.extend_from_slice(b"A^B ");
    let report = ingest(
        vec![("odd.dcm".to_string(), bytes)],
        &IngestOptions::default(),
    );
    assert_eq!(report.rejected[0].code, "unsupported_transfer_syntax");
    assert!(
        report.rejected[0].reason.contains("1.2.3.999.1"),
        "{:?}",
        report.rejected[0]
    );
}

/// xorshift64*: deterministic mutations without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_real_files_never_panic_or_balloon() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let limits = Limits {
        max_frame_bytes: 16 << 20,
        max_inflated_bytes: 16 << 20,
        ..Limits::default()
    };
    let names = [
        "pydicom/CT_small.dcm",
        "pydicom/MR_small_bigendian.dcm",
        "pydicom/MR_small_implicit.dcm",
        "pydicom/SC_rgb_rle.dcm",
        "pydicom/JPEG2000.dcm",
        "pydicom/SC_rgb_jpeg_gdcm.dcm",
        "pydicom/MR_small_jpeg_ls_lossless.dcm",
        "pydicom/image_dfl.dcm",
        "pydicom/liver_1frame.dcm",
        "pydicom/JPGExtended.dcm",
        "pydicom/SC_rgb_small_odd_jpeg.dcm",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut worst = (0usize, String::new());
    let mut outcomes = [0usize; 2];
    for name in names {
        let original = real(name);
        for round in 0..150 {
            let mut b = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = 132 + rng.below(b.len() - 136);
                match rng.below(3) {
                    0 => b[at..at + 4].copy_from_slice(&[0xF0, 0xFF, 0xFF, 0x7F]),
                    1 => b[at] = rng.next() as u8,
                    _ => b[at..at + 2].copy_from_slice(&[0xFF, 0xFF]),
                }
            }
            let (r, peak) = measure(|| {
                std::panic::catch_unwind(|| {
                    open_bytes(&b, &limits).and_then(|f| {
                        let m = image_meta(&f);
                        if m.has_pixel_data {
                            decode_frame(&f, &m, 0).map(|_| ())
                        } else {
                            Ok(())
                        }
                    })
                })
            });
            let ok = match r {
                Ok(res) => res.is_ok(),
                Err(_) => panic!("{name} mutation {round} panicked"),
            };
            outcomes[ok as usize] += 1;
            // Parsed object + decoded frame: a few times the file, never the
            // declared lengths. 16 MiB frame limit + 8× the file.
            let bound = (16 << 20) + 8 * b.len();
            if peak > worst.0 {
                worst = (peak, format!("{name} mutation {round}"));
            }
            assert!(
                peak <= bound,
                "{name} mutation {round}: peak {peak} > {bound}"
            );
        }
    }
    println!(
        "mutations: {} rejected, {} still decoded; worst peak {} bytes ({})",
        outcomes[0], outcomes[1], worst.0, worst.1
    );
    let _ = Path::new("");
}
