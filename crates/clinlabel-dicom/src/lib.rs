//! # clinlabel-dicom: DICOM ingest, frames and de-identification (issue 8)
//!
//! The DICOM part of clinlabel that has no web UI: parse every upload safely,
//! group instances into studies and series, decode frames of every common
//! transfer syntax to one raw representation, window/level them to 8 bits and
//! PNG, and de-identify per DICOM PS3.15 Annex E. No IO beyond reading the bytes
//! or paths given (and writing the one output file of [`deidentify_file`]); the
//! blob store, the database and the CLI wiring belong to the callers.
//!
//! ## Layers
//!
//! | module | what it does |
//! |---|---|
//! | [`safe`] | structural pre-scan of the raw bytes before any parser sees them (the memory defence, below) and [`Limits`] |
//! | [`object`] | [`open_bytes`] / [`open_path`]: pre-scan, then dicom-rs parses from memory; [`ImageMeta`]: UIDs, modality, geometry, pixel attributes, rescale, window presets, enhanced per-frame functional groups |
//! | [`group`] | studies → series, slices ordered along the slice normal (Image Position · (row × column)), falling back to Instance Number; [`group::frame_order`] for enhanced multi-frame |
//! | [`pixels`] | [`decode_frame`] → [`Frame`]; window/level lookup table; PNG |
//! | [`ingest`] | an upload file by file: DICOM, PNG or JPEG accepted, the rest rejected by name with a code and reason, the upload continues |
//! | [`deid`] | PS3.15 Basic Application Level Confidentiality Profile, UID remapping, date options, burned-in flag, per-file report |
//! | [`bench`] | `clinlabel bench dicom`: decode + window/level of one frame, p50 / p99, beside pydicom + numpy in the same run |
//!
//! ## The memory hazard and the defence
//!
//! dicom-rs 0.10 allocates an element's declared length before reading it: a
//! 364-byte file declaring a 0xF0000000-byte element drove `from_reader` to
//! 3.9 GB (FINDINGS.md), and fuzzing found more. [`open_bytes`] therefore never
//! hands dicom-rs bytes it has not walked itself: [`safe`] reads the file meta
//! group and the whole data set — in the file's own encoding (implicit / explicit
//! VR, little / big endian; a deflated body is first inflated under
//! [`Limits::max_inflated_bytes`]) — descending into every sequence, item and
//! encapsulated fragment (nesting capped at [`Limits::max_depth`]), and refuses
//! any length that does not fit in the bytes that enclose it. Only then does
//! dicom-rs parse, from the same in-memory bytes, so none of its allocations can
//! exceed the file (whole files are capped by [`Limits::max_file_bytes`]).
//! Decoding is bounded too: a frame's size (rows × columns × samples × bytes) is
//! checked against [`Limits::max_frame_bytes`], the JPEG / JPEG-LS / JPEG 2000
//! codestream header must not declare more pixels than Rows × Columns, frames are
//! decoded one at a time, and the RLE decoder writes into a buffer of exactly the
//! frame's size. `tests/hostile.rs` checks all of this with a counting allocator:
//! the crafted file, its nested variants and thousands of mutated real files
//! never allocate more than a small multiple of their size.
//!
//! ## Errors
//!
//! [`DicomError`] names the problem, with a stable [`DicomError::code`]:
//! `not_dicom`, `truncated`, `length_exceeds_file`, `malformed`,
//! `unsupported_transfer_syntax` (with the UID and name), `invalid_pixel_data`,
//! `decode_failed`, `limit_exceeded`, …
//!
//! ## Pixel representation
//!
//! A [`Frame`] holds the **stored values** of one frame, little-endian,
//! row-major, samples interleaved (`RGBRGB…`), with [`SampleType`] named like
//! numpy dtypes (`uint8`, `int8`, `uint16`, `int16`, `uint32`, `int32`). It is
//! exactly pydicom's `pixel_array` for that frame: signed values sign-extended
//! from Bits Stored (12-bit data in 16 bits), 1-bit data (SEG) unpacked to one
//! byte per pixel (0/1), Planar Configuration 1 interleaved, YBR_FULL and
//! YBR_FULL_422 converted to RGB (JPEG and JPEG 2000 codecs already return RGB).
//! Rescale Slope / Intercept are **not** applied to the samples — they are exact
//! in [`FrameInfo`] and [`FrameMeta`] and the viewer applies them in its lookup
//! table, as [`pixels::WindowLut`] does; [`Frame::to_modality_f32`] gives
//! rescaled values for callers that want them. The raw bytes are what the frame
//! service sends (`raw_le` of [`RenderedFrame`]); its metadata says how to read
//! them.
//!
//! Window/level ([`pixels::WindowLut`]) is the linear VOI function of PS3.3
//! C.11.2.1.2 on the modality value, through a table over every stored value
//! (65,536 entries for 16-bit data), MONOCHROME1 inverted.
//!
//! Decoders: native and deflated (dicom-rs, with our own frame slicing, bit
//! unpacking, sign extension and colour handling), RLE (ours: 8/16/32-bit, 1 or 3
//! samples), JPEG baseline / extended 8-bit (jpeg-decoder, colour transform chosen
//! like libjpeg), JPEG extended 12-bit (ours, `jpeg12`: jpeg-decoder stops at
//! 8 bits), JPEG lossless (jpeg-decoder via dicom-rs), JPEG-LS (CharLS, C++, built
//! with cmake), JPEG 2000 (openjp2, the pure-Rust OpenJPEG port). Measured against
//! pydicom on its own test files in `tests/reference.rs` (every file pydicom
//! decodes; lossless exact, lossy within 8); its `KNOWN_GAPS` list is empty.
//!
//! ## De-identification
//!
//! [`deid`] applies DICOM PS3.15 Annex E, **Table E.1-1** (the Basic Application
//! Level Confidentiality Profile), embedded as data in `src/deid/annex_e.tsv`:
//! one row per attribute with its Basic Profile action code (D dummy, Z empty,
//! X remove, K keep, C clean, U replace UID; compound codes X/Z, X/D, Z/D,
//! X/Z/D, X/Z/U*) and whether it is a date/time governed by the Retain
//! Longitudinal Temporal Information options. Where the table offers a choice the
//! conformance-preserving action is taken (X/Z → Z, X/D, Z/D, X/Z/D → D,
//! X/Z/U* → keep the sequence and replace the UIDs inside), so the output is
//! still a valid instance of its IOD. The profile is applied at every sequence
//! depth. In addition:
//!
//! - every private element (odd group) is removed, at any depth;
//! - UIDs (action U, and any other UI value outside the `1.2.840.10008.` root
//!   except class/coding UIDs) are replaced by [`deid::UidMapper`]:
//!   `2.25.` + the first 128 bits of HMAC-SHA256(project secret, UID) as a
//!   decimal — the same UID in the same project always maps to the same new UID
//!   (series stay series, references stay valid), another project gets another;
//! - dates per [`deid::DateOption`]: `Remove` (the basic profile), `Shift { days }`
//!   (Modified Dates option: DA and the date part of DT shifted by the project's
//!   offset, times kept), or `Keep` (Full Dates option);
//! - Patient Identity Removed = YES, De-identification Method (+ code sequence
//!   113100 and 113106/113107 per option) and Longitudinal Temporal Information
//!   Modified are written; the file meta's Media Storage SOP Instance UID follows
//!   the new SOP Instance UID, and its AE titles and private information go;
//! - [`deid::DeidReport`]: every profile attribute found, with its rule and the
//!   action taken, counts per action, private elements removed, UIDs replaced,
//!   and a burned-in flag for the PM when Burned In Annotation is YES or the
//!   modality (US, SC, XC, ES, GM, OT, DOC) commonly carries burned-in text.
//!
//! Pixel data is not altered: text burned into pixels needs a person (the flag).
//!
//! ## Entry points for the CLI
//!
//! - `clinlabel dicom deidentify IN OUT` → [`deidentify_file`]
//! - `clinlabel dicom render FILE --frame N [--window C,W]` → [`render_frame`]
//!   (raw little-endian frame + 8-bit PNG + [`FrameMeta`])
//! - ingest of an upload → [`ingest::ingest`] / [`ingest::ingest_paths`], then
//!   [`deidentify_bytes`] per accepted DICOM file (what taskers may receive)
//! - the frame service → [`frame_raw`] (raw little-endian frame + [`FrameMeta`])

pub mod bench;
pub mod deid;
pub mod error;
pub mod group;
pub mod ingest;
mod jpeg12;
pub mod object;
pub mod pixels;
pub mod safe;
pub mod synth;

use std::path::Path;

use serde::Serialize;

pub use deid::{DateOption, DeidOptions, DeidReport, deidentify_bytes, deidentify_file};
pub use error::{DicomError, Result};
pub use object::{DicomFile, FrameInfo, ImageMeta, Window, image_meta, open_bytes, open_path};
pub use pixels::{Frame, SampleType, decode_frame, encode_png};
pub use safe::Limits;

/// What the viewer needs to read a frame's raw bytes and display it.
#[derive(Debug, Clone, Serialize)]
pub struct FrameMeta {
    /// 0-based frame index, and how many the object has.
    pub frame: u32,
    pub frames: u32,
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    /// numpy-style dtype of `raw_le` ("uint16", "int16", "uint8", …).
    pub dtype: &'static str,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    /// Photometric interpretation of the decoded samples (YBR becomes RGB).
    pub photometric: String,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    /// Window presets from the file (per-frame ones first for enhanced objects).
    pub windows: Vec<Window>,
    /// The window used for the PNG (None for colour).
    pub window_used: Option<Window>,
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
    pub image_position: Option<[f64; 3]>,
    pub image_orientation: Option<[f64; 6]>,
    pub transfer_syntax: String,
    pub modality: Option<String>,
}

/// A decoded frame: raw little-endian samples, an 8-bit PNG, and metadata.
#[derive(Debug, Clone)]
pub struct RenderedFrame {
    /// [`Frame::data`]: stored values, little-endian, interleaved.
    pub raw_le: Vec<u8>,
    /// 8-bit PNG (grey through the window, or RGB).
    pub png: Vec<u8>,
    pub meta: FrameMeta,
}

/// `clinlabel dicom render FILE --frame N`: decodes frame `frame` (0-based) and
/// renders it at `window` = (center, width), else the frame's first preset, else
/// its full range. PNG and JPEG images are accepted as single-frame items.
pub fn render_frame(
    input: &Path,
    frame: usize,
    window: Option<(f64, f64)>,
) -> Result<RenderedFrame> {
    let limits = Limits::default();
    let bytes = object::read_limited(input, limits.max_file_bytes)?;
    render_frame_bytes(&bytes, frame, window, &limits)
}

/// [`render_frame`] on bytes already in memory.
pub fn render_frame_bytes(
    bytes: &[u8],
    frame: usize,
    window: Option<(f64, f64)>,
    limits: &Limits,
) -> Result<RenderedFrame> {
    let requested = window.map(|(center, width)| Window {
        center,
        width: width.max(1.0),
    });
    let (f, mut meta) = frame_raw(bytes, frame, limits)?;
    let w = requested.or_else(|| meta.windows.first().copied());
    let (px, rgb) = pixels::to_display_8bit(&f, meta.rescale_slope, meta.rescale_intercept, w);
    meta.window_used = if rgb {
        None
    } else {
        Some(w.unwrap_or_else(|| {
            pixels::full_range_window(&f, meta.rescale_slope, meta.rescale_intercept)
        }))
    };
    let png = encode_png(f.columns, f.rows, &px, rgb)?;
    Ok(RenderedFrame {
        raw_le: f.data,
        png,
        meta,
    })
}

/// The frame service's path: decodes frame `frame` of a DICOM file (or the one
/// frame of a PNG / JPEG image) held in memory, without rendering. The
/// [`FrameMeta`] says how to read [`Frame::data`]; `window_used` is `None`.
pub fn frame_raw(bytes: &[u8], frame: usize, limits: &Limits) -> Result<(Frame, FrameMeta)> {
    let plain = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ingest::decode_png(bytes, limits)?)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ingest::decode_jpeg_image(bytes, limits)?)
    } else {
        None
    };
    if let Some(f) = plain {
        if frame != 0 {
            return Err(DicomError::InvalidPixelData(format!(
                "frame {frame} requested, a PNG/JPEG image has 1"
            )));
        }
        let meta = FrameMeta {
            frame: 0,
            frames: 1,
            rows: f.rows,
            columns: f.columns,
            samples_per_pixel: f.samples_per_pixel,
            dtype: f.sample_type.name(),
            bits_allocated: (f.sample_type.size() * 8) as u16,
            bits_stored: (f.sample_type.size() * 8) as u16,
            pixel_representation: 0,
            photometric: f.photometric.clone(),
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            windows: Vec::new(),
            window_used: None,
            pixel_spacing: None,
            slice_thickness: None,
            image_position: None,
            image_orientation: None,
            transfer_syntax: String::new(),
            modality: None,
        };
        return Ok((f, meta));
    }
    let file = open_bytes(bytes, limits)?;
    let meta = image_meta(&file);
    let n =
        u32::try_from(frame).map_err(|_| DicomError::InvalidPixelData(format!("frame {frame}")))?;
    let f = decode_frame(&file, &meta, n)?;
    let info = meta.frame_info(frame);
    let fm = FrameMeta {
        frame: n,
        frames: meta.frames,
        rows: f.rows,
        columns: f.columns,
        samples_per_pixel: f.samples_per_pixel,
        dtype: f.sample_type.name(),
        bits_allocated: meta.bits_allocated,
        bits_stored: meta.bits_stored,
        pixel_representation: meta.pixel_representation,
        photometric: f.photometric.clone(),
        rescale_slope: info.rescale_slope,
        rescale_intercept: info.rescale_intercept,
        windows: info.windows.clone(),
        window_used: None,
        pixel_spacing: info.pixel_spacing,
        slice_thickness: info.slice_thickness,
        image_position: info.image_position,
        image_orientation: info.image_orientation,
        transfer_syntax: meta.transfer_syntax.clone(),
        modality: meta.modality.clone(),
    };
    Ok((f, fm))
}
