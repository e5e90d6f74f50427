//! Grouping instances into studies and series, and ordering slices.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::object::ImageMeta;

/// One instance as placed in its series.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceEntry {
    /// The caller's name for the file (upload name).
    pub name: String,
    pub sop_instance_uid: Option<String>,
    pub instance_number: Option<i64>,
    pub frames: u32,
    /// Position along the series' slice normal (mm), when known.
    pub slice_location: Option<f64>,
}

/// How a series' instances were ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// By Image Position (Patient) projected on the normal of Image Orientation.
    SliceNormal,
    /// By Instance Number (positions missing or orientations differ).
    InstanceNumber,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub series_instance_uid: String,
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub ordering: Ordering,
    pub instances: Vec<InstanceEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub study_instance_uid: String,
    pub series: Vec<Series>,
}

/// Unit normal of an Image Orientation (Patient): row × column.
pub fn slice_normal(o: &[f64; 6]) -> Option<[f64; 3]> {
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let n = [
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    ];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    if len < 1e-6 {
        None
    } else {
        Some([n[0] / len, n[1] / len, n[2] / len])
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn same_orientation(a: &[f64; 6], b: &[f64; 6]) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-3)
}

/// Groups instances (caller name + metadata) into studies → series, ordered.
///
/// Instances without a Study / Series Instance UID are grouped under the empty
/// UID so that nothing is dropped. Studies and series are sorted by UID (series
/// by Series Number first) for a stable result.
pub fn group(instances: &[(String, ImageMeta)]) -> Vec<Study> {
    type BySeries<'a> = BTreeMap<String, Vec<&'a (String, ImageMeta)>>;
    let mut studies: BTreeMap<String, BySeries> = BTreeMap::new();
    for inst in instances {
        let study = inst.1.study_instance_uid.clone().unwrap_or_default();
        let series = inst.1.series_instance_uid.clone().unwrap_or_default();
        studies
            .entry(study)
            .or_default()
            .entry(series)
            .or_default()
            .push(inst);
    }
    studies
        .into_iter()
        .map(|(study_uid, series_map)| {
            let mut series: Vec<Series> = series_map
                .into_iter()
                .map(|(uid, members)| order_series(uid, members))
                .collect();
            series.sort_by(|a, b| {
                a.series_number
                    .cmp(&b.series_number)
                    .then(a.series_instance_uid.cmp(&b.series_instance_uid))
            });
            Study {
                study_instance_uid: study_uid,
                series,
            }
        })
        .collect()
}

fn order_series(uid: String, members: Vec<&(String, ImageMeta)>) -> Series {
    let first = &members[0].1;
    let orientation = members
        .iter()
        .find_map(|m| m.1.frame_info(0).image_orientation);
    let normal = orientation.as_ref().and_then(slice_normal);
    let all_placed = normal.is_some()
        && members.iter().all(|m| {
            let f = m.1.frame_info(0);
            f.image_position.is_some()
                && f.image_orientation
                    .map(|o| same_orientation(&o, orientation.as_ref().unwrap()))
                    .unwrap_or(false)
        });
    let mut entries: Vec<InstanceEntry> = members
        .iter()
        .map(|(name, meta)| {
            let f = meta.frame_info(0);
            InstanceEntry {
                name: name.clone(),
                sop_instance_uid: meta.sop_instance_uid.clone(),
                instance_number: meta.instance_number,
                frames: meta.frames,
                slice_location: match (normal, f.image_position) {
                    (Some(n), Some(p)) => Some(dot(n, p)),
                    _ => None,
                },
            }
        })
        .collect();
    let by_number = |a: &InstanceEntry, b: &InstanceEntry| {
        a.instance_number
            .unwrap_or(i64::MAX)
            .cmp(&b.instance_number.unwrap_or(i64::MAX))
            .then(a.name.cmp(&b.name))
    };
    let ordering = if all_placed {
        entries.sort_by(|a, b| {
            a.slice_location
                .unwrap()
                .total_cmp(&b.slice_location.unwrap())
                .then_with(|| by_number(a, b))
        });
        Ordering::SliceNormal
    } else {
        entries.sort_by(by_number);
        Ordering::InstanceNumber
    };
    Series {
        series_instance_uid: uid,
        modality: first.modality.clone(),
        series_number: first.series_number,
        ordering,
        instances: entries,
    }
}

/// Frame order of an enhanced multi-frame object: by each frame's Plane Position
/// along the normal of its Plane Orientation, falling back to stored order.
pub fn frame_order(meta: &ImageMeta) -> (Ordering, Vec<usize>) {
    let n = meta.frames as usize;
    let infos: Vec<_> = (0..n).map(|i| meta.frame_info(i)).collect();
    let normal = infos
        .iter()
        .find_map(|f| f.image_orientation)
        .as_ref()
        .and_then(slice_normal);
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(nrm) = normal
        && n > 1
        && infos.iter().all(|f| f.image_position.is_some())
    {
        let loc: Vec<f64> = infos
            .iter()
            .map(|f| dot(nrm, f.image_position.unwrap()))
            .collect();
        order.sort_by(|&a, &b| loc[a].total_cmp(&loc[b]).then(a.cmp(&b)));
        return (Ordering::SliceNormal, order);
    }
    (Ordering::InstanceNumber, order)
}

/// The frames of one series in viewing order, as (index into `instances`,
/// frame number within that instance): instances ordered as [`group`] orders
/// them (along the slice normal, else by Instance Number), and the frames of
/// an enhanced multi-frame instance by [`frame_order`] (per-frame positions);
/// a classic multi-frame instance (cine, ultrasound) keeps its stored order.
/// The [`Ordering`] is the instances' one.
pub fn series_frames(instances: &[ImageMeta]) -> (Ordering, Vec<(usize, u32)>) {
    let named: Vec<(String, ImageMeta)> = instances
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("{i:020}"), m.clone()))
        .collect();
    let mut ordering = Ordering::InstanceNumber;
    let mut out = Vec::new();
    for study in group(&named) {
        for series in study.series {
            ordering = series.ordering;
            for entry in series.instances {
                let idx: usize = entry.name.parse().expect("names are indices");
                let meta = &instances[idx];
                let frames = if meta.per_frame.is_empty() {
                    (0..meta.frames as usize).collect()
                } else {
                    frame_order(meta).1
                };
                out.extend(frames.into_iter().map(|f| (idx, f as u32)));
            }
        }
    }
    (ordering, out)
}
