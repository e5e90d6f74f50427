//! Safe opening: a structural pre-scan of the bytes before dicom-rs sees them.
//!
//! dicom-rs 0.10 allocates an element's declared length before reading it, so a
//! 364-byte file that declares a 0xF0000000-byte element drives it to ~4 GB
//! (FINDINGS.md). [`validate`] walks the whole encoding (file meta group, data
//! set, sequences and items at any depth, encapsulated fragments) and refuses any
//! length that does not fit inside the bytes that actually enclose it — the file,
//! or the parent item / sequence. Only a file that passes is handed to dicom-rs,
//! from memory, so no allocation it makes can exceed the file size (plus the
//! inflated size for the deflated syntax, itself capped by [`Limits`]).

use std::io::Read;

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::error::{DicomError, Result, TagFmt};

/// Resource limits applied to every file.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file accepted at all (it is held in memory while parsed).
    pub max_file_bytes: u64,
    /// Largest inflated body for the Deflated Explicit VR Little Endian syntax.
    pub max_inflated_bytes: u64,
    /// Deepest sequence nesting accepted.
    pub max_depth: usize,
    /// Largest decoded frame (rows × columns × samples × bytes per sample).
    pub max_frame_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 2 << 30,
            max_inflated_bytes: 1 << 30,
            max_depth: 32,
            max_frame_bytes: 512 << 20,
        }
    }
}

/// What the pre-scan learnt.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Transfer Syntax UID from the file meta group (trimmed).
    pub ts_uid: String,
    /// Number of elements seen (all levels).
    #[allow(dead_code)]
    pub elements: usize,
}

pub(crate) const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub(crate) const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";
pub(crate) const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Enc {
    ImplicitLe,
    ExplicitLe,
    ExplicitBe,
}

impl Enc {
    fn u16(self, b: &[u8]) -> u16 {
        match self {
            Enc::ExplicitBe => u16::from_be_bytes([b[0], b[1]]),
            _ => u16::from_le_bytes([b[0], b[1]]),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        match self {
            Enc::ExplicitBe => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Does this explicit VR use the 2-reserved-bytes + 32-bit length form?
fn long_form(vr: [u8; 2]) -> bool {
    !matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

fn dictionary_is_sequence(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.vr.relaxed() == VR::SQ)
        .unwrap_or(false)
}

/// Is `bytes` a DICOM Part 10 file (preamble + `DICM`)?
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// Validates the whole structure of a DICOM Part 10 file held in memory.
pub(crate) fn validate(bytes: &[u8], limits: &Limits) -> Result<Scan> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DicomError::Limit(format!(
            "file is {} bytes, over the {}-byte limit",
            bytes.len(),
            limits.max_file_bytes
        )));
    }
    if bytes.len() < 132 {
        return Err(DicomError::NotDicom(format!(
            "{} bytes, too short for the 128-byte preamble and the DICM prefix",
            bytes.len()
        )));
    }
    if &bytes[128..132] != b"DICM" {
        return Err(DicomError::NotDicom("no DICM prefix at byte 128".into()));
    }
    // File meta group: explicit VR little endian, group 0002 only.
    let mut pos = 132usize;
    let mut ts: Option<String> = None;
    let mut meta_elements = 0usize;
    let file_len = bytes.len();
    while pos + 4 <= file_len {
        let group = u16::from_le_bytes([bytes[pos], bytes[pos + 1]]);
        if group != 0x0002 {
            break;
        }
        let element = u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]);
        if pos + 8 > file_len {
            return Err(DicomError::Truncated(format!(
                "file ends inside the header of file meta element {}",
                TagFmt(group, element)
            )));
        }
        let vr = [bytes[pos + 4], bytes[pos + 5]];
        let (len, header) = if long_form(vr) {
            if pos + 12 > file_len {
                return Err(DicomError::Truncated(format!(
                    "file ends inside the header of file meta element {}",
                    TagFmt(group, element)
                )));
            }
            (
                u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()),
                12,
            )
        } else {
            (
                u16::from_le_bytes([bytes[pos + 6], bytes[pos + 7]]) as u32,
                8,
            )
        };
        if len == UNDEFINED {
            return Err(DicomError::Malformed(format!(
                "file meta element {} has an undefined length",
                TagFmt(group, element)
            )));
        }
        let start = pos + header;
        check_fits(
            group,
            element,
            len,
            start,
            file_len,
            file_len,
            limits.max_file_bytes,
        )?;
        if element == 0x0010 {
            let raw = &bytes[start..start + len as usize];
            let s = String::from_utf8_lossy(raw);
            ts = Some(s.trim_end_matches(['\0', ' ']).trim().to_string());
        }
        meta_elements += 1;
        pos = start + len as usize;
    }
    if meta_elements == 0 {
        return Err(DicomError::NotDicom(
            "no file meta information group (0002,xxxx) after DICM".into(),
        ));
    }
    let ts_uid = ts.ok_or_else(|| {
        DicomError::Malformed("file meta group has no Transfer Syntax UID (0002,0010)".into())
    })?;
    let mut scanner = Scanner {
        limits,
        elements: meta_elements,
    };
    match ts_uid.as_str() {
        IMPLICIT_LE => scanner.dataset(bytes, pos, file_len, Enc::ImplicitLe, 0, Until::File)?,
        EXPLICIT_BE => scanner.dataset(bytes, pos, file_len, Enc::ExplicitBe, 0, Until::File)?,
        DEFLATED_LE => {
            let inflated = inflate_bounded(&bytes[pos..], limits.max_inflated_bytes)?;
            scanner.dataset(
                &inflated,
                0,
                inflated.len(),
                Enc::ExplicitLe,
                0,
                Until::File,
            )?
        }
        _ => scanner.dataset(bytes, pos, file_len, Enc::ExplicitLe, 0, Until::File)?,
    };
    Ok(Scan {
        ts_uid,
        elements: scanner.elements,
    })
}

/// Inflates a raw-deflate stream, refusing to grow past `cap` bytes.
pub(crate) fn inflate_bounded(data: &[u8], cap: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = flate2::read::DeflateDecoder::new(data).take(cap + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| DicomError::Malformed(format!("deflated data set does not inflate: {e}")))?;
    if out.len() as u64 > cap {
        return Err(DicomError::Limit(format!(
            "deflated data set inflates past the {cap}-byte limit"
        )));
    }
    Ok(out)
}

/// Refuses a length that does not fit. At the end of the file a plausible
/// length (no more than the largest file accepted) means the file was cut short
/// ("truncated"); anything larger, or an overrun of an enclosing item, is a
/// length that exceeds what holds it.
fn check_fits(
    group: u16,
    element: u16,
    len: u32,
    start: usize,
    end: usize,
    file_len: usize,
    max_file: u64,
) -> Result<()> {
    let avail = end.saturating_sub(start);
    if len as usize > avail {
        if end == file_len && (len as u64) < max_file {
            return Err(DicomError::Truncated(format!(
                "element {} declares {len} bytes but the file ends after {avail}",
                TagFmt(group, element)
            )));
        }
        let scope = if end == file_len {
            "the file"
        } else {
            "its enclosing item"
        };
        return Err(DicomError::LengthExceedsFile(format!(
            "element {} declares {len} bytes but only {avail} remain in {scope}",
            TagFmt(group, element)
        )));
    }
    Ok(())
}

struct Scanner<'l> {
    limits: &'l Limits,
    elements: usize,
}

enum ItemsKind {
    /// Items hold data sets (a sequence).
    Sequence(Enc),
    /// Items hold opaque bytes (encapsulated pixel data fragments).
    Fragments,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The whole file body: runs to the end (trailing zero padding tolerated).
    File,
    /// A defined-length item: runs exactly to its bound.
    Bound,
    /// An undefined-length item: runs to an item delimitation item (FFFE,E00D).
    Delimiter,
}

impl Scanner<'_> {
    /// Walks a data set in `buf[pos..end]` and returns the position after it.
    fn dataset(
        &mut self,
        buf: &[u8],
        mut pos: usize,
        end: usize,
        enc: Enc,
        depth: usize,
        until: Until,
    ) -> Result<usize> {
        if depth > self.limits.max_depth {
            return Err(DicomError::Malformed(format!(
                "sequences nested deeper than {} levels",
                self.limits.max_depth
            )));
        }
        let file_len = buf.len();
        loop {
            if pos >= end {
                if until == Until::Delimiter {
                    return Err(DicomError::Truncated(format!(
                        "file ends inside an undefined-length item (no item delimiter) at byte {pos}"
                    )));
                }
                return Ok(pos);
            }
            if pos + 8 > end {
                // A few trailing zero bytes at the very end of a file are tolerated
                // (dicom-rs and pydicom stop reading there); anywhere else it's a cut.
                if until == Until::File && buf[pos..end].iter().all(|&b| b == 0) {
                    return Ok(end);
                }
                return Err(DicomError::Truncated(format!(
                    "file ends inside an element header at byte {pos}"
                )));
            }
            let group = enc.u16(&buf[pos..]);
            let element = enc.u16(&buf[pos + 2..]);
            self.elements += 1;
            if group == 0xFFFE {
                if element == 0xE00D && until == Until::Delimiter {
                    return Ok(pos + 8);
                }
                return Err(DicomError::Malformed(format!(
                    "unexpected item tag {} in a data set at byte {pos}",
                    TagFmt(group, element)
                )));
            }
            let (vr, len, header): (Option<[u8; 2]>, u32, usize) = match enc {
                Enc::ImplicitLe => (None, enc.u32(&buf[pos + 4..]), 8),
                Enc::ExplicitLe | Enc::ExplicitBe => {
                    let vr = [buf[pos + 4], buf[pos + 5]];
                    if long_form(vr) {
                        if pos + 12 > end {
                            return Err(DicomError::Truncated(format!(
                                "file ends inside the header of element {}",
                                TagFmt(group, element)
                            )));
                        }
                        (Some(vr), enc.u32(&buf[pos + 8..]), 12)
                    } else {
                        (Some(vr), enc.u16(&buf[pos + 6..]) as u32, 8)
                    }
                }
            };
            let start = pos + header;
            let tag = Tag(group, element);
            let is_sq = match vr {
                Some(v) => &v == b"SQ",
                None => dictionary_is_sequence(tag),
            };
            if len == UNDEFINED {
                let is_un = vr.map(|v| &v == b"UN").unwrap_or(false);
                let kind = if is_sq {
                    ItemsKind::Sequence(enc)
                } else if is_un {
                    // An undefined-length UN is a sequence encoded in implicit VR LE.
                    ItemsKind::Sequence(Enc::ImplicitLe)
                } else if tag == Tag(0x7FE0, 0x0010)
                    || vr.map(|v| &v == b"OB" || &v == b"OW").unwrap_or(false)
                {
                    ItemsKind::Fragments
                } else if vr.is_none() {
                    // Implicit VR, not a dictionary sequence (e.g. private): items.
                    ItemsKind::Sequence(enc)
                } else {
                    return Err(DicomError::Malformed(format!(
                        "element {} has an undefined length but VR {}",
                        TagFmt(group, element),
                        String::from_utf8_lossy(&vr.unwrap_or(*b"??"))
                    )));
                };
                pos = self.items(buf, start, end, None, kind, depth + 1, tag)?;
            } else {
                check_fits(
                    group,
                    element,
                    len,
                    start,
                    end,
                    file_len,
                    self.limits.max_file_bytes,
                )?;
                let value_end = start + len as usize;
                if is_sq {
                    self.items(
                        buf,
                        start,
                        value_end,
                        Some(value_end),
                        ItemsKind::Sequence(enc),
                        depth + 1,
                        tag,
                    )?;
                }
                pos = value_end;
            }
        }
    }

    /// Walks the items of a sequence or of encapsulated pixel data starting at
    /// `pos`. `defined_end` is the end of a defined-length sequence; without it the
    /// items run until a sequence delimitation item, within `end`.
    #[allow(clippy::too_many_arguments)]
    fn items(
        &mut self,
        buf: &[u8],
        mut pos: usize,
        end: usize,
        defined_end: Option<usize>,
        kind: ItemsKind,
        depth: usize,
        parent: Tag,
    ) -> Result<usize> {
        if depth > self.limits.max_depth {
            return Err(DicomError::Malformed(format!(
                "sequences nested deeper than {} levels",
                self.limits.max_depth
            )));
        }
        let file_len = buf.len();
        let enc = match kind {
            ItemsKind::Sequence(e) => e,
            ItemsKind::Fragments => Enc::ExplicitLe,
        };
        loop {
            if let Some(e) = defined_end
                && pos == e
            {
                return Ok(pos);
            }
            if pos + 8 > end {
                return Err(DicomError::Truncated(format!(
                    "file ends inside the items of {} at byte {pos}",
                    TagFmt(parent.0, parent.1)
                )));
            }
            let group = enc.u16(&buf[pos..]);
            let element = enc.u16(&buf[pos + 2..]);
            let len = enc.u32(&buf[pos + 4..]);
            self.elements += 1;
            match (group, element) {
                (0xFFFE, 0xE0DD) => {
                    if defined_end.is_some() {
                        return Err(DicomError::Malformed(format!(
                            "sequence delimiter inside defined-length {}",
                            TagFmt(parent.0, parent.1)
                        )));
                    }
                    return Ok(pos + 8);
                }
                (0xFFFE, 0xE000) => {
                    let start = pos + 8;
                    match kind {
                        ItemsKind::Fragments => {
                            if len == UNDEFINED {
                                return Err(DicomError::Malformed(format!(
                                    "pixel data fragment with undefined length in {}",
                                    TagFmt(parent.0, parent.1)
                                )));
                            }
                            check_fits(
                                parent.0,
                                parent.1,
                                len,
                                start,
                                end,
                                file_len,
                                self.limits.max_file_bytes,
                            )?;
                            pos = start + len as usize;
                        }
                        ItemsKind::Sequence(e) => {
                            if len == UNDEFINED {
                                pos =
                                    self.dataset(buf, start, end, e, depth + 1, Until::Delimiter)?;
                            } else {
                                check_fits(
                                    parent.0,
                                    parent.1,
                                    len,
                                    start,
                                    end,
                                    file_len,
                                    self.limits.max_file_bytes,
                                )?;
                                let item_end = start + len as usize;
                                self.dataset(buf, start, item_end, e, depth + 1, Until::Bound)?;
                                pos = item_end;
                            }
                        }
                    }
                }
                _ => {
                    return Err(DicomError::Malformed(format!(
                        "expected an item (FFFE,E000) in {}, found {} at byte {pos}",
                        TagFmt(parent.0, parent.1),
                        TagFmt(group, element)
                    )));
                }
            }
        }
    }
}

/// Counts what `validate` saw, for tests.
#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ts: &str) -> Vec<u8> {
        let mut v = vec![0u8; 128];
        v.extend_from_slice(b"DICM");
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        v.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        v.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        v.extend_from_slice(&uid);
        v
    }

    #[test]
    fn crafted_length_is_refused() {
        let mut v = meta("1.2.840.10008.1.2.1");
        v.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
        v.extend_from_slice(&0xF000_0000u32.to_le_bytes());
        let e = validate(&v, &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "length_exceeds_file", "{e}");
    }

    #[test]
    fn nested_crafted_length_is_refused() {
        let mut v = meta("1.2.840.10008.1.2.1");
        // (0008,1140) SQ, undefined length, one item of defined length 20 holding an
        // element that declares 0xF0000000 bytes.
        v.extend_from_slice(&[
            0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        v.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 20, 0, 0, 0]);
        v.extend_from_slice(&[0x08, 0x00, 0x55, 0x11, b'U', b'N', 0, 0]);
        v.extend_from_slice(&0xF000_0000u32.to_le_bytes());
        v.extend_from_slice(&[0u8; 8]);
        v.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let e = validate(&v, &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "length_exceeds_file", "{e}");
    }
}
