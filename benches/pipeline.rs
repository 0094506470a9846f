//! `cargo bench`: each stage of the pipeline on the large data of `bench/data` (200k goroutines on
//! 5,000 stacks 20–40 frames deep, made by `bench/build-data.sh`): gzip, protobuf, debug=1 and
//! debug=2 parsing (streamed, mapped on one thread, and in parts on all threads), grouping,
//! diffing, and ranking a 12-snapshot series.
//!
//! Sample sizes are small (10) and measurement times short so the whole run takes a few minutes on
//! two cores. `cargo bench -- debug2` runs one group; `cargo test --benches` runs each once.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use leakhound::analysis::diff::{diff, DiffOptions};
use leakhound::analysis::rank::RankOptions;
use leakhound::analysis::series::Series;
use leakhound::analysis::Snapshot;
use leakhound::profile::{self, Profile, DEFAULT_MAX_PROFILE_BYTES};
use leakhound::stacks::{GroupBy, StackTable};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench").join("data")
}

/// Reads one data file, or stops the run with what to do about it.
fn read(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    match std::fs::read(&path) {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => missing(&path, "is empty"),
        Err(e) => missing(&path, &e.to_string()),
    }
}

fn missing(path: &std::path::Path, why: &str) -> ! {
    eprintln!(
        "\nbenchmark data {} is missing ({why}).\nRun bench/build-data.sh first: it provisions Go and writes bench/data \
         (about 500 MB of disk, a few minutes).\n",
        path.display()
    );
    std::process::exit(1);
}

fn decode(bytes: &[u8]) -> Profile {
    profile::decode(bytes, DEFAULT_MAX_PROFILE_BYTES).expect("bench data decodes")
}

fn series_files() -> Vec<Vec<u8>> {
    (0..12).map(|i| read(&format!("series/{i:02}.pb.gz"))).collect()
}

fn configure<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
}

/// gzip and protobuf, separately and together, on one 210k-goroutine snapshot.
fn bench_decode(c: &mut Criterion) {
    let gz = read("snap-1.pb.gz");
    let raw = profile::gunzip(&gz, DEFAULT_MAX_PROFILE_BYTES).expect("snap-1.pb.gz is gzip");
    let mut g = c.benchmark_group("decode");
    configure(&mut g);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("gunzip snap-1.pb.gz", |b| b.iter(|| profile::gunzip(black_box(&gz), DEFAULT_MAX_PROFILE_BYTES).unwrap()));
    g.bench_function("protobuf snap-1.pb", |b| b.iter(|| decode(black_box(&raw))));
    g.throughput(Throughput::Bytes(gz.len() as u64));
    g.bench_function("gzip+protobuf snap-1.pb.gz", |b| b.iter(|| decode(black_box(&gz))));
    g.finish();
}

/// The text forms: debug=1 in memory, debug=2 streamed from memory and from the big file.
fn bench_text(c: &mut Criterion) {
    let d1 = read("snap-1.debug1.txt");
    let d2 = read("snap-1.debug2.txt");
    let mut g = c.benchmark_group("text");
    configure(&mut g);
    g.throughput(Throughput::Bytes(d1.len() as u64));
    g.bench_function("debug1 snap-1", |b| b.iter(|| decode(black_box(&d1))));
    g.throughput(Throughput::Bytes(d2.len() as u64));
    g.bench_function("debug2 snap-1 (streamed)", |b| b.iter(|| profile::decode_reader(std::io::Cursor::new(black_box(&d2[..])), u64::MAX).unwrap()));
    g.finish();

    let big = data_dir().join("big.debug2.txt");
    let len = match std::fs::metadata(&big) {
        Ok(m) if m.len() > 0 => m.len(),
        _ => missing(&big, "no such file"),
    };
    let mut g = c.benchmark_group("big");
    g.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(len));
    g.bench_function("debug2 big.debug2.txt (file, streamed)", |b| b.iter(|| profile::decode_reader(std::fs::File::open(&big).unwrap(), u64::MAX).unwrap()));
    // Mapped and read in place: by one thread, and in parts at once on every thread of the pool
    // (RAYON_NUM_THREADS sets how many).
    g.bench_function("debug2 big.debug2.txt (file mapped, one thread)", |b| {
        b.iter(|| profile::decode_debug2_file(&std::fs::File::open(&big).unwrap(), u64::MAX, 1).unwrap())
    });
    let parts = profile::debug2_parts(len);
    g.bench_function(format!("debug2 big.debug2.txt (file mapped, {parts} parts in parallel)"), |b| {
        b.iter(|| profile::decode_debug2_file(&std::fs::File::open(&big).unwrap(), u64::MAX, parts).unwrap())
    });
    g.finish();
}

/// Grouping a decoded profile into a fresh table, and diffing two grouped snapshots.
fn bench_group_diff(c: &mut Criterion) {
    let p0 = decode(&read("snap-0.pb.gz"));
    let p1 = decode(&read("snap-1.pb.gz"));
    let d2 = profile::decode_reader(std::io::Cursor::new(read("snap-1.debug2.txt")), u64::MAX).unwrap();
    let mut g = c.benchmark_group("group");
    configure(&mut g);
    g.throughput(Throughput::Elements(p1.samples.len() as u64));
    g.bench_function("group snap-1 proto (by line)", |b| b.iter(|| StackTable::new(GroupBy::Line, None).group_profile(black_box(&p1), 0)));
    g.bench_function("group snap-1 proto (by function)", |b| b.iter(|| StackTable::new(GroupBy::Function, None).group_profile(black_box(&p1), 0)));
    g.throughput(Throughput::Elements(d2.samples.len() as u64));
    g.bench_function("group snap-1 debug2 (by line)", |b| b.iter(|| StackTable::new(GroupBy::Line, None).group_profile(black_box(&d2), 0)));
    g.finish();

    let mut table = StackTable::new(GroupBy::Line, None);
    let base = Snapshot::from_profile(&mut table, &p0, "snap-0".into(), 0, 0);
    let new = Snapshot::from_profile(&mut table, &p1, "snap-1".into(), 1, 0);
    let mut g = c.benchmark_group("diff");
    configure(&mut g);
    g.bench_function("diff snap-0 snap-1 (grouped)", |b| b.iter(|| diff(&table, black_box(&base), black_box(&new), &DiffOptions::default())));
    let (gz0, gz1) = (read("snap-0.pb.gz"), read("snap-1.pb.gz"));
    g.bench_function("diff snap-0 snap-1 (decode+group+diff)", |b| {
        b.iter(|| {
            let mut table = StackTable::new(GroupBy::Line, None);
            let base = Snapshot::from_profile(&mut table, &decode(&gz0), "snap-0".into(), 0, 0);
            let new = Snapshot::from_profile(&mut table, &decode(&gz1), "snap-1".into(), 1, 0);
            diff(&table, &base, &new, &DiffOptions::default())
        })
    });
    g.finish();
}

/// A 12-snapshot series: ranking a built series, and everything from the gzipped files.
fn bench_series(c: &mut Criterion) {
    let files = series_files();
    let profiles: Vec<Profile> = files.iter().map(|b| decode(b)).collect();
    let opts = RankOptions::default();
    let mut series = Series::new(GroupBy::Line, None);
    for (i, p) in profiles.iter().enumerate() {
        series.push(p, format!("series/{i:02}"), None);
    }
    let mut g = c.benchmark_group("series");
    configure(&mut g);
    g.bench_function("rank 12 snapshots", |b| b.iter(|| series.rank(black_box(&opts))));
    g.bench_function("group+rank 12 decoded profiles", |b| {
        b.iter(|| {
            let mut s = Series::new(GroupBy::Line, None);
            for (i, p) in profiles.iter().enumerate() {
                s.push(p, format!("series/{i:02}"), None);
            }
            s.rank(&opts)
        })
    });
    g.bench_function("decode+group+rank 12 .pb.gz", |b| {
        b.iter(|| {
            let mut s = Series::new(GroupBy::Line, None);
            for (i, f) in files.iter().enumerate() {
                s.push(&decode(f), format!("series/{i:02}"), None);
            }
            s.rank(&opts)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_text, bench_group_diff, bench_series);
criterion_main!(benches);
