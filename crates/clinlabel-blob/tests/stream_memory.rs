//! A 1 GiB blob streams through `put` and `get` (local backend) in bounded
//! memory. Its own test binary, so the process's peak RSS (VmHWM) measures
//! this test alone.

use clinlabel_blob::BlobStore;
use clinlabel_blob::bench::{peak_rss_bytes, stream_roundtrip};

const GIB: u64 = 1 << 30;
const LIMIT: u64 = 64 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = BlobStore::local(&tmp.path().join("blobs")).unwrap();
    let before = peak_rss_bytes().expect("/proc/self/status VmHWM");
    let report = stream_roundtrip(&store, GIB).await.unwrap();
    let peak = report.peak_rss_bytes.unwrap();
    println!(
        "1 GiB round trip: put {:.1} s, get {:.1} s, peak RSS {:.1} MiB (before {:.1} MiB), sha256 {}",
        report.encrypt_secs,
        report.decrypt_secs,
        peak as f64 / (1 << 20) as f64,
        before as f64 / (1 << 20) as f64,
        report.sha256
    );
    assert_eq!(report.bytes, GIB);
    assert!(peak < LIMIT, "peak RSS {peak} bytes is not under {LIMIT}");
}
