//! Agreement on image annotations: IoU of 2D / 3D boxes and polygons, Dice and
//! IoU of masks, symmetric Hausdorff distance and its 95th percentile (in
//! millimetres when a spacing is given), keypoint distance and OKS, and
//! one-to-one instance matching by IoU.

use crate::assignment::max_weight_matching;
use crate::bootstrap::quantile;
use crate::coefficient::{Coefficient, Reason};
use crate::spans::Prf;
use serde::{Deserialize, Serialize};

/// An axis-aligned 2D box, `[x_min, x_max] × [y_min, y_max]` (continuous
/// coordinates: a box from 0 to 10 has width 10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Box2 {
    pub x_min: f64,
    pub y_min: f64,
    pub x_max: f64,
    pub y_max: f64,
    /// Class; boxes only match within a class when both have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// An axis-aligned 3D box.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Box3 {
    pub x_min: f64,
    pub y_min: f64,
    pub z_min: f64,
    pub x_max: f64,
    pub y_max: f64,
    pub z_max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn extent(lo: f64, hi: f64) -> f64 {
    (hi - lo).max(0.0)
}

fn labels_compatible(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// IoU of two 2D boxes; undefined when both have zero area.
pub fn box_iou_2d(a: &Box2, b: &Box2) -> Coefficient {
    let inter = extent(a.x_min.max(b.x_min), a.x_max.min(b.x_max))
        * extent(a.y_min.max(b.y_min), a.y_max.min(b.y_max));
    let area = |r: &Box2| extent(r.x_min, r.x_max) * extent(r.y_min, r.y_max);
    Coefficient::ratio(inter, area(a) + area(b) - inter, Reason::BothEmpty)
}

/// IoU of two 3D boxes; undefined when both have zero volume.
pub fn box_iou_3d(a: &Box3, b: &Box3) -> Coefficient {
    let inter = extent(a.x_min.max(b.x_min), a.x_max.min(b.x_max))
        * extent(a.y_min.max(b.y_min), a.y_max.min(b.y_max))
        * extent(a.z_min.max(b.z_min), a.z_max.min(b.z_max));
    let vol =
        |r: &Box3| extent(r.x_min, r.x_max) * extent(r.y_min, r.y_max) * extent(r.z_min, r.z_max);
    Coefficient::ratio(inter, vol(a) + vol(b) - inter, Reason::BothEmpty)
}

/// IoU of two simple polygons (outer rings as `[x, y]` vertex lists, either
/// orientation, closed or not): area(A ∩ B) / area(A ∪ B), with the intersection
/// area computed exactly by boundary integration ([`crate::polygon`]): the only
/// rounding is that of edge intersection points, no snapping to a grid.
/// Undefined (`InvalidGeometry`) for a self-intersecting ring or one with fewer
/// than three distinct vertices; undefined (`BothEmpty`) when the union has zero area.
pub fn polygon_iou(a: &[[f64; 2]], b: &[[f64; 2]]) -> Coefficient {
    match crate::polygon::areas(a, b) {
        None => Coefficient::undefined(Reason::InvalidGeometry),
        Some((sa, sb, inter)) => Coefficient::ratio(inter, sa + sb - inter, Reason::BothEmpty),
    }
}

/// A binary mask of `width × height × depth` voxels (depth 1 for 2D), indexed
/// `(z * height + y) * width + x`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    #[serde(default = "one")]
    pub depth: usize,
    pub data: Vec<bool>,
}

fn one() -> usize {
    1
}

impl Mask {
    /// Panics if `data.len() != width * height * depth` (a programming error).
    pub fn new(width: usize, height: usize, depth: usize, data: Vec<bool>) -> Mask {
        assert_eq!(data.len(), width * height * depth, "mask data length");
        Mask {
            width,
            height,
            depth,
            data,
        }
    }
    fn dims(&self) -> [usize; 3] {
        [self.width, self.height, self.depth]
    }
}

/// Dice and IoU of two masks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskOverlap {
    pub dice: Coefficient,
    pub iou: Coefficient,
    pub intersection: usize,
    pub a_voxels: usize,
    pub b_voxels: usize,
}

/// Dice = 2|A∩B|/(|A|+|B|), IoU = |A∩B|/|A∪B|; both undefined when both masks are empty.
/// Panics if the masks differ in shape.
pub fn mask_overlap(a: &Mask, b: &Mask) -> MaskOverlap {
    assert_eq!(a.dims(), b.dims(), "masks must have the same shape");
    let (mut i, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.data.iter().zip(&b.data) {
        na += x as usize;
        nb += y as usize;
        i += (x && y) as usize;
    }
    MaskOverlap {
        dice: Coefficient::ratio(2.0 * i as f64, (na + nb) as f64, Reason::BothEmpty),
        iou: Coefficient::ratio(i as f64, (na + nb - i) as f64, Reason::BothEmpty),
        intersection: i,
        a_voxels: na,
        b_voxels: nb,
    }
}

/// Surface distances between two masks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurfaceDistance {
    /// Symmetric Hausdorff distance: max of the two directed maxima.
    pub hausdorff: Coefficient,
    /// 95th percentile (linear interpolation) of all boundary-to-boundary distances
    /// in both directions pooled, as medpy's `hd95`.
    pub hausdorff95: Coefficient,
    /// Average symmetric surface distance: the mean of all boundary distances of
    /// both directions pooled (medpy 0.5 `assd`).
    pub assd: Coefficient,
    /// `"mm"` when a spacing was given, else `"voxel"`.
    pub unit: &'static str,
}

/// Boundary voxels: foreground with a background face-neighbour (4-neighbourhood
/// in 2D, 6 in 3D); outside the image counts as background, except along an
/// axis of size 1 (a 2D mask has no z-neighbours).
fn boundary(m: &Mask) -> Vec<bool> {
    let [w, h, d] = m.dims();
    let mut out = vec![false; m.data.len()];
    let idx = |x: usize, y: usize, z: usize| (z * h + y) * w + x;
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                if !m.data[idx(x, y, z)] {
                    continue;
                }
                let bg = |dx: isize, dy: isize, dz: isize, size: usize, pos: usize| -> bool {
                    if size == 1 {
                        return false;
                    }
                    let (nx, ny, nz) = (x as isize + dx, y as isize + dy, z as isize + dz);
                    let np = pos as isize + dx + dy + dz;
                    if np < 0 || np >= size as isize {
                        return true;
                    }
                    !m.data[idx(nx as usize, ny as usize, nz as usize)]
                };
                out[idx(x, y, z)] = bg(-1, 0, 0, w, x)
                    || bg(1, 0, 0, w, x)
                    || bg(0, -1, 0, h, y)
                    || bg(0, 1, 0, h, y)
                    || bg(0, 0, -1, d, z)
                    || bg(0, 0, 1, d, z);
            }
        }
    }
    out
}

/// 1D squared distance transform of Felzenszwalb & Huttenlocher (2012) with
/// sample spacing `sp`; `f` holds 0 at features and +∞ elsewhere (or partial results).
fn dt1d(f: &[f64], sp: f64, out: &mut [f64], v: &mut Vec<usize>, z: &mut Vec<f64>) {
    v.clear();
    z.clear();
    let n = f.len();
    for q in 0..n {
        if f[q].is_infinite() {
            continue;
        }
        loop {
            match v.last() {
                None => {
                    v.push(q);
                    z.push(f64::NEG_INFINITY);
                    break;
                }
                Some(&p) => {
                    let (xq, xp) = (q as f64 * sp, p as f64 * sp);
                    let s = ((f[q] + xq * xq) - (f[p] + xp * xp)) / (2.0 * (xq - xp));
                    if s <= *z.last().unwrap() {
                        v.pop();
                        z.pop();
                    } else {
                        v.push(q);
                        z.push(s);
                        break;
                    }
                }
            }
        }
    }
    if v.is_empty() {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    }
    z.push(f64::INFINITY);
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        let x = q as f64 * sp;
        while z[k + 1] < x {
            k += 1;
        }
        let dx = x - v[k] as f64 * sp;
        *o = dx * dx + f[v[k]];
    }
}

/// Exact Euclidean distance (not squared) from every voxel to the nearest
/// `feature` voxel, with per-axis spacing.
fn edt(feature: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let [w, h, d] = dims;
    let mut g: Vec<f64> = feature
        .iter()
        .map(|&f| if f { 0.0 } else { f64::INFINITY })
        .collect();
    let (mut v, mut z) = (Vec::new(), Vec::new());
    let strides = [1, w, w * h];
    for axis in 0..3 {
        let n = dims[axis];
        if n == 1 {
            continue;
        }
        let stride = strides[axis];
        let mut line = vec![0.0; n];
        let mut out = vec![0.0; n];
        let total = w * h * d;
        for base in 0..total {
            // `base` is the first voxel of a line along `axis`.
            if (base / stride) % n != 0 {
                continue;
            }
            for i in 0..n {
                line[i] = g[base + i * stride];
            }
            dt1d(&line, spacing[axis], &mut out, &mut v, &mut z);
            for i in 0..n {
                g[base + i * stride] = out[i];
            }
        }
    }
    g.into_iter().map(f64::sqrt).collect()
}

/// Symmetric Hausdorff distance, its 95th percentile and the average symmetric
/// surface distance between the boundaries of two masks. `spacing` is the voxel size
/// along x, y, z in millimetres (for DICOM: PixelSpacing gives [row spacing =
/// y, column spacing = x], and the slice spacing z); without it distances are in
/// voxels. Undefined (`NoPoints`) when either mask is empty. Panics if the masks
/// differ in shape.
pub fn surface_distance(a: &Mask, b: &Mask, spacing: Option<[f64; 3]>) -> SurfaceDistance {
    assert_eq!(a.dims(), b.dims(), "masks must have the same shape");
    let unit = if spacing.is_some() { "mm" } else { "voxel" };
    let sp = spacing.unwrap_or([1.0; 3]);
    let (ba, bb) = (boundary(a), boundary(b));
    if !ba.iter().any(|&x| x) || !bb.iter().any(|&x| x) {
        let u = Coefficient::undefined(Reason::NoPoints);
        return SurfaceDistance {
            hausdorff: u,
            hausdorff95: u,
            assd: u,
            unit,
        };
    }
    let (da, db) = (edt(&ba, a.dims(), sp), edt(&bb, b.dims(), sp));
    let ab: Vec<f64> = ba
        .iter()
        .zip(&db)
        .filter(|(x, _)| **x)
        .map(|(_, d)| *d)
        .collect();
    let bab: Vec<f64> = bb
        .iter()
        .zip(&da)
        .filter(|(x, _)| **x)
        .map(|(_, d)| *d)
        .collect();
    let mut all = ab;
    all.extend(bab);
    let assd = all.iter().sum::<f64>() / all.len() as f64;
    all.sort_by(f64::total_cmp);
    SurfaceDistance {
        hausdorff: Coefficient::defined(*all.last().unwrap()),
        hausdorff95: Coefficient::defined(quantile(&all, 0.95)),
        assd: Coefficient::defined(assd),
        unit,
    }
}

/// A keypoint; `visible: false` (COCO v = 0) points are not scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    pub x: f64,
    pub y: f64,
    #[serde(default = "yes")]
    pub visible: bool,
}

fn yes() -> bool {
    true
}

/// Mean Euclidean distance between corresponding keypoints visible in both,
/// scaled by `spacing` `[x, y]` (mm) when given.
pub fn keypoint_mean_distance(
    a: &[Keypoint],
    b: &[Keypoint],
    spacing: Option<[f64; 2]>,
) -> Coefficient {
    let s = spacing.unwrap_or([1.0, 1.0]);
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(p, q)| p.visible && q.visible)
        .map(|(p, q)| (((p.x - q.x) * s[0]).powi(2) + ((p.y - q.y) * s[1]).powi(2)).sqrt())
        .collect();
    if d.is_empty() {
        Coefficient::undefined(Reason::NoPoints)
    } else {
        Coefficient::defined(d.iter().sum::<f64>() / d.len() as f64)
    }
}

/// Object keypoint similarity as in COCO (`cocoeval.computeOks`): over the
/// keypoints visible in the reference `a`, mean of exp(−d² / (2 · area · (2σ_i)²)),
/// with `area` the object's area (s²) and `sigmas` the per-keypoint σ.
/// Panics if `sigmas` and `a` differ in length.
pub fn oks(a: &[Keypoint], b: &[Keypoint], area: f64, sigmas: &[f64]) -> Coefficient {
    assert_eq!(a.len(), sigmas.len(), "one sigma per keypoint");
    let mut sum = 0.0;
    let mut n = 0usize;
    for ((p, q), s) in a.iter().zip(b).zip(sigmas) {
        if !p.visible {
            continue;
        }
        let k = 2.0 * s;
        let d2 = (p.x - q.x).powi(2) + (p.y - q.y).powi(2);
        sum += (-d2 / (k * k) / (area + f64::EPSILON) / 2.0).exp();
        n += 1;
    }
    if n == 0 {
        Coefficient::undefined(Reason::NoPoints)
    } else {
        Coefficient::defined(sum / n as f64)
    }
}

/// Instances of two annotators matched one-to-one by IoU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceMatch {
    /// (index in A, index in B, IoU).
    pub pairs: Vec<(usize, usize, f64)>,
    pub prf: Prf,
    /// Mean IoU of the matched pairs.
    pub mean_iou: Coefficient,
}

/// Matches instances given their IoU matrix (`n_a × n_b`, row-major): the
/// one-to-one matching (Hungarian) of maximum total IoU among pairs with
/// IoU ≥ `threshold` (and > 0), then precision / recall / F1 of B against A.
pub fn match_by_iou(n_a: usize, n_b: usize, iou: &[f64], threshold: f64) -> InstanceMatch {
    let w: Vec<f64> = iou
        .iter()
        .map(|&x| if x >= threshold && x > 0.0 { x } else { 0.0 })
        .collect();
    let pairs: Vec<(usize, usize, f64)> = max_weight_matching(n_a, n_b, &w)
        .into_iter()
        .map(|(i, j)| (i, j, iou[i * n_b + j]))
        .collect();
    let mean_iou = if pairs.is_empty() {
        Coefficient::undefined(Reason::NoPoints)
    } else {
        Coefficient::defined(pairs.iter().map(|p| p.2).sum::<f64>() / pairs.len() as f64)
    };
    InstanceMatch {
        prf: Prf::new(pairs.len(), n_a, n_b),
        pairs,
        mean_iou,
    }
}

/// [`match_by_iou`] over 2D boxes (a label mismatch forbids a match).
pub fn match_boxes_2d(a: &[Box2], b: &[Box2], threshold: f64) -> InstanceMatch {
    let mut iou = vec![0.0; a.len() * b.len()];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if labels_compatible(&x.label, &y.label) {
                iou[i * b.len() + j] = box_iou_2d(x, y).value().unwrap_or(0.0);
            }
        }
    }
    match_by_iou(a.len(), b.len(), &iou, threshold)
}

/// [`match_by_iou`] over 3D boxes (a label mismatch forbids a match).
pub fn match_boxes_3d(a: &[Box3], b: &[Box3], threshold: f64) -> InstanceMatch {
    let mut iou = vec![0.0; a.len() * b.len()];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if labels_compatible(&x.label, &y.label) {
                iou[i * b.len() + j] = box_iou_3d(x, y).value().unwrap_or(0.0);
            }
        }
    }
    match_by_iou(a.len(), b.len(), &iou, threshold)
}

/// [`match_by_iou`] over polygons.
pub fn match_polygons(a: &[Vec<[f64; 2]>], b: &[Vec<[f64; 2]>], threshold: f64) -> InstanceMatch {
    let mut iou = vec![0.0; a.len() * b.len()];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            iou[i * b.len() + j] = polygon_iou(x, y).value().unwrap_or(0.0);
        }
    }
    match_by_iou(a.len(), b.len(), &iou, threshold)
}
