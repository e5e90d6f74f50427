//! `clinlabel bench dicom`: decode + window/level to 8 bits of one frame,
//! beside pydicom + numpy on the same file in the same run.
//!
//! Both sides start from the file's bytes in memory and are timed the same
//! way (warm-up, then p50 / p99 over the iterations):
//!
//! - **cold**: parse (our pre-scan + dicom-rs / `pydicom.dcmread`), decode
//!   frame 0, window to 8 bits — a frame served from an instance not yet in
//!   the frame service's cache;
//! - **warm**: decode + window of an already parsed instance — the cached
//!   path, and what the goal (≤ 2 ms for a 512×512 CT frame) is about.
//!
//! The window is the linear VOI function of PS3.3 C.11.2.1.2 on the modality
//! value ([`crate::pixels::WindowLut`]; numpy: the same formula vectorised).
//! The two 8-bit results are compared and the largest difference reported.
//! The Python side is `bench_pydicom.py`, run with the virtualenv that
//! `ci/testdata/dicom.sh` makes (pydicom 3.0.2 and its decoders, numpy 2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::pixels::WindowLut;
use crate::{Limits, Window, decode_frame, image_meta, open_bytes};

const SCRIPT: &str = include_str!("bench_pydicom.py");

/// The default file: pydicom-data's 512×512 CT slice (explicit VR little
/// endian, signed 16-bit, rescale intercept −1024).
pub const DEFAULT_FILE: &str = "693_UNCI.dcm";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone)]
pub struct PydicomSide {
    pub pydicom: String,
    pub numpy: String,
    pub cold: Timing,
    pub warm: Timing,
    /// Largest |ours − numpy's| over the 8-bit frame, and how many pixels differ.
    pub max_diff: u8,
    pub pixels_differing: usize,
}

#[derive(Debug, Clone)]
pub struct DicomBench {
    pub file: PathBuf,
    pub rows: u32,
    pub columns: u32,
    pub dtype: &'static str,
    pub transfer_syntax: String,
    pub window: Window,
    pub iterations: usize,
    pub cold: Timing,
    pub warm: Timing,
    /// pydicom's numbers, or why there are none.
    pub pydicom: Result<PydicomSide, String>,
    /// /proc/loadavg's 1-minute figure at the end (p99 on a shared machine
    /// is mostly other processes).
    pub load_average: Option<String>,
}

/// The virtualenv python of `ci/testdata/dicom.sh`.
pub fn default_python() -> PathBuf {
    let root = match std::env::var_os("CLINLABEL_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/clinlabel-testdata"),
    };
    root.join("venv-dicom/bin/python")
}

fn timed(iterations: usize, mut f: impl FnMut() -> u64) -> (Timing, u64) {
    let mut sink = 0u64;
    for _ in 0..iterations.min(20) {
        sink = sink.wrapping_add(f());
    }
    let mut t: Vec<f64> = (0..iterations)
        .map(|_| {
            let t0 = Instant::now();
            sink = sink.wrapping_add(f());
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let p = |q: usize| t[(t.len() * q / 100).min(t.len() - 1)];
    (Timing { p50_ms: p(50), p99_ms: p(99) }, sink)
}

/// Runs the benchmark on `file` (default: pydicom-data's [`DEFAULT_FILE`],
/// located through `python`), at `window` (default: the file's first preset).
pub fn run(file: Option<&Path>, iterations: usize, python: &Path, window: Option<Window>) -> Result<DicomBench, String> {
    let iterations = iterations.max(1);
    let file = match file {
        Some(f) => f.to_path_buf(),
        None => {
            let out = Command::new(python)
                .args(["-c", &format!("from pydicom.data import get_testdata_file; print(get_testdata_file({DEFAULT_FILE:?}))")])
                .output()
                .map_err(|e| format!("{}: {e} — give --file, or run `bash ci/testdata/dicom.sh` to make the pydicom virtualenv", python.display()))?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || p.is_empty() || p == "None" {
                return Err(format!("pydicom-data's {DEFAULT_FILE} not found through {}: give --file, or run `bash ci/testdata/dicom.sh`", python.display()));
            }
            PathBuf::from(p)
        }
    };
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let limits = Limits::default();
    let parsed = open_bytes(&bytes, &limits).map_err(|e| e.to_string())?;
    let meta = image_meta(&parsed);
    let info = meta.frame_info(0);
    let window = window.or_else(|| info.windows.first().copied()).unwrap_or(Window { center: 40.0, width: 400.0 });
    let (slope, intercept) = (info.rescale_slope, info.rescale_intercept);
    let first = decode_frame(&parsed, &meta, 0).map_err(|e| e.to_string())?;
    let ours = WindowLut::new(&first, slope, intercept, window).apply(&first);

    let (cold, _) = timed(iterations, || {
        let f = open_bytes(&bytes, &limits).expect("parsed once already");
        let m = image_meta(&f);
        let frame = decode_frame(&f, &m, 0).expect("decoded once already");
        let px = WindowLut::new(&frame, slope, intercept, window).apply(&frame);
        px[px.len() / 2] as u64
    });
    let (warm, _) = timed(iterations, || {
        let frame = decode_frame(&parsed, &meta, 0).expect("decoded once already");
        let px = WindowLut::new(&frame, slope, intercept, window).apply(&frame);
        px[px.len() / 2] as u64
    });

    let pydicom = pydicom_side(python, &file, iterations, window, &ours);
    Ok(DicomBench {
        file,
        rows: first.rows,
        columns: first.columns,
        dtype: first.sample_type.name(),
        transfer_syntax: meta.transfer_syntax_name.clone(),
        window,
        iterations,
        cold,
        warm,
        pydicom,
        load_average: std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(String::from)),
    })
}

fn pydicom_side(python: &Path, file: &Path, iterations: usize, window: Window, ours: &[u8]) -> Result<PydicomSide, String> {
    let dir = std::env::temp_dir().join(format!("clinlabel-bench-dicom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("bench_pydicom.py");
    let raw = dir.join("pydicom.u8");
    let result = (|| {
        std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
        let out = Command::new(python)
            .arg(&script)
            .arg(file)
            .arg(iterations.to_string())
            .arg(window.center.to_string())
            .arg(window.width.to_string())
            .arg(&raw)
            .output()
            .map_err(|e| format!("{}: {e} — run `bash ci/testdata/dicom.sh` to make the pydicom virtualenv", python.display()))?;
        if !out.status.success() {
            return Err(format!("pydicom failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("pydicom's output: {e}"))?;
        let t = |k: &str| Timing { p50_ms: v[k]["p50_ms"].as_f64().unwrap_or(f64::NAN), p99_ms: v[k]["p99_ms"].as_f64().unwrap_or(f64::NAN) };
        let theirs = std::fs::read(&raw).map_err(|e| e.to_string())?;
        if theirs.len() != ours.len() {
            return Err(format!("pydicom's frame has {} pixels, ours {}", theirs.len(), ours.len()));
        }
        let diffs = ours.iter().zip(&theirs).map(|(a, b)| a.abs_diff(*b));
        Ok(PydicomSide {
            pydicom: v["pydicom"].as_str().unwrap_or("?").into(),
            numpy: v["numpy"].as_str().unwrap_or("?").into(),
            cold: t("cold"),
            warm: t("warm"),
            max_diff: diffs.clone().max().unwrap_or(0),
            pixels_differing: diffs.filter(|d| *d > 0).count(),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

impl std::fmt::Display for DicomBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = |t: &Timing| format!("p50 {:.3} ms, p99 {:.3} ms", t.p50_ms, t.p99_ms);
        writeln!(
            f,
            "{}: {}×{} {} ({}), window {}/{}, {} iterations, bytes in memory",
            self.file.display(),
            self.columns,
            self.rows,
            self.dtype,
            self.transfer_syntax,
            self.window.center,
            self.window.width,
            self.iterations
        )?;
        writeln!(f, "clinlabel-dicom  decode + window/level to 8-bit: {}   (+ parse: {})", t(&self.warm), t(&self.cold))?;
        match &self.pydicom {
            Ok(p) => {
                writeln!(f, "pydicom {} + numpy {}  decode + window/level to 8-bit: {}   (+ parse: {})", p.pydicom, p.numpy, t(&p.warm), t(&p.cold))?;
                writeln!(
                    f,
                    "speed-up at p50: {:.1}× (decode + window), {:.1}× (with parse); 8-bit outputs: max difference {} ({} pixels differ)",
                    p.warm.p50_ms / self.warm.p50_ms,
                    p.cold.p50_ms / self.cold.p50_ms,
                    p.max_diff,
                    p.pixels_differing
                )?;
            }
            Err(e) => writeln!(f, "pydicom + numpy: not measured: {e}")?,
        }
        let met = |ms: f64| if ms <= 2.0 { "met" } else { "NOT met" };
        write!(f, "goal ≤ 2 ms (decode + window): p50 {}, p99 {}", met(self.warm.p50_ms), met(self.warm.p99_ms))?;
        if let Some(load) = &self.load_average {
            write!(f, " (load average {load} on {} cores while measuring)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))?;
        }
        Ok(())
    }
}
