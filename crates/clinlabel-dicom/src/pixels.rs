//! Frame decoding to one raw representation, window/level to 8 bits, PNG.

use std::borrow::Cow;

use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde::Serialize;

use crate::error::{DicomError, Result};
use crate::object::{DicomFile, ImageMeta, Window};

/// Type of one sample in a decoded [`Frame`], named like numpy dtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleType {
    Uint8,
    Int8,
    Uint16,
    Int16,
    Uint32,
    Int32,
}

impl SampleType {
    /// Bytes per sample.
    pub fn size(self) -> usize {
        match self {
            SampleType::Uint8 | SampleType::Int8 => 1,
            SampleType::Uint16 | SampleType::Int16 => 2,
            SampleType::Uint32 | SampleType::Int32 => 4,
        }
    }
    /// The numpy dtype name ("uint16", …).
    pub fn name(self) -> &'static str {
        match self {
            SampleType::Uint8 => "uint8",
            SampleType::Int8 => "int8",
            SampleType::Uint16 => "uint16",
            SampleType::Int16 => "int16",
            SampleType::Uint32 => "uint32",
            SampleType::Int32 => "int32",
        }
    }
    fn signed(self) -> bool {
        matches!(
            self,
            SampleType::Int8 | SampleType::Int16 | SampleType::Int32
        )
    }
}

/// One decoded frame: **stored values** (before rescale), little-endian, in
/// row-major order with samples interleaved (`R G B R G B …` for colour).
///
/// This is what pydicom's `pixel_array` returns for the frame (same dtype, same
/// values): signed data sign-extended from Bits Stored, 1-bit data unpacked to one
/// byte per pixel (0/1), planar configuration 1 interleaved, YBR_FULL /
/// YBR_FULL_422 converted to RGB. Rescale slope/intercept are *not* applied to
/// `data` (they are exact in the metadata and applied by [`Frame::modality_value`],
/// the window/level lookup table, or the viewer's LUT).
#[derive(Debug, Clone)]
pub struct Frame {
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    pub sample_type: SampleType,
    /// Photometric interpretation of `data` (MONOCHROME1/2, RGB, PALETTE COLOR, …).
    pub photometric: String,
    pub data: Vec<u8>,
}

impl Frame {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.len() / self.sample_type.size()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Sample `i` as i64.
    pub fn sample(&self, i: usize) -> i64 {
        let d = &self.data;
        match self.sample_type {
            SampleType::Uint8 => d[i] as i64,
            SampleType::Int8 => d[i] as i8 as i64,
            SampleType::Uint16 => u16::from_le_bytes([d[2 * i], d[2 * i + 1]]) as i64,
            SampleType::Int16 => i16::from_le_bytes([d[2 * i], d[2 * i + 1]]) as i64,
            SampleType::Uint32 => {
                u32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap()) as i64
            }
            SampleType::Int32 => i32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap()) as i64,
        }
    }
    /// Modality value of sample `i` (`stored × slope + intercept`).
    pub fn modality_value(&self, i: usize, slope: f64, intercept: f64) -> f64 {
        self.sample(i) as f64 * slope + intercept
    }
    /// All samples as modality values (f32), for callers that want rescaled data.
    pub fn to_modality_f32(&self, slope: f64, intercept: f64) -> Vec<f32> {
        (0..self.len())
            .map(|i| self.modality_value(i, slope, intercept) as f32)
            .collect()
    }
}

fn sample_type(bits_allocated: u16, pixel_representation: u16) -> Result<SampleType> {
    let signed = pixel_representation == 1;
    Ok(match (bits_allocated, signed) {
        (1, _) => SampleType::Uint8,
        (8, false) => SampleType::Uint8,
        (8, true) => SampleType::Int8,
        (16, false) => SampleType::Uint16,
        (16, true) => SampleType::Int16,
        (32, false) => SampleType::Uint32,
        (32, true) => SampleType::Int32,
        (b, _) => {
            return Err(DicomError::InvalidPixelData(format!(
                "Bits Allocated {b} is not 1, 8, 16 or 32"
            )));
        }
    })
}

/// Is the transfer syntax's pixel data decodable here? `Err` names why not.
pub fn check_decodable(ts_uid: &str) -> Result<()> {
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        DicomError::UnsupportedTransferSyntax {
            uid: ts_uid.to_string(),
            name: "unknown".into(),
            reason: "not a transfer syntax this reader knows".into(),
        }
    })?;
    match ts.codec() {
        Codec::EncapsulatedPixelData(None, _) => Err(DicomError::UnsupportedTransferSyntax {
            uid: ts_uid.to_string(),
            name: ts.name().to_string(),
            reason: "no pixel data decoder for it in this build".into(),
        }),
        Codec::Dataset(None) => Err(DicomError::UnsupportedTransferSyntax {
            uid: ts_uid.to_string(),
            name: ts.name().to_string(),
            reason: "data set codec not available".into(),
        }),
        _ => Ok(()),
    }
}

/// Decodes frame `n` (0-based) of a parsed file.
pub fn decode_frame(file: &DicomFile, meta: &ImageMeta, n: u32) -> Result<Frame> {
    if !meta.has_pixel_data {
        return Err(DicomError::Missing("Pixel Data (7FE0,0010)"));
    }
    if meta.rows == 0 || meta.columns == 0 {
        return Err(DicomError::InvalidPixelData(format!(
            "Rows {} × Columns {}",
            meta.rows, meta.columns
        )));
    }
    if n >= meta.frames {
        return Err(DicomError::InvalidPixelData(format!(
            "frame {n} requested, the object has {}",
            meta.frames
        )));
    }
    let spp = meta.samples_per_pixel;
    if spp != 1 && spp != 3 {
        return Err(DicomError::InvalidPixelData(format!(
            "Samples per Pixel {spp} is not 1 or 3"
        )));
    }
    let st = sample_type(meta.bits_allocated, meta.pixel_representation)?;
    if meta.bits_stored == 0 || meta.bits_stored > meta.bits_allocated {
        return Err(DicomError::InvalidPixelData(format!(
            "Bits Stored {} with Bits Allocated {}",
            meta.bits_stored, meta.bits_allocated
        )));
    }
    let pixels = meta.rows as u64 * meta.columns as u64;
    let out_bytes = pixels * spp as u64 * st.size() as u64;
    if out_bytes > file.limits.max_frame_bytes {
        return Err(DicomError::Limit(format!(
            "a frame of {} × {} × {spp} × {} bytes is over the {}-byte frame limit",
            meta.rows,
            meta.columns,
            st.size(),
            file.limits.max_frame_bytes
        )));
    }
    check_decodable(&file.transfer_syntax)?;
    let ts = TransferSyntaxRegistry
        .get(&file.transfer_syntax)
        .expect("checked");
    let photometric = meta.photometric.as_str();
    let mut data: Vec<u8>;
    let mut out_photometric = photometric.to_string();
    if let Codec::EncapsulatedPixelData(Some(decoder), _) = ts.codec() {
        let elem = file
            .obj
            .element(tags::PIXEL_DATA)
            .map_err(|e| DicomError::Malformed(e.to_string()))?;
        if elem.fragments().is_none() {
            return Err(DicomError::Malformed(format!(
                "transfer syntax {} is encapsulated but Pixel Data is not",
                ts.name()
            )));
        }
        check_codestream(file, meta, n)?;
        let expect_len = (pixels * spp as u64 * st.size() as u64) as usize;
        if file.transfer_syntax == RLE_LOSSLESS {
            let stream = frame_stream(file, meta, n)?;
            data = decode_rle(&stream, meta, st, n)?;
        } else if is_jpeg_family(&file.transfer_syntax) {
            let stream = frame_stream(file, meta, n)?;
            data = decode_jpeg(&stream, meta, expect_len)?;
        } else {
            data = Vec::new();
            decoder
                .decode_frame(&file.obj, n, &mut data)
                .map_err(|e| DicomError::Decode(format!("{}: {e}", ts.name())))?;
        }
        let expect = expect_len;
        if data.len() < expect {
            return Err(DicomError::Decode(format!(
                "{} produced {} bytes for a {expect}-byte frame",
                ts.name(),
                data.len()
            )));
        }
        data.truncate(expect);
        if cfg!(target_endian = "big") {
            swap_to_le(&mut data, st.size());
        }
        // JPEG (libjpeg-style) and JPEG 2000 (MCT) decoders already return RGB for
        // colour; RLE and the lossless JPEG-LS path keep the stored colour space.
        if spp == 3 {
            let converted_by_codec =
                is_jpeg_family(&file.transfer_syntax) || is_j2k(&file.transfer_syntax);
            if photometric == "YBR_FULL" && !converted_by_codec {
                ybr_full_to_rgb(&mut data);
            }
            if photometric.starts_with("YBR") || photometric == "RGB" {
                out_photometric = "RGB".into();
            }
        }
        if st.signed() || meta.bits_stored < meta.bits_allocated {
            fix_bits(&mut data, st, meta.bits_stored);
        }
    } else {
        data = native_frame(file, meta, n, st)?;
        if meta.bits_allocated != 1 {
            if spp == 3 && meta.planar_configuration == 1 && photometric != "YBR_FULL_422" {
                data = interleave(&data, pixels as usize, st.size());
            }
            if photometric == "YBR_FULL_422" && spp == 3 {
                data = expand_422(&data, meta.rows as usize, meta.columns as usize)?;
                ybr_full_to_rgb(&mut data);
                out_photometric = "RGB".into();
            } else if photometric == "YBR_FULL" && spp == 3 && st.size() == 1 {
                ybr_full_to_rgb(&mut data);
                out_photometric = "RGB".into();
            }
            if st.signed() {
                fix_bits(&mut data, st, meta.bits_stored);
            }
        }
    }
    Ok(Frame {
        rows: meta.rows,
        columns: meta.columns,
        samples_per_pixel: spp,
        sample_type: st,
        photometric: out_photometric,
        data,
    })
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// The encoded bytes of frame `n` of encapsulated pixel data: one fragment per
/// frame, all fragments for a single frame, or the fragments between two Basic
/// Offset Table entries (else between JPEG start-of-image markers).
fn frame_stream<'a>(file: &'a DicomFile, meta: &ImageMeta, n: u32) -> Result<Cow<'a, [u8]>> {
    let elem = file
        .obj
        .element(tags::PIXEL_DATA)
        .map_err(|e| DicomError::Malformed(e.to_string()))?;
    let Value::PixelSequence(seq) = elem.value() else {
        return Err(DicomError::Malformed(
            "Pixel Data is not encapsulated".into(),
        ));
    };
    let frags = seq.fragments();
    let n = n as usize;
    let frames = meta.frames as usize;
    if frags.is_empty() {
        return Err(DicomError::Truncated(
            "encapsulated Pixel Data has no fragments".into(),
        ));
    }
    if frags.len() == frames {
        return Ok(Cow::Borrowed(&frags[n][..]));
    }
    if frames == 1 {
        return Ok(Cow::Owned(
            frags.iter().flat_map(|f| f.iter().copied()).collect(),
        ));
    }
    let table = seq.offset_table();
    let mut starts: Vec<usize> = Vec::new();
    if table.len() == frames {
        // Offsets count item headers (8 bytes each) from the first fragment.
        let mut pos = 0u64;
        let mut positions = Vec::with_capacity(frags.len());
        for f in frags {
            positions.push(pos);
            pos += 8 + f.len() as u64;
        }
        for &off in table {
            match positions.iter().position(|&p| p == off as u64) {
                Some(i) => starts.push(i),
                None => {
                    return Err(DicomError::Malformed(format!(
                        "Basic Offset Table entry {off} is not a fragment start"
                    )));
                }
            }
        }
    } else {
        starts = frags
            .iter()
            .enumerate()
            .filter(|(_, f)| f.starts_with(&[0xFF, 0xD8]))
            .map(|(i, _)| i)
            .collect();
    }
    if starts.len() != frames {
        return Err(DicomError::Malformed(format!(
            "cannot tell the {frames} frames apart among {} fragments",
            frags.len()
        )));
    }
    let end = starts.get(n + 1).copied().unwrap_or(frags.len());
    Ok(Cow::Owned(
        frags[starts[n]..end]
            .iter()
            .flat_map(|f| f.iter().copied())
            .collect(),
    ))
}

/// JPEG baseline / extended through jpeg-decoder, choosing the colour transform
/// the way libjpeg does for DICOM: a JFIF or Adobe marker decides; otherwise
/// Photometric Interpretation RGB means "stored as RGB, no transform".
fn decode_jpeg(stream: &[u8], meta: &ImageMeta, expect: usize) -> Result<Vec<u8>> {
    if let Some((0xC0 | 0xC1, 12)) = jpeg_sof(stream) {
        // 12-bit DCT: jpeg-decoder stops at 8-bit precision.
        let max = meta.rows as usize * meta.columns as usize * meta.samples_per_pixel as usize;
        let (w, h, nc, data) = crate::jpeg12::decode(stream, max)?;
        if w != meta.columns || h != meta.rows || nc != meta.samples_per_pixel as usize {
            return Err(DicomError::Decode(format!(
                "JPEG: codestream is {w} × {h} × {nc}, the image {} × {} × {}",
                meta.columns, meta.rows, meta.samples_per_pixel
            )));
        }
        if meta.bits_allocated != 16 {
            return Err(DicomError::Decode(
                "JPEG: 12-bit samples need Bits Allocated 16".into(),
            ));
        }
        return Ok(data);
    }
    let mut dec = jpeg_decoder::Decoder::new(stream);
    dec.set_max_decoding_buffer_size(expect.max(1024) * 2);
    let has_marker = jpeg_has_app_marker(stream);
    if meta.samples_per_pixel == 3 && !has_marker && meta.photometric == "RGB" {
        // Identity transform. (`ColorTransform::None` would do as well in
        // principle, but jpeg-decoder 0.3 returns flattened colour planes with it:
        // pydicom/SC_jpeg_no_color_transform.dcm differed by up to 110.)
        dec.set_color_transform(jpeg_decoder::ColorTransform::RGB);
    }
    let mut out = dec
        .decode()
        .map_err(|e| DicomError::Decode(format!("JPEG: {e}")))?;
    let info = dec
        .info()
        .ok_or_else(|| DicomError::Decode("JPEG: no frame header".into()))?;
    if info.pixel_format == jpeg_decoder::PixelFormat::L16 {
        // jpeg-decoder returns 16-bit samples big-endian.
        for c in out.chunks_exact_mut(2) {
            c.swap(0, 1);
        }
    }
    if info.pixel_format == jpeg_decoder::PixelFormat::CMYK32 {
        return Err(DicomError::Decode(
            "JPEG: 4-component (CMYK) stream in a DICOM image".into(),
        ));
    }
    Ok(out)
}

/// The frame marker and sample precision of a JPEG codestream.
fn jpeg_sof(b: &[u8]) -> Option<(u8, u8)> {
    let mut i = 2;
    while i + 4 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let m = b[i + 1];
        if (0xC0..=0xCF).contains(&m) && m != 0xC4 && m != 0xC8 && m != 0xCC {
            return Some((m, b[i + 4]));
        }
        if m == 0xDA {
            return None;
        }
        i += 2 + u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
    }
    None
}

fn jpeg_has_app_marker(b: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return false;
        }
        let m = b[i + 1];
        if m == 0xE0 || m == 0xEE {
            return true;
        }
        if m == 0xDA || (0xC0..=0xCF).contains(&m) && m != 0xC4 && m != 0xCC && m != 0xC8 {
            return false;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

/// RLE Lossless (PS3.5 Annex G) for 8, 16 and 32 bits allocated and 1 or 3
/// samples: segments are sample planes, most significant byte first, each
/// PackBits-encoded; output is interleaved little-endian.
fn decode_rle(stream: &[u8], meta: &ImageMeta, st: SampleType, n: u32) -> Result<Vec<u8>> {
    if stream.len() < 64 {
        return Err(DicomError::Truncated(format!(
            "RLE frame {n} is {} bytes, shorter than its header",
            stream.len()
        )));
    }
    let word = |i: usize| u32::from_le_bytes(stream[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    let segments = word(0);
    let spp = meta.samples_per_pixel as usize;
    let bytes = st.size();
    if segments != spp * bytes {
        return Err(DicomError::Decode(format!(
            "RLE frame {n} has {segments} segments, {spp} samples × {bytes} bytes need {}",
            spp * bytes
        )));
    }
    let pixels = meta.rows as usize * meta.columns as usize;
    let mut out = vec![0u8; pixels * spp * bytes];
    for seg in 0..segments {
        let start = word(seg + 1);
        let end = if seg + 1 < segments {
            word(seg + 2)
        } else {
            stream.len()
        };
        if start < 64 || start > end || end > stream.len() {
            return Err(DicomError::Decode(format!(
                "RLE frame {n}: segment {seg} offsets {start}..{end} are invalid"
            )));
        }
        let sample = seg / bytes;
        let byte_in_sample = bytes - 1 - seg % bytes; // MSB first → LE position
        let src = &stream[start..end];
        let mut i = 0usize;
        let mut p = 0usize;
        while i < src.len() && p < pixels {
            let h = src[i] as i8;
            i += 1;
            if h >= 0 {
                let count = h as usize + 1;
                for k in 0..count {
                    if p >= pixels || i + k >= src.len() {
                        break;
                    }
                    out[(p * spp + sample) * bytes + byte_in_sample] = src[i + k];
                    p += 1;
                }
                i += count;
            } else if h != -128 {
                let count = (1 - h as isize) as usize;
                let Some(&v) = src.get(i) else { break };
                i += 1;
                for _ in 0..count {
                    if p >= pixels {
                        break;
                    }
                    out[(p * spp + sample) * bytes + byte_in_sample] = v;
                    p += 1;
                }
            }
        }
        if p < pixels {
            return Err(DicomError::Truncated(format!(
                "RLE frame {n}: segment {seg} decodes to {p} of {pixels} bytes"
            )));
        }
    }
    Ok(out)
}

fn is_jpeg_family(ts: &str) -> bool {
    matches!(ts, "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51")
}

fn is_j2k(ts: &str) -> bool {
    matches!(
        ts,
        "1.2.840.10008.1.2.4.90"
            | "1.2.840.10008.1.2.4.91"
            | "1.2.840.10008.1.2.4.201"
            | "1.2.840.10008.1.2.4.202"
            | "1.2.840.10008.1.2.4.203"
    )
}

fn swap_to_le(data: &mut [u8], size: usize) {
    if size > 1 {
        for c in data.chunks_exact_mut(size) {
            c.reverse();
        }
    }
}

/// Sign-extends (signed) or masks (unsigned) samples stored in fewer bits than allocated.
fn fix_bits(data: &mut [u8], st: SampleType, bits_stored: u16) {
    let bits = bits_stored as u32;
    match st {
        SampleType::Int16 if bits < 16 => {
            let shift = 16 - bits;
            for c in data.chunks_exact_mut(2) {
                let v = i16::from_le_bytes([c[0], c[1]]);
                let v = (v << shift) >> shift;
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        SampleType::Int8 if bits < 8 => {
            let shift = 8 - bits;
            for b in data.iter_mut() {
                *b = (((*b as i8) << shift) >> shift) as u8;
            }
        }
        SampleType::Int32 if bits < 32 => {
            let shift = 32 - bits;
            for c in data.chunks_exact_mut(4) {
                let v = i32::from_le_bytes(c[..4].try_into().unwrap());
                let v = (v << shift) >> shift;
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {}
    }
}

/// Raw little-endian bytes of frame `n` of native (uncompressed) pixel data.
fn native_frame(file: &DicomFile, meta: &ImageMeta, n: u32, st: SampleType) -> Result<Vec<u8>> {
    let elem = file
        .obj
        .element(tags::PIXEL_DATA)
        .map_err(|e| DicomError::Malformed(e.to_string()))?;
    let pixels = meta.rows as usize * meta.columns as usize;
    let spp = meta.samples_per_pixel as usize;
    let prim = match elem.value() {
        Value::Primitive(p) => p,
        Value::PixelSequence(_) => {
            return Err(DicomError::Malformed(format!(
                "Pixel Data is encapsulated under the native transfer syntax {}",
                file.transfer_syntax
            )));
        }
        Value::Sequence(_) => return Err(DicomError::Malformed("Pixel Data is a sequence".into())),
    };
    let swap_words = file.transfer_syntax == crate::safe::EXPLICIT_BE
        && meta.bits_allocated == 32
        && matches!(prim, PrimitiveValue::U16(_) | PrimitiveValue::I16(_));
    let total = primitive_byte_len(prim);
    if meta.bits_allocated == 1 {
        let bits_per_frame = pixels * spp;
        let first = bits_per_frame * n as usize;
        let last = first + bits_per_frame;
        if last.div_ceil(8) > total {
            return Err(DicomError::Truncated(format!(
                "Pixel Data holds {total} bytes, frame {n} of 1-bit data needs {}",
                last.div_ceil(8)
            )));
        }
        let byte0 = first / 8;
        let bytes = le_bytes_range(prim, byte0, last.div_ceil(8));
        return Ok((first..last)
            .map(|b| (bytes[b / 8 - byte0] >> (b % 8)) & 1)
            .collect());
    }
    let frame_bytes = if meta.photometric == "YBR_FULL_422" && spp == 3 {
        pixels * 2 * st.size()
    } else {
        pixels * spp * st.size()
    };
    let start = frame_bytes * n as usize;
    let end = start + frame_bytes;
    if end > total {
        return Err(DicomError::Truncated(format!(
            "Pixel Data holds {total} bytes, frame {n} needs bytes {start}..{end}"
        )));
    }
    let mut out = le_bytes_range(prim, start, end).into_owned();
    if swap_words {
        // Big-endian OW was read as 16-bit words: put each 32-bit value's high
        // word back above its low word.
        for c in out.chunks_exact_mut(4) {
            c.swap(0, 2);
            c.swap(1, 3);
        }
    }
    Ok(out)
}

fn primitive_byte_len(p: &PrimitiveValue) -> usize {
    match p {
        PrimitiveValue::U8(v) => v.len(),
        PrimitiveValue::U16(v) => v.len() * 2,
        PrimitiveValue::I16(v) => v.len() * 2,
        PrimitiveValue::U32(v) => v.len() * 4,
        PrimitiveValue::I32(v) => v.len() * 4,
        PrimitiveValue::F32(v) => v.len() * 4,
        PrimitiveValue::F64(v) => v.len() * 8,
        PrimitiveValue::U64(v) => v.len() * 8,
        PrimitiveValue::I64(v) => v.len() * 8,
        other => other.calculate_byte_len(),
    }
}

/// Bytes `start..end` of the value's little-endian byte image, converting only
/// the words that cover that range (a frame of a multi-frame object costs one
/// frame, not the whole Pixel Data).
fn le_bytes_range(p: &PrimitiveValue, start: usize, end: usize) -> Cow<'_, [u8]> {
    fn words<T: Copy, const N: usize>(
        v: &[T],
        start: usize,
        end: usize,
        to: impl Fn(T) -> [u8; N],
    ) -> Cow<'static, [u8]> {
        let (w0, w1) = (start / N, end.div_ceil(N).min(v.len()));
        let mut out: Vec<u8> = Vec::with_capacity((w1 - w0) * N);
        for &x in &v[w0..w1] {
            out.extend_from_slice(&to(x));
        }
        let skip = start - w0 * N;
        out.drain(..skip);
        out.truncate(end - start);
        Cow::Owned(out)
    }
    match p {
        PrimitiveValue::U8(v) => Cow::Borrowed(&v[start..end]),
        PrimitiveValue::U16(v) => words(v, start, end, u16::to_le_bytes),
        PrimitiveValue::I16(v) => words(v, start, end, i16::to_le_bytes),
        PrimitiveValue::U32(v) => words(v, start, end, u32::to_le_bytes),
        PrimitiveValue::I32(v) => words(v, start, end, i32::to_le_bytes),
        PrimitiveValue::F32(v) => words(v, start, end, f32::to_le_bytes),
        PrimitiveValue::F64(v) => words(v, start, end, f64::to_le_bytes),
        PrimitiveValue::U64(v) => words(v, start, end, u64::to_le_bytes),
        PrimitiveValue::I64(v) => words(v, start, end, i64::to_le_bytes),
        other => Cow::Owned(other.to_bytes()[start..end].to_vec()),
    }
}

fn interleave(planar: &[u8], pixels: usize, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; planar.len()];
    for p in 0..pixels {
        for s in 0..3 {
            let src = (s * pixels + p) * size;
            let dst = (p * 3 + s) * size;
            out[dst..dst + size].copy_from_slice(&planar[src..src + size]);
        }
    }
    out
}

fn expand_422(data: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>> {
    if !cols.is_multiple_of(2) {
        return Err(DicomError::InvalidPixelData(
            "YBR_FULL_422 with an odd number of columns".into(),
        ));
    }
    let mut out = Vec::with_capacity(rows * cols * 3);
    for c in data.chunks_exact(4) {
        let (y0, y1, cb, cr) = (c[0], c[1], c[2], c[3]);
        out.extend_from_slice(&[y0, cb, cr, y1, cb, cr]);
    }
    Ok(out)
}

/// YBR_FULL → RGB exactly as pydicom's `convert_color_space` does it.
fn ybr_full_to_rgb(data: &mut [u8]) {
    for px in data.chunks_exact_mut(3) {
        let y = px[0] as f64;
        let cb = px[1] as f64 - 128.0;
        let cr = px[2] as f64 - 128.0;
        let r = y + 1.402 * cr;
        let g = y + (-0.114 * 1.772 / 0.587) * cb + (-0.299 * 1.402 / 0.587) * cr;
        let b = y + 1.772 * cb;
        let f = |v: f64| (v + 0.5).floor().clamp(0.0, 255.0) as u8;
        px[0] = f(r);
        px[1] = f(g);
        px[2] = f(b);
    }
}

/// Checks that an encapsulated frame's codestream does not declare a larger image
/// than Rows × Columns (a decoder would otherwise allocate what the stream says).
fn check_codestream(file: &DicomFile, meta: &ImageMeta, n: u32) -> Result<()> {
    let Ok(elem) = file.obj.element(tags::PIXEL_DATA) else {
        return Ok(());
    };
    let Some(frags) = elem.fragments() else {
        return Ok(());
    };
    // With one fragment per frame the frame's first fragment is at index n;
    // otherwise check every fragment that starts a codestream.
    let candidates: Vec<&Vec<u8>> = if frags.len() == meta.frames as usize {
        frags.get(n as usize).into_iter().collect()
    } else {
        frags.iter().collect()
    };
    for f in candidates {
        if let Some((w, h)) = codestream_size(f)
            && (w as u64 * h as u64) > meta.rows as u64 * meta.columns as u64 * 4
        {
            return Err(DicomError::InvalidPixelData(format!(
                "codestream declares {w} × {h} pixels for a {} × {} image",
                meta.columns, meta.rows
            )));
        }
    }
    Ok(())
}

/// Width and height declared by a JPEG / JPEG-LS SOF or a JPEG 2000 SIZ marker.
fn codestream_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() >= 4 && b[0] == 0xFF && b[1] == 0xD8 {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xFF {
                i += 1;
                continue;
            }
            let m = b[i + 1];
            if matches!(m, 0xC0..=0xCF | 0xF7) && m != 0xC4 && m != 0xC8 && m != 0xCC {
                let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
                let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
                return Some((w, h));
            }
            if m == 0xD8 || m == 0x01 || (0xD0..=0xD7).contains(&m) || m == 0xFF {
                i += if m == 0xFF { 1 } else { 2 };
                continue;
            }
            let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
            i += 2 + len;
        }
        return None;
    }
    // JPEG 2000 codestream (SOC + SIZ) possibly inside a JP2 box wrapper.
    let pos = b
        .windows(4)
        .take(4096)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    let s = &b[pos + 4..];
    if s.len() < 18 {
        return None;
    }
    let xsiz = u32::from_be_bytes(s[4..8].try_into().ok()?);
    let ysiz = u32::from_be_bytes(s[8..12].try_into().ok()?);
    let xo = u32::from_be_bytes(s[12..16].try_into().ok()?);
    let yo = u32::from_be_bytes(s[16..20.min(s.len())].try_into().ok()?);
    Some((xsiz.saturating_sub(xo), ysiz.saturating_sub(yo)))
}

/// A window/level lookup from stored value to 8-bit display value.
///
/// Linear VOI function of PS3.3 C.11.2.1.2, applied to the modality value
/// `stored × slope + intercept`; MONOCHROME1 is inverted.
pub struct WindowLut {
    offset: i64,
    table: Vec<u8>,
}

fn window_value(x: f64, w: Window) -> u8 {
    let c = w.center - 0.5;
    let ww = (w.width - 1.0).max(0.0);
    if x <= c - ww / 2.0 {
        0
    } else if x > c + ww / 2.0 || ww == 0.0 {
        255
    } else {
        (((x - c) / ww + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8
    }
}

/// `window_value(v × slope + intercept)` for every v in `lo..=hi`. The
/// function is monotone in v (every step of it is), so the runs of 0 and 255
/// at either end are found by bisection and filled, and only the values in
/// between — about the window's width — are computed: for a CT window of 400
/// over int16 that is ~400 evaluations instead of 65,536, with the same result.
fn window_table(lo: i64, hi: i64, slope: f64, intercept: f64, window: Window) -> Vec<u8> {
    let f = |v: i64| window_value(v as f64 * slope + intercept, window);
    let (first, last) = (f(lo), f(hi));
    // Smallest v with f(v) != first (prefix of `first`), largest with f(v) != last.
    let (mut a, mut b) = (lo, hi + 1);
    while a < b {
        let m = a + (b - a) / 2;
        if f(m) == first { a = m + 1 } else { b = m }
    }
    let (mut c, mut d) = (lo - 1, hi);
    while c < d {
        let m = d - (d - c) / 2;
        if f(m) == last { d = m - 1 } else { c = m }
    }
    let mut table = vec![first; (hi - lo + 1) as usize];
    if a <= hi {
        for v in a..=c.max(a - 1) {
            table[(v - lo) as usize] = f(v);
        }
        table[((c + 1).max(a) - lo) as usize..].fill(last);
    }
    table
}

impl WindowLut {
    /// Builds the table over every value the sample type can hold (8/16-bit), or
    /// over the frame's actual range for 32-bit samples.
    pub fn new(frame: &Frame, slope: f64, intercept: f64, window: Window) -> WindowLut {
        let (lo, hi): (i64, i64) = match frame.sample_type {
            SampleType::Uint8 => (0, 255),
            SampleType::Int8 => (-128, 127),
            SampleType::Uint16 => (0, 65535),
            SampleType::Int16 => (-32768, 32767),
            SampleType::Uint32 | SampleType::Int32 => {
                let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                for i in 0..frame.len() {
                    let v = frame.sample(i);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                if lo > hi { (0, 0) } else { (lo, hi) }
            }
        };
        let invert = frame.photometric == "MONOCHROME1";
        let mut table = window_table(lo, hi, slope, intercept, window);
        if invert {
            table.iter_mut().for_each(|d| *d = 255 - *d);
        }
        WindowLut { offset: lo, table }
    }

    /// Applies the table to a single-sample frame.
    pub fn apply(&self, frame: &Frame) -> Vec<u8> {
        let d = &frame.data;
        match frame.sample_type {
            SampleType::Uint8 => d.iter().map(|&v| self.table[v as usize]).collect(),
            SampleType::Int8 => d
                .iter()
                .map(|&v| self.table[(v as i8 as i64 - self.offset) as usize])
                .collect(),
            SampleType::Uint16 => d
                .chunks_exact(2)
                .map(|c| self.table[u16::from_le_bytes([c[0], c[1]]) as usize])
                .collect(),
            SampleType::Int16 => d
                .chunks_exact(2)
                .map(|c| self.table[(i16::from_le_bytes([c[0], c[1]]) as i64 + 32768) as usize])
                .collect(),
            _ => (0..frame.len())
                .map(|i| self.table[(frame.sample(i) - self.offset) as usize])
                .collect(),
        }
    }
}

/// A window spanning the frame's modality-value range (when the file has none).
pub fn full_range_window(frame: &Frame, slope: f64, intercept: f64) -> Window {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..frame.len() {
        let v = frame.modality_value(i, slope, intercept);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return Window {
            center: 0.0,
            width: 1.0,
        };
    }
    Window {
        center: (lo + hi) / 2.0 + 0.5,
        width: (hi - lo + 1.0).max(1.0),
    }
}

/// 8-bit display pixels of a frame: grey (1 byte per pixel) through the window,
/// or RGB (3 bytes per pixel; 16-bit colour scaled down) for colour frames.
pub fn to_display_8bit(
    frame: &Frame,
    slope: f64,
    intercept: f64,
    window: Option<Window>,
) -> (Vec<u8>, bool) {
    if frame.samples_per_pixel == 3 {
        let rgb = match frame.sample_type {
            SampleType::Uint8 | SampleType::Int8 => frame.data.clone(),
            _ => {
                let mut max = 1i64;
                for i in 0..frame.len() {
                    max = max.max(frame.sample(i));
                }
                (0..frame.len())
                    .map(|i| ((frame.sample(i).max(0) * 255) / max) as u8)
                    .collect()
            }
        };
        return (rgb, true);
    }
    let w = window.unwrap_or_else(|| full_range_window(frame, slope, intercept));
    (
        WindowLut::new(frame, slope, intercept, w).apply(frame),
        false,
    )
}

/// Encodes 8-bit grey or RGB pixels as PNG.
pub fn encode_png(width: u32, height: u32, pixels: &[u8], rgb: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(if rgb {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| DicomError::Write(format!("png: {e}")))?;
        w.write_image_data(pixels)
            .map_err(|e| DicomError::Write(format!("png: {e}")))?;
    }
    Ok(out)
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn the_bisected_window_table_equals_evaluating_every_value() {
        let windows = [(40.0, 400.0), (40.0, 100.0), (-600.0, 1500.0), (0.0, 1.0), (0.5, 2.0), (1e6, 10.0), (-1e6, 10.0), (300.0, 1.0), (127.5, 256.0)];
        let transforms = [(1.0, -1024.0), (1.0, 0.0), (0.5, 3.25), (-1.0, 0.0), (-2.5, 100.0), (0.0, 50.0), (1e-3, 0.0), (7.0, -9.0)];
        let ranges = [(0i64, 255i64), (-128, 127), (0, 65535), (-32768, 32767), (5, 5), (-7, 3000)];
        for &(center, width) in &windows {
            for &(slope, intercept) in &transforms {
                for &(lo, hi) in &ranges {
                    let w = Window { center, width };
                    let want: Vec<u8> = (lo..=hi).map(|v| window_value(v as f64 * slope + intercept, w)).collect();
                    assert!(window_table(lo, hi, slope, intercept, w) == want, "window {center}/{width}, slope {slope}, intercept {intercept}, range {lo}..={hi}");
                }
            }
        }
    }
}
