//! Exports stream: the SEG and NIfTI writers hold one frame of pixels (plus
//! the SEG's per-frame headers), not the volume. A counting global allocator
//! measures the peak while a 256-frame 512×512 series with label maps on
//! every frame is written to a sink (the volume would be 64 MiB as bytes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clinlabel_domain::imaging::{Geometry, ImageAnnotation, MaskFrame, Shape};
use clinlabel_domain::project::LabelSchema;
use clinlabel_imaging::{CocoWriter, NiftiContent, SegOptions, SourceFrame, SourceSeries, write_nifti, write_seg};

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

fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const N: u32 = 256;
const SIZE: u32 = 512;
/// A frame is 256 KiB as bytes; measured peaks were 1.6 MiB (SEG: one frame's
/// masks and packed bits, plus the data set without its per-frame groups),
/// 1.4 MiB (NIfTI) and 0.4 MiB (COCO), for 400 frames.
const BOUND: usize = 4 << 20;

fn series() -> SourceSeries {
    let mut s = SourceSeries::plain_image(SIZE, SIZE);
    s.study_instance_uid = Some("1.2.3".into());
    s.series_instance_uid = Some("1.2.3.4".into());
    s.frame_of_reference_uid = Some("1.2.3.5".into());
    s.frames = (0..N)
        .map(|i| SourceFrame {
            index: i,
            sop_class_uid: Some("1.2.840.10008.5.1.4.1.1.2".into()),
            sop_instance_uid: Some(format!("1.2.3.4.{i}")),
            frame_number: 1,
            instance_frames: 1,
            image_position: Some([-128.0, -128.0, i as f64 * 1.25]),
            image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing: Some([0.5, 0.5]),
            slice_thickness: Some(1.25),
        })
        .collect();
    s
}

fn schema() -> LabelSchema {
    serde_json::from_value(serde_json::json!({ "image_tools": [
        { "tool": "polygon", "labels": [{ "id": "organ", "name": "Organ" }] },
        { "tool": "brush", "labels": [{ "id": "organ", "name": "Organ" }, { "id": "lesion", "name": "Lesion" }] }
    ] }))
    .unwrap()
}

fn annotation() -> ImageAnnotation {
    let mut masks = Vec::new();
    for f in 0..N {
        // A band of rows 100..300 (as runs: background, band, background).
        masks.push(MaskFrame { frame: f, label: "lesion".into(), instance: 1, rows: SIZE, columns: SIZE, rle: vec![100 * SIZE, 200 * SIZE, 212 * SIZE] });
    }
    let shapes = (0..N)
        .map(|f| Shape { id: format!("p{f}"), label: "organ".into(), geometry: Geometry::Polygon { frame: f, points: vec![[50.5, 40.2], [400.1, 60.3], [300.7, 450.9]] } })
        .collect();
    ImageAnnotation { shapes, masks, frame_answers: Default::default() }
}

#[test]
fn seg_nifti_and_coco_hold_a_frame_not_a_volume() {
    let _g = LOCK.lock().unwrap();
    let (s, schema, ann) = (series(), schema(), annotation());
    let volume = (N * SIZE * SIZE) as usize;
    let (seg, peak) = measure(|| write_seg(&s, &schema, &ann, &SegOptions::new("m", 0), &mut std::io::sink()).unwrap());
    assert_eq!(seg.frames, 2 * N);
    assert!(peak < BOUND, "SEG peak {peak} bytes for a {volume}-byte volume");
    let (_, peak) = measure(|| write_nifti(&s, &schema, &ann, NiftiContent::Semantic, &mut std::io::sink()).unwrap());
    assert!(peak < BOUND, "NIfTI peak {peak} bytes for a {volume}-byte volume");
    let (_, peak) = measure(|| {
        let mut c = CocoWriter::new(&schema, serde_json::json!({}), std::io::sink()).unwrap();
        c.add_item("i", &s, &ann, &Default::default()).unwrap();
        c.finish().unwrap();
    });
    assert!(peak < BOUND, "COCO peak {peak} bytes for a {volume}-byte volume");
}
