//! Benchmark of the chapter assembly (the "chapter assembly" rows of scripts/bench.sh), printing figures (not a test): how long building a chapter
//! takes and the peak heap it needs, which is what bounds the audio job in a 128 MB Worker.
//! Two ways, for chapters of 1x, 4x and 16x a base chapter:
//! - join: every clip parsed in memory, then joined into one Vec (peak: clips + chapter);
//! - stream: clips stored as frames only with their facts (files under target/bench_assembly/
//!   stand in for R2 and are not counted), the header planned from the facts, then each stored
//!   clip read whole, one at a time, and written out through a fixed buffer. Its peak is what
//!   a Worker would hold: the facts and the plan (~100 bytes a clip), one clip, the buffer.
//!
//! `cargo run --release --example bench_assembly [lines] [seconds-per-line] [--json=PATH]`
//! (needs `lame`); `--json` also writes the rows there for scripts/bench.sh.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use talecast::core::mp3::{join, plan, Clip, ClipFacts, Piece};

/// Counts live heap bytes and their high-water mark.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A tone clip as ElevenLabs' default format (44.1 kHz mono, 128 kbit/s), made by LAME.
fn make_clip(secs: f64, hz: f64) -> Vec<u8> {
    let rate = 44_100u32;
    let n = (secs * rate as f64) as usize;
    let mut wav = Vec::with_capacity(44 + n * 2);
    let data_len = (n * 2) as u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let s = (i as f64 * hz * 2.0 * std::f64::consts::PI / rate as f64).sin() * 8000.0;
        wav.extend_from_slice(&(s as i16).to_le_bytes());
    }
    let dir = std::env::temp_dir().join(format!("talecast-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (wav_path, mp3_path) = (dir.join(format!("{hz}.wav")), dir.join(format!("{hz}.mp3")));
    std::fs::write(&wav_path, wav).unwrap();
    let ok = Command::new("lame").args(["--quiet", "-m", "m", "-b", "128"]).arg(&wav_path).arg(&mp3_path).status();
    assert!(ok.is_ok_and(|s| s.success()), "lame is needed: run scripts/setup.sh");
    let bytes = std::fs::read(&mp3_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// What a chunked writer (the FixedLengthStream's side) holds, whatever the chapter's size.
const CHUNK: usize = 64 * 1024;

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Starts measuring: the peak from now on, over what is live now.
fn measure_from() -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    base
}

/// The store as the audio step leaves it: per clip, its frames only and its facts as metadata.
fn fill_store(dir: &Path, voices: &[Vec<u8>], lines: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..lines {
        let clip = Clip::parse(voices[i % voices.len()].clone()).expect("LAME output parses");
        let meta: String = ClipFacts::of(&clip).to_metadata().iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(dir.join(format!("{i}.meta")), meta).unwrap();
        std::fs::write(dir.join(format!("{i}.frames")), clip.into_frames_only()).unwrap();
    }
}

/// Reads one clip's metadata, as a Worker gets it with the object's head.
fn read_facts(dir: &Path, i: usize) -> ClipFacts {
    let text = std::fs::read_to_string(dir.join(format!("{i}.meta"))).unwrap();
    let meta: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    ClipFacts::from_metadata(|k| meta.get(k).map(|v| v.to_string())).expect("facts read back")
}

struct Streamed {
    ms: f64,
    peak: usize,
    largest_clip: u64,
    len: u64,
}

/// The streamed chapter, written to `out`.
fn stream(dir: &Path, lines: usize, pause_before: &[bool], out: &Path) -> Streamed {
    let base = measure_from();
    let t = Instant::now();
    let facts: Vec<ClipFacts> = (0..lines).map(|i| read_facts(dir, i)).collect();
    let a = plan(&facts, pause_before, 400).expect("clips plan");
    let mut w = std::io::BufWriter::with_capacity(CHUNK, std::fs::File::create(out).unwrap());
    w.write_all(&a.header).unwrap();
    for p in &a.pieces {
        match *p {
            Piece::Pause { frames } => w.write_all(&a.pause_bytes(frames)).unwrap(),
            Piece::Clip { index, .. } => {
                let clip = std::fs::read(dir.join(format!("{index}.frames"))).unwrap();
                facts[index].check_stored_len(clip.len() as u64).expect("stored clip matches its facts");
                facts[index].check_stored_start(&clip).expect("stored clip starts with a frame");
                w.write_all(&clip).unwrap();
            }
        }
    }
    w.flush().unwrap();
    drop(w);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    Streamed { ms, peak, largest_clip: facts.iter().map(|f| f.bytes).max().unwrap(), len: a.total_len }
}

fn main() {
    let (flags, args): (Vec<String>, Vec<String>) = std::env::args().partition(|a| a.starts_with("--"));
    let json_out = flags.iter().find_map(|f| f.strip_prefix("--json=")).map(PathBuf::from);
    let mut rows = Vec::new();
    let base_lines: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(150);
    let secs: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4.0);
    let voices: Vec<Vec<u8>> = [220.0, 330.0, 440.0].iter().map(|hz| make_clip(secs, *hz)).collect();
    let store: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench_assembly");
    let multiples = [1usize, 4, 16];
    // One store for all sizes: a smaller chapter uses the first clips.
    fill_store(&store.join("clips"), &voices, base_lines * multiples[multiples.len() - 1]);

    println!("bench_assembly: base chapter {base_lines} clips of {secs} s; 128 kbit/s mono; store in {}", store.display());
    println!(
        "  {:>5} {:>6} {:>7} {:>9} | {:>8} {:>10} {:>9} | {:>8} {:>10} {:>13}",
        "size", "clips", "min", "MiB", "join ms", "peak MiB", "x chapter", "strm ms", "peak MiB", "x largest clip"
    );
    for m in multiples {
        let lines = base_lines * m;
        let pause_before: Vec<bool> = (0..lines).map(|i| i > 0).collect();
        let out = store.join(format!("chapter-{m}x.mp3"));
        let s = stream(&store.join("clips"), lines, &pause_before, &out);

        let base = measure_from();
        let t = Instant::now();
        let raw: Vec<Vec<u8>> = (0..lines).map(|i| voices[i % voices.len()].clone()).collect();
        let clips: Vec<Clip> = raw.into_iter().map(|b| Clip::parse(b).expect("LAME output parses")).collect();
        let joined = join(&clips, &pause_before, 400).expect("clips join");
        let join_ms = t.elapsed().as_secs_f64() * 1000.0;
        // Everything the step holds at once: the chapter's clips and the joined chapter.
        let join_peak = PEAK.load(Ordering::Relaxed) - base;
        drop(clips);

        assert_eq!(s.len, joined.bytes.len() as u64);
        assert!(std::fs::read(&out).unwrap() == joined.bytes, "streamed chapter differs from join");
        let _ = std::fs::remove_file(&out);
        rows.push(format!(
            "{{\"multiple\":{m},\"clips\":{lines},\"minutes\":{:.2},\"chapter_bytes\":{},\"join_ms\":{join_ms:.1},\"join_peak_bytes\":{join_peak},\
             \"stream_ms\":{:.1},\"stream_peak_bytes\":{},\"largest_clip_bytes\":{}}}",
            joined.duration_ms as f64 / 60_000.0,
            joined.bytes.len(),
            s.ms,
            s.peak,
            s.largest_clip
        ));
        println!(
            "  {:>4}x {:>6} {:>7.1} {:>9.2} | {:>8.1} {:>10.2} {:>9.2} | {:>8.1} {:>10.3} {:>13.2}",
            m,
            lines,
            joined.duration_ms as f64 / 60_000.0,
            mib(joined.bytes.len()),
            join_ms,
            mib(join_peak),
            join_peak as f64 / joined.bytes.len() as f64,
            s.ms,
            mib(s.peak),
            s.peak as f64 / s.largest_clip as f64,
        );
    }
    println!("  join: parse + join in memory; strm: stored clips read one at a time and written through a");
    println!("  {} KiB buffer; its peak is facts + plan (~80 B a clip) + one clip + the buffer.", CHUNK / 1024);
    println!("  Every streamed chapter was checked byte-identical to join's.");
    let _ = std::fs::remove_dir_all(&store);
    if let Some(path) = json_out {
        let text = format!("{{\"base_clips\":{base_lines},\"seconds_per_clip\":{secs},\"chunk_bytes\":{CHUNK},\"rows\":[{}]}}\n", rows.join(","));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
