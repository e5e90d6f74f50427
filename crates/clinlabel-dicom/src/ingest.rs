//! Ingesting an upload: every file parsed on its own; failures are reported by
//! name with the reason and the rest continues; the DICOM ones are grouped.

use std::io::Cursor;
use std::path::PathBuf;

use serde::Serialize;

use dicom_core::value::Value;
use dicom_dictionary_std::tags;

use crate::error::{DicomError, Result};
use crate::group::{Study, group};
use crate::object::{ImageMeta, image_meta, open_bytes, read_limited};
use crate::pixels::{Frame, SampleType, check_decodable, decode_frame};
use crate::safe::{Limits, looks_like_dicom};

/// What an accepted file is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ItemKind {
    Dicom {
        meta: Box<ImageMeta>,
    },
    /// A PNG or JPEG image: one single-frame item.
    Image {
        format: &'static str,
        width: u32,
        height: u32,
        channels: u8,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestedItem {
    pub name: String,
    #[serde(flatten)]
    pub kind: ItemKind,
}

/// A file that was not accepted, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub name: String,
    /// Stable code: not_dicom, truncated, length_exceeds_file, unsupported_transfer_syntax, …
    pub code: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub items: Vec<IngestedItem>,
    pub rejected: Vec<Rejected>,
    /// The accepted DICOM instances, grouped and ordered.
    pub studies: Vec<Study>,
}

/// Options for ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub limits: Limits,
    /// Also decode frame 0 of every DICOM file (catches corrupt codestreams at
    /// upload time, at the cost of one decode per file).
    pub decode_first_frame: bool,
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Examines one file's bytes.
pub fn ingest_bytes(name: &str, bytes: &[u8], opts: &IngestOptions) -> Result<IngestedItem> {
    if bytes.starts_with(PNG_MAGIC) {
        let f = decode_png(bytes, &opts.limits)?;
        return Ok(IngestedItem {
            name: name.into(),
            kind: ItemKind::Image {
                format: "png",
                width: f.columns,
                height: f.rows,
                channels: f.samples_per_pixel as u8,
            },
        });
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let f = decode_jpeg_image(bytes, &opts.limits)?;
        return Ok(IngestedItem {
            name: name.into(),
            kind: ItemKind::Image {
                format: "jpeg",
                width: f.columns,
                height: f.rows,
                channels: f.samples_per_pixel as u8,
            },
        });
    }
    if !looks_like_dicom(bytes) {
        return Err(DicomError::NotDicom(if bytes.len() < 132 {
            format!(
                "{} bytes: not a DICOM file (no DICM prefix), PNG or JPEG image",
                bytes.len()
            )
        } else {
            "no DICM prefix at byte 128, and not a PNG or JPEG image".into()
        }));
    }
    let file = open_bytes(bytes, &opts.limits)?;
    let meta = image_meta(&file);
    if !meta.has_pixel_data && meta.rows > 0 && meta.columns > 0 {
        return Err(DicomError::Truncated(
            "Rows and Columns are present but there is no Pixel Data (7FE0,0010): the file looks cut short".into(),
        ));
    }
    if meta.has_pixel_data {
        check_decodable(&file.transfer_syntax)?;
        let elem = file
            .obj
            .element(tags::PIXEL_DATA)
            .map_err(|e| DicomError::Malformed(e.to_string()))?;
        match elem.value() {
            Value::PixelSequence(seq) => {
                if seq.fragments().is_empty() {
                    return Err(DicomError::Truncated(
                        "encapsulated Pixel Data has no fragments".into(),
                    ));
                }
            }
            Value::Primitive(p) => {
                let have = p.calculate_byte_len() as u64;
                let px = meta.rows as u64
                    * meta.columns as u64
                    * meta.samples_per_pixel as u64
                    * meta.frames as u64;
                let need = if meta.bits_allocated == 1 {
                    px.div_ceil(8)
                } else if meta.photometric == "YBR_FULL_422" {
                    px * 2 / 3 * (meta.bits_allocated as u64 / 8)
                } else {
                    px * (meta.bits_allocated as u64).div_ceil(8)
                };
                if have < need {
                    return Err(DicomError::Truncated(format!(
                        "Pixel Data holds {have} bytes, {} frame(s) of {} × {} need {need}",
                        meta.frames, meta.rows, meta.columns
                    )));
                }
            }
            Value::Sequence(_) => {
                return Err(DicomError::Malformed("Pixel Data is a sequence".into()));
            }
        }
        if opts.decode_first_frame {
            decode_frame(&file, &meta, 0)?;
        }
    }
    Ok(IngestedItem {
        name: name.into(),
        kind: ItemKind::Dicom {
            meta: Box::new(meta),
        },
    })
}

/// Ingests an upload given as (name, bytes) pairs; each file's bytes are dropped
/// as soon as it is examined, so memory stays at one file plus the metadata.
pub fn ingest<I>(files: I, opts: &IngestOptions) -> IngestReport
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    let mut items = Vec::new();
    let mut rejected = Vec::new();
    for (name, bytes) in files {
        match ingest_bytes(&name, &bytes, opts) {
            Ok(item) => items.push(item),
            Err(e) => rejected.push(Rejected {
                name,
                code: e.code(),
                reason: e.to_string(),
            }),
        }
    }
    finish(items, rejected)
}

/// Ingests files by path (each read, examined and dropped in turn).
pub fn ingest_paths(paths: &[PathBuf], opts: &IngestOptions) -> IngestReport {
    let mut items = Vec::new();
    let mut rejected = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let r =
            read_limited(p, opts.limits.max_file_bytes).and_then(|b| ingest_bytes(&name, &b, opts));
        match r {
            Ok(item) => items.push(item),
            Err(e) => rejected.push(Rejected {
                name,
                code: e.code(),
                reason: e.to_string(),
            }),
        }
    }
    finish(items, rejected)
}

fn finish(items: Vec<IngestedItem>, rejected: Vec<Rejected>) -> IngestReport {
    let dicom: Vec<(String, ImageMeta)> = items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Dicom { meta } => Some((i.name.clone(), (**meta).clone())),
            _ => None,
        })
        .collect();
    let studies = group(&dicom);
    IngestReport {
        items,
        rejected,
        studies,
    }
}

/// Decodes a PNG into a [`Frame`] (8-bit grey/RGB, 16-bit grey; alpha dropped).
pub fn decode_png(bytes: &[u8], limits: &Limits) -> Result<Frame> {
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: limits.max_frame_bytes as usize,
        },
    );
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec
        .read_info()
        .map_err(|e| DicomError::Decode(format!("PNG: {e}")))?;
    let mut buf = vec![
        0u8;
        reader
            .output_buffer_size()
            .ok_or_else(|| DicomError::Limit("PNG too large".into()))?
    ];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| DicomError::Decode(format!("PNG: {e}")))?;
    buf.truncate(info.buffer_size());
    let (w, h) = (info.width, info.height);
    let sixteen = info.bit_depth == png::BitDepth::Sixteen;
    let channels = info.color_type.samples();
    let size = if sixteen { 2 } else { 1 };
    let keep = match channels {
        1 | 2 => 1,
        _ => 3,
    };
    let mut data = Vec::with_capacity(w as usize * h as usize * keep * size);
    for px in buf.chunks_exact(channels * size) {
        for c in 0..keep {
            let s = &px[c * size..(c + 1) * size];
            if sixteen {
                data.extend_from_slice(&[s[1], s[0]]); // PNG is big-endian
            } else {
                data.push(s[0]);
            }
        }
    }
    Ok(Frame {
        rows: h,
        columns: w,
        samples_per_pixel: keep as u16,
        sample_type: if sixteen {
            SampleType::Uint16
        } else {
            SampleType::Uint8
        },
        photometric: if keep == 3 {
            "RGB".into()
        } else {
            "MONOCHROME2".into()
        },
        data,
    })
}

/// Decodes a JPEG image file into a [`Frame`] (8-bit grey or RGB).
pub fn decode_jpeg_image(bytes: &[u8], limits: &Limits) -> Result<Frame> {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    dec.set_max_decoding_buffer_size(limits.max_frame_bytes as usize);
    let data = dec
        .decode()
        .map_err(|e| DicomError::Decode(format!("JPEG: {e}")))?;
    let info = dec
        .info()
        .ok_or_else(|| DicomError::Decode("JPEG: no frame header".into()))?;
    let (spp, st, data) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (1, SampleType::Uint8, data),
        jpeg_decoder::PixelFormat::RGB24 => (3, SampleType::Uint8, data),
        jpeg_decoder::PixelFormat::L16 => {
            let mut d = data;
            for c in d.chunks_exact_mut(2) {
                c.swap(0, 1);
            }
            (1, SampleType::Uint16, d)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            return Err(DicomError::Decode(
                "JPEG: CMYK images are not supported".into(),
            ));
        }
    };
    Ok(Frame {
        rows: info.height as u32,
        columns: info.width as u32,
        samples_per_pixel: spp,
        sample_type: st,
        photometric: if spp == 3 {
            "RGB".into()
        } else {
            "MONOCHROME2".into()
        },
        data,
    })
}
