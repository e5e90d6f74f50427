//! `cargo run --release -p clinlabel-ingest --example bench_upload -- [MB] [SMALL_FILES] [DIR]`
//! Upload throughput (encrypted, local storage) beside raw disk writes, and
//! many small files; prints peak RSS for each.

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let small: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let base = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    let rss = |b: Option<u64>| {
        b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
            .unwrap_or_else(|| "unknown".into())
    };
    let r = clinlabel_ingest::bench::upload(
        dir.path(),
        mb << 20,
        clinlabel_ingest::Limits::default().max_chunk,
    )
    .await
    .expect("upload bench");
    println!(
        "one file of {} MiB in {} MiB chunks: {:.2} s ({:.2} s of it assembling), {:.0} MB/s through the upload protocol (encrypted, local) vs {:.0} MB/s raw disk write+fsync; peak RSS {}",
        r.bytes >> 20,
        r.chunk >> 20,
        r.seconds,
        r.process_seconds,
        r.mb_per_s,
        r.raw_disk_mb_per_s,
        rss(r.peak_rss_bytes)
    );
    if small > 0 {
        let s = clinlabel_ingest::bench::small_files(dir.path(), small, 2048)
            .await
            .expect("small files bench");
        println!(
            "{} files of {} bytes, one upload each: {:.2} s, {:.0} files/s; peak RSS {}",
            s.files,
            s.bytes_each,
            s.seconds,
            s.files_per_s,
            rss(s.peak_rss_bytes)
        );
    }
}
