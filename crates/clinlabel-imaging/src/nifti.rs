//! NIfTI-1 label volumes (`.nii`, or `.nii.gz` through [`flate2`]).
//!
//! The voxel grid is the series itself: i = pixel column, j = pixel row,
//! k = frame in viewing order (i fastest, as the frames are stored), so no
//! pixel is resampled. The series must be a regular stack ([`SourceSeries::volume`]:
//! one orientation, one pixel spacing, evenly spaced positions); anything
//! else is refused with the reason rather than written with a wrong affine.
//!
//! **Affine.** DICOM patient coordinates are LPS (x to the patient's left,
//! y posterior, z superior); NIfTI's world is RAS. Voxel (i, j, k) is at
//! `IPP₀ + i·Δcol·row_dir + j·Δrow·col_dir + k·step` in LPS ([`crate::series::Volume`]),
//! and the NIfTI affine is that matrix with its first two rows negated. It is
//! written exactly as the sform (code 1, scanner anatomical), and as the
//! qform (code 1) by the standard quaternion decomposition with `qfac` = −1
//! when the axes are left-handed; qform and sform agree for any stack whose
//! slices are perpendicular to their planes (gantry tilt makes the qform an
//! approximation, which is why the sform is the one to read).
//!
//! **Values.** `uint8` (or `uint16` for more than 255 labels), intent
//! NIFTI_INTENT_LABEL; 0 is background. [`NiftiContent::Semantic`]: each
//! voxel holds the [`SegmentLabel`] number of its label (the same numbers as
//! the SEG's segments; where labels overlap the later label in schema order
//! wins). [`NiftiContent::Instances`]: each (label, instance) — every outline
//! shape, every label-map instance id — gets its own value; the returned
//! table maps values back. Frames are produced one at a time, so memory is
//! one frame whatever the volume's size.

use std::collections::BTreeMap;
use std::io::Write;

use clinlabel_domain::imaging::ImageAnnotation;
use clinlabel_domain::project::LabelSchema;
use serde::Serialize;

use crate::raster::{Rasteriser, SegmentLabel, fill_polygon, or_runs, outline, segment_labels};
use crate::series::{SourceSeries, Volume, cross, dot, norm};
use crate::{ExportError, Result};

/// Which label volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NiftiContent {
    Semantic,
    Instances,
}

/// One voxel value of the volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoxelLabel {
    pub value: u32,
    pub label: String,
    pub name: String,
    /// For instance volumes: the shape id, or `mask:<instance>` for a
    /// label-map instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// What was written: the grid and the value table (the sidecar a consumer
/// needs to read the values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NiftiSummary {
    pub dims: [u32; 3],
    /// Voxel → RAS (mm), as written in the sform.
    pub affine_ras: [[f64; 4]; 4],
    pub datatype: &'static str,
    pub labels: Vec<VoxelLabel>,
    /// SOP Instance UID and frame number of each k.
    pub slices: Vec<(Option<String>, u32)>,
    pub bytes: u64,
}

/// Writes the label volume of `ann` on `series` as NIfTI-1 (single file,
/// `n+1`) to `out`; gzip it by passing a `flate2::write::GzEncoder`.
pub fn write_nifti(series: &SourceSeries, schema: &LabelSchema, ann: &ImageAnnotation, content: NiftiContent, out: &mut impl Write) -> Result<NiftiSummary> {
    let vol = series.volume()?;
    let labels = segment_labels(schema);
    let raster = Rasteriser::new(series.rows, series.columns, series.frame_count(), ann)?;
    for l in raster.labels() {
        if !labels.iter().any(|s| s.id == l) {
            return Err(ExportError::Annotation(format!("label {l:?} is not a polygon, freehand, spline or brush label of the schema")));
        }
    }
    let table = match content {
        NiftiContent::Semantic => labels.iter().map(|l| VoxelLabel { value: l.number as u32, label: l.id.clone(), name: l.name.clone(), instance: None }).collect(),
        NiftiContent::Instances => instance_table(&labels, ann),
    };
    let max = table.iter().map(|v| v.value).max().unwrap_or(0);
    let wide = max > 255;
    if max > 65535 {
        return Err(ExportError::Annotation(format!("{max} instances: more than a uint16 label volume holds")));
    }
    let affine = vol.affine_ras();
    let header = header(&vol, &affine, wide, max);
    let mut counter = 0u64;
    let mut w = |b: &[u8], counter: &mut u64| -> Result<()> {
        out.write_all(b).map_err(|e| ExportError::Write(e.to_string()))?;
        *counter += b.len() as u64;
        Ok(())
    };
    w(&header, &mut counter)?;
    let n = raster.frame_len();
    let mut slice = vec![0u16; n];
    let mut mask = vec![0u8; n];
    let mut bytes = Vec::with_capacity(n * 2);
    for k in 0..series.frame_count() {
        slice.fill(0);
        match content {
            NiftiContent::Semantic => {
                for l in &labels {
                    if raster.label_mask(k, &l.id, &mut mask) {
                        for (v, &m) in slice.iter_mut().zip(&mask) {
                            if m == 1 {
                                *v = l.number;
                            }
                        }
                    }
                }
            }
            NiftiContent::Instances => paint_instances(series, ann, &table, k, &mut mask, &mut slice),
        }
        bytes.clear();
        if wide {
            slice.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        } else {
            bytes.extend(slice.iter().map(|&v| v as u8));
        }
        w(&bytes, &mut counter)?;
    }
    out.flush().map_err(|e| ExportError::Write(e.to_string()))?;
    Ok(NiftiSummary {
        dims: vol.dims,
        affine_ras: affine,
        datatype: if wide { "uint16" } else { "uint8" },
        labels: table,
        slices: series.frames.iter().map(|f| (f.sop_instance_uid.clone(), f.frame_number)).collect(),
        bytes: counter,
    })
}

fn instance_table(labels: &[SegmentLabel], ann: &ImageAnnotation) -> Vec<VoxelLabel> {
    let mut out: Vec<VoxelLabel> = Vec::new();
    let name = |id: &str| labels.iter().find(|l| l.id == id).map(|l| l.name.clone()).unwrap_or_default();
    for s in &ann.shapes {
        if outline(&s.geometry).is_some() {
            out.push(VoxelLabel { value: out.len() as u32 + 1, label: s.label.clone(), name: name(&s.label), instance: Some(s.id.clone()) });
        }
    }
    let mut seen: BTreeMap<(&str, u32), ()> = BTreeMap::new();
    for m in &ann.masks {
        if seen.insert((&m.label, m.instance), ()).is_none() {
            out.push(VoxelLabel { value: out.len() as u32 + 1, label: m.label.clone(), name: name(&m.label), instance: Some(format!("mask:{}", m.instance)) });
        }
    }
    out
}

fn paint_instances(series: &SourceSeries, ann: &ImageAnnotation, table: &[VoxelLabel], k: u32, mask: &mut [u8], slice: &mut [u16]) {
    let value = |label: &str, inst: &str| table.iter().find(|v| v.label == label && v.instance.as_deref() == Some(inst)).map(|v| v.value as u16).unwrap_or(0);
    for s in &ann.shapes {
        if let Some((f, poly)) = outline(&s.geometry)
            && f == k
        {
            mask.fill(0);
            fill_polygon(&poly, series.rows, series.columns, mask);
            let v = value(&s.label, &s.id);
            slice.iter_mut().zip(mask.iter()).filter(|(_, m)| **m == 1).for_each(|(o, _)| *o = v);
        }
    }
    for m in ann.masks.iter().filter(|m| m.frame == k) {
        mask.fill(0);
        or_runs(&m.rle, mask);
        let v = value(&m.label, &format!("mask:{}", m.instance));
        slice.iter_mut().zip(mask.iter()).filter(|(_, m)| **m == 1).for_each(|(o, _)| *o = v);
    }
}

/// The 348-byte NIfTI-1 header plus the 4-byte empty extension flag.
fn header(vol: &Volume, affine: &[[f64; 4]; 4], wide: bool, max: u32) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let put_i16 = |h: &mut [u8], at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_i32 = |h: &mut [u8], at: usize, v: i32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut [u8], at: usize, v: f64| h[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes());
    put_i32(&mut h, 0, 348);
    h[38] = b'r';
    let dims = [3i16, vol.dims[0] as i16, vol.dims[1] as i16, vol.dims[2] as i16, 1, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, *d);
    }
    put_i16(&mut h, 68, 1002); // NIFTI_INTENT_LABEL
    put_i16(&mut h, 70, if wide { 512 } else { 2 }); // DT_UINT16 / DT_UINT8
    put_i16(&mut h, 72, if wide { 16 } else { 8 });
    // Axes of the qform: orthonormalised row and column directions (RAS) and
    // the slice normal pointing the way k increases.
    let ras = |v: [f64; 3]| [-v[0], -v[1], v[2]];
    let u = ras(unit(vol.row_direction));
    let v0 = ras(vol.column_direction);
    let v = unit(std::array::from_fn(|i| v0[i] - dot(v0, u) * u[i]));
    let step = ras(vol.slice_step);
    // The quaternion describes the proper rotation [u, v, u × v]; when k runs
    // against u × v (left-handed axes) qfac = −1 flips it.
    let w = cross(u, v);
    let dz = dot(w, step);
    let qfac = if dz < 0.0 { -1.0 } else { 1.0 };
    let pixdim = [qfac, vol.spacing[0], vol.spacing[1], dz.abs(), 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pixdim.iter().enumerate() {
        put_f32(&mut h, 76 + 4 * i, *p);
    }
    put_f32(&mut h, 108, 352.0); // vox_offset
    put_f32(&mut h, 112, 1.0); // scl_slope
    put_f32(&mut h, 116, 0.0);
    h[123] = 2; // xyzt_units: mm
    put_f32(&mut h, 124, max as f64); // cal_max
    put_f32(&mut h, 128, 0.0);
    let descrip = b"clinlabel label volume";
    h[148..148 + descrip.len()].copy_from_slice(descrip);
    put_i16(&mut h, 252, 1); // qform_code: scanner anatomical
    put_i16(&mut h, 254, 1); // sform_code
    let (b, c, d) = quaternion([[u[0], v[0], w[0]], [u[1], v[1], w[1]], [u[2], v[2], w[2]]]);
    put_f32(&mut h, 256, b);
    put_f32(&mut h, 260, c);
    put_f32(&mut h, 264, d);
    put_f32(&mut h, 268, affine[0][3]);
    put_f32(&mut h, 272, affine[1][3]);
    put_f32(&mut h, 276, affine[2][3]);
    for (r, row) in affine.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            put_f32(&mut h, 280 + 16 * r + 4 * c, *v);
        }
    }
    let name = b"labels";
    h[328..328 + name.len()].copy_from_slice(name);
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = norm(v);
    v.map(|x| x / n)
}

/// Quaternion (b, c, d) of a proper rotation matrix, a ≥ 0 (nifti1_io's
/// `nifti_mat44_to_quatern`).
fn quaternion(r: [[f64; 3]; 3]) -> (f64, f64, f64) {
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace = r11 + r22 + r33 + 1.0;
    let (a, b, c, d);
    if trace > 0.5 {
        let a0 = 0.5 * trace.sqrt();
        a = a0;
        b = 0.25 * (r32 - r23) / a0;
        c = 0.25 * (r13 - r31) / a0;
        d = 0.25 * (r21 - r12) / a0;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            let b0 = 0.5 * xd.sqrt();
            b = b0;
            c = 0.25 * (r12 + r21) / b0;
            d = 0.25 * (r13 + r31) / b0;
            a = 0.25 * (r32 - r23) / b0;
        } else if yd > 1.0 {
            let c0 = 0.5 * yd.sqrt();
            c = c0;
            b = 0.25 * (r12 + r21) / c0;
            d = 0.25 * (r23 + r32) / c0;
            a = 0.25 * (r13 - r31) / c0;
        } else {
            let d0 = 0.5 * zd.sqrt();
            d = d0;
            b = 0.25 * (r13 + r31) / d0;
            c = 0.25 * (r23 + r32) / d0;
            a = 0.25 * (r21 - r12) / d0;
        }
    }
    if a < 0.0 { (-b, -c, -d) } else { (b, c, d) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotation of a quaternion (b, c, d) with a = sqrt(1 − b² − c² − d²),
    /// as NIfTI readers rebuild it.
    fn rotation(b: f64, c: f64, d: f64) -> [[f64; 3]; 3] {
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        [
            [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
            [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
            [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    }

    /// The qform the header describes (quaternion, qfac, pixdim, offset) as a
    /// 3×4 matrix, rebuilt the way NIfTI readers do.
    fn qform(h: &[u8]) -> [[f64; 4]; 3] {
        let f = |at: usize| f32::from_le_bytes(h[at..at + 4].try_into().unwrap()) as f64;
        let r = rotation(f(256), f(260), f(264));
        let (qfac, d) = (f(76), [f(80), f(84), f(88)]);
        let mut m = [[0.0; 4]; 3];
        for i in 0..3 {
            m[i] = [r[i][0] * d[0], r[i][1] * d[1], r[i][2] * d[2] * qfac, f(268 + 4 * i)];
        }
        m
    }

    #[test]
    fn the_qform_equals_the_sform_for_either_handedness() {
        let base = Volume {
            dims: [4, 3, 2],
            origin: [10.0, -20.0, 30.0],
            row_direction: [0.0, 1.0, 0.0],
            column_direction: [0.0, 0.0, -1.0],
            spacing: [0.7, 0.9],
            slice_step: [2.5, 0.0, 0.0],
        };
        for (step, qfac) in [([2.5, 0.0, 0.0], -1.0), ([-2.5, 0.0, 0.0], 1.0)] {
            let v = Volume { slice_step: step, ..base };
            let a = v.affine_ras();
            let h = header(&v, &a, false, 1);
            let f = |at: usize| f32::from_le_bytes(h[at..at + 4].try_into().unwrap()) as f64;
            assert_eq!(f(76), qfac);
            let q = qform(&h);
            for i in 0..3 {
                for j in 0..4 {
                    assert!((q[i][j] - a[i][j]).abs() < 1e-5, "step {step:?}: qform {q:?} vs sform {a:?}");
                    assert!((f(280 + 16 * i + 4 * j) - a[i][j]).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn quaternions_rebuild_their_rotations() {
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let cases = [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
            [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]],
            [[s, -s, 0.0], [s, s, 0.0], [0.0, 0.0, 1.0]],
        ];
        for r in cases {
            let (b, c, d) = quaternion(r);
            let back = rotation(b, c, d);
            for i in 0..3 {
                for j in 0..3 {
                    assert!((back[i][j] - r[i][j]).abs() < 1e-9, "{r:?} → {back:?}");
                }
            }
        }
    }
}
