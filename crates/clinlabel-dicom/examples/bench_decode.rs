//! Decode + window/level to 8 bits of one frame, timed (release build).
//!
//! usage: bench_decode FILE [ITERATIONS] [CENTER WIDTH]
//!
//! Prints one JSON line: median / p95 milliseconds of each step over ITERATIONS
//! runs on bytes already in memory: `open` (pre-scan + dicom-rs parse),
//! `decode` (frame 0 → stored values), `window` (64k lookup table build + apply
//! to 8-bit), `decode_window` (decode + window: the frame-service path on an
//! object already parsed), `total` (open + decode + window) and `png`.

use std::time::Instant;

use clinlabel_dicom::pixels::WindowLut;
use clinlabel_dicom::{Limits, Window, decode_frame, encode_png, image_meta, open_bytes};

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: bench_decode FILE [ITERATIONS] [CENTER WIDTH]");
    let iters: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(200);
    let bytes = std::fs::read(path).unwrap();
    let limits = Limits::default();
    let file = open_bytes(&bytes, &limits).unwrap();
    let meta = image_meta(&file);
    let info = meta.frame_info(0);
    let window = match (args.get(3), args.get(4)) {
        (Some(c), Some(w)) => Window {
            center: c.parse().unwrap(),
            width: w.parse().unwrap(),
        },
        _ => info.windows.first().copied().unwrap_or(Window {
            center: 40.0,
            width: 400.0,
        }),
    };
    let (mut t_open, mut t_dec, mut t_win, mut t_dw, mut t_total, mut t_png) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut checksum = 0u64;
    for _ in 0..iters {
        let t0 = Instant::now();
        let f = open_bytes(&bytes, &limits).unwrap();
        let t1 = Instant::now();
        let m = image_meta(&f);
        let frame = decode_frame(&f, &m, 0).unwrap();
        let t2 = Instant::now();
        let lut = WindowLut::new(&frame, info.rescale_slope, info.rescale_intercept, window);
        let px = lut.apply(&frame);
        let t3 = Instant::now();
        let png = encode_png(frame.columns, frame.rows, &px, false).unwrap();
        let t4 = Instant::now();
        checksum =
            checksum.wrapping_add(px.iter().map(|&v| v as u64).sum::<u64>() + png.len() as u64);
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        t_open.push(ms(t0, t1));
        t_dec.push(ms(t1, t2));
        t_win.push(ms(t2, t3));
        t_dw.push(ms(t1, t3));
        t_total.push(ms(t0, t3));
        t_png.push(ms(t3, t4));
    }
    let j = |v: Vec<f64>| {
        let (m, p) = stats(v);
        format!("{{\"median_ms\":{m:.3},\"p95_ms\":{p:.3}}}")
    };
    println!(
        "{{\"impl\":\"clinlabel-dicom\",\"file\":\"{}\",\"rows\":{},\"columns\":{},\"transfer_syntax\":\"{}\",\"iterations\":{iters},\"window\":[{},{}],\"open\":{},\"decode\":{},\"window_8bit\":{},\"decode_window\":{},\"total\":{},\"png\":{},\"checksum\":{checksum}}}",
        path,
        meta.rows,
        meta.columns,
        meta.transfer_syntax,
        window.center,
        window.width,
        j(t_open),
        j(t_dec),
        j(t_win),
        j(t_dw),
        j(t_total),
        j(t_png)
    );
}
