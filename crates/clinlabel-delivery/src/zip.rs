//! The whole delivery as one zip, laid out in advance so it can be streamed
//! and served in byte ranges without being stored.
//!
//! Entries are stored (method 0, no compression: exports are mostly
//! already-encrypted-at-rest blobs streamed out, and a stored entry's bytes
//! are known in advance), with their CRC-32 and sizes written in the local
//! headers (no data descriptors), so every byte of the archive is a function
//! of the entries' names, sizes, CRCs and one timestamp. ZIP64 records are
//! added only when a size or offset needs them. [`ZipPlan::pieces`] maps any
//! byte range of the archive to literal header bytes and ranges of entries.

use std::ops::Range;

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Path inside the archive (`/` separators).
    pub path: String,
    pub size: u64,
    pub crc32: u32,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(Vec<u8>),
    File { entry: usize, len: u64 },
}

/// What serves a part of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of headers or the central directory.
    Bytes(Vec<u8>),
    /// A byte range of entry `entry`'s content.
    File { entry: usize, range: Range<u64> },
}

/// The archive's layout.
#[derive(Debug, Clone)]
pub struct ZipPlan {
    segments: Vec<(u64, Segment)>,
    total: u64,
}

const U32_MAX: u64 = 0xFFFF_FFFF;

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl ZipPlan {
    /// Lays out `entries` (in this order) with modification time `mtime_ms`.
    pub fn new(entries: &[ZipEntry], mtime_ms: i64) -> ZipPlan {
        let (time, date) = crate::time::dos(mtime_ms);
        let mut segments = Vec::new();
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(entries.len());
        let push = |segments: &mut Vec<(u64, Segment)>, offset: &mut u64, s: Segment| {
            let len = match &s {
                Segment::Literal(b) => b.len() as u64,
                Segment::File { len, .. } => *len,
            };
            segments.push((*offset, s));
            *offset += len;
        };
        for (i, e) in entries.iter().enumerate() {
            offsets.push(offset);
            let big = e.size >= U32_MAX;
            let mut h = Vec::with_capacity(30 + e.path.len() + 20);
            le32(&mut h, 0x0403_4b50);
            le16(&mut h, if big { 45 } else { 20 });
            le16(&mut h, 0x0800); // UTF-8 names
            le16(&mut h, 0); // stored
            le16(&mut h, time);
            le16(&mut h, date);
            le32(&mut h, e.crc32);
            let sz = if big { U32_MAX as u32 } else { e.size as u32 };
            le32(&mut h, sz);
            le32(&mut h, sz);
            le16(&mut h, e.path.len() as u16);
            le16(&mut h, if big { 20 } else { 0 });
            h.extend_from_slice(e.path.as_bytes());
            if big {
                le16(&mut h, 0x0001);
                le16(&mut h, 16);
                le64(&mut h, e.size);
                le64(&mut h, e.size);
            }
            push(&mut segments, &mut offset, Segment::Literal(h));
            if e.size > 0 {
                push(&mut segments, &mut offset, Segment::File { entry: i, len: e.size });
            }
        }
        let cd_start = offset;
        let mut cd = Vec::new();
        let mut any64 = false;
        for (e, &off) in entries.iter().zip(&offsets) {
            let big_size = e.size >= U32_MAX;
            let big_off = off >= U32_MAX;
            let mut extra = Vec::new();
            if big_size {
                le64(&mut extra, e.size);
                le64(&mut extra, e.size);
            }
            if big_off {
                le64(&mut extra, off);
            }
            let needs64 = big_size || big_off;
            any64 |= needs64;
            le32(&mut cd, 0x0201_4b50);
            le16(&mut cd, 0x0300 | 45); // made by: Unix, spec 4.5
            le16(&mut cd, if needs64 { 45 } else { 20 });
            le16(&mut cd, 0x0800);
            le16(&mut cd, 0);
            le16(&mut cd, time);
            le16(&mut cd, date);
            le32(&mut cd, e.crc32);
            let sz = if big_size { U32_MAX as u32 } else { e.size as u32 };
            le32(&mut cd, sz);
            le32(&mut cd, sz);
            le16(&mut cd, e.path.len() as u16);
            le16(&mut cd, if needs64 { 4 + extra.len() as u16 } else { 0 });
            le16(&mut cd, 0); // comment
            le16(&mut cd, 0); // disk
            le16(&mut cd, 0); // internal attributes
            le32(&mut cd, 0o100644 << 16); // regular file, rw-r--r--
            le32(&mut cd, if big_off { U32_MAX as u32 } else { off as u32 });
            cd.extend_from_slice(e.path.as_bytes());
            if needs64 {
                le16(&mut cd, 0x0001);
                le16(&mut cd, extra.len() as u16);
                cd.extend_from_slice(&extra);
            }
        }
        let cd_len = cd.len() as u64;
        let n = entries.len() as u64;
        let zip64 = any64 || cd_start >= U32_MAX || cd_len >= U32_MAX || n >= 0xFFFF;
        let mut tail = cd;
        if zip64 {
            let eocd64 = cd_start + cd_len;
            le32(&mut tail, 0x0606_4b50);
            le64(&mut tail, 44);
            le16(&mut tail, 0x0300 | 45);
            le16(&mut tail, 45);
            le32(&mut tail, 0);
            le32(&mut tail, 0);
            le64(&mut tail, n);
            le64(&mut tail, n);
            le64(&mut tail, cd_len);
            le64(&mut tail, cd_start);
            le32(&mut tail, 0x0706_4b50);
            le32(&mut tail, 0);
            le64(&mut tail, eocd64);
            le32(&mut tail, 1);
        }
        le32(&mut tail, 0x0605_4b50);
        le16(&mut tail, 0);
        le16(&mut tail, 0);
        let n16 = if zip64 { 0xFFFF } else { n as u16 };
        le16(&mut tail, n16);
        le16(&mut tail, n16);
        le32(&mut tail, if zip64 { U32_MAX as u32 } else { cd_len as u32 });
        le32(&mut tail, if zip64 { U32_MAX as u32 } else { cd_start as u32 });
        le16(&mut tail, 0);
        push(&mut segments, &mut offset, Segment::Literal(tail));
        ZipPlan { segments, total: offset }
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// What serves `range` of the archive, in order.
    pub fn pieces(&self, range: Range<u64>) -> Vec<Piece> {
        let mut out = Vec::new();
        let end = range.end.min(self.total);
        for (start, s) in &self.segments {
            let len = match s {
                Segment::Literal(b) => b.len() as u64,
                Segment::File { len, .. } => *len,
            };
            let (a, b) = (range.start.max(*start), end.min(start + len));
            if a >= b {
                continue;
            }
            match s {
                Segment::Literal(bytes) => out.push(Piece::Bytes(bytes[(a - start) as usize..(b - start) as usize].to_vec())),
                Segment::File { entry, .. } => out.push(Piece::File { entry: *entry, range: a - start..b - start }),
            }
        }
        out
    }
}

/// CRC-32 (IEEE) as zip uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn build(files: &[(&str, &[u8])]) -> (ZipPlan, Vec<u8>) {
        let entries: Vec<ZipEntry> = files.iter().map(|(p, b)| ZipEntry { path: p.to_string(), size: b.len() as u64, crc32: crc32(b) }).collect();
        let plan = ZipPlan::new(&entries, 1_700_000_000_000);
        let mut out = Vec::new();
        for p in plan.pieces(0..plan.len()) {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(&b),
                Piece::File { entry, range } => out.extend_from_slice(&files[entry].1[range.start as usize..range.end as usize]),
            }
        }
        (plan, out)
    }

    #[test]
    fn the_zip_crate_reads_the_archive_back() {
        let files: Vec<(&str, &[u8])> = vec![("d/manifest.json", b"{\"a\":1}"), ("d/empty.txt", b""), ("d/exports/\u{e9}t\u{e9}.jsonl", b"line 1\nline 2\n")];
        let (plan, bytes) = build(&files);
        assert_eq!(bytes.len() as u64, plan.len());
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(z.len(), 3);
        for (name, content) in &files {
            let mut f = z.by_name(name).unwrap();
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(&got, content, "{name}");
        }
    }

    #[test]
    fn any_range_is_the_same_bytes_as_the_whole() {
        let files: Vec<(&str, &[u8])> = vec![("a.txt", b"hello"), ("b.bin", &[7u8; 300])];
        let (plan, whole) = build(&files);
        for (a, b) in [(0, 1), (3, 40), (30, 340), (plan.len() - 5, plan.len()), (0, plan.len())] {
            let mut got = Vec::new();
            for p in plan.pieces(a..b) {
                match p {
                    Piece::Bytes(x) => got.extend_from_slice(&x),
                    Piece::File { entry, range } => got.extend_from_slice(&files[entry].1[range.start as usize..range.end as usize]),
                }
            }
            assert_eq!(got, whole[a as usize..b as usize], "{a}..{b}");
        }
    }

    #[test]
    fn sizes_past_4_gib_get_zip64_records() {
        let e = [ZipEntry { path: "big.bin".into(), size: 5 << 30, crc32: 1 }, ZipEntry { path: "after.txt".into(), size: 3, crc32: 2 }];
        let plan = ZipPlan::new(&e, 0);
        let tail = match plan.pieces(plan.len() - 98..plan.len()).into_iter().next().unwrap() {
            Piece::Bytes(b) => b,
            other => panic!("{other:?}"),
        };
        // zip64 end record, its locator, then the classic end record.
        assert_eq!(&tail[..4], &0x0606_4b50u32.to_le_bytes());
        assert_eq!(&tail[56..60], &0x0706_4b50u32.to_le_bytes());
        assert_eq!(&tail[76..80], &0x0605_4b50u32.to_le_bytes());
        assert!(plan.len() > 5 << 30);
    }
}
