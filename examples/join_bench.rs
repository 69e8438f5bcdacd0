//! Benchmark of the chapter join, printing figures (not a test): how long parsing and joining a
//! chapter's clips takes, and the peak heap it needs relative to the chapter's size, which is
//! what bounds the audio job in a 128 MB Worker.
//!
//! `cargo run --release --example join_bench [lines] [seconds-per-line]` (needs `lame`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use talecast::core::mp3::{join, Clip};

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lines: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(150);
    let secs: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4.0);
    let voices: Vec<Vec<u8>> = [220.0, 330.0, 440.0].iter().map(|hz| make_clip(secs, *hz)).collect();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let raw: Vec<Vec<u8>> = (0..lines).map(|i| voices[i % voices.len()].clone()).collect();
    let input_bytes: usize = raw.iter().map(Vec::len).sum();

    let t = Instant::now();
    let clips: Vec<Clip> = raw.into_iter().map(|b| Clip::parse(b).expect("LAME output parses")).collect();
    let parse_ms = t.elapsed().as_secs_f64() * 1000.0;
    let pause_before: Vec<bool> = (0..lines).map(|i| i > 0).collect();
    let t = Instant::now();
    let joined = join(&clips, &pause_before, 400).expect("clips join");
    let join_ms = t.elapsed().as_secs_f64() * 1000.0;
    // Everything the step holds at once: the chapter's clips and the joined chapter.
    let peak = PEAK.load(Ordering::Relaxed) - base;

    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!("join_bench: {lines} clips of {secs} s, chapter {:.1} min", joined.duration_ms as f64 / 60_000.0);
    println!("  clips in:    {:.2} MiB", mib(input_bytes));
    println!("  chapter out: {:.2} MiB, {} frames", mib(joined.bytes.len()), joined.frames);
    println!("  parse:       {parse_ms:.1} ms ({:.0} MiB/s)", mib(input_bytes) / (parse_ms / 1000.0));
    println!("  join:        {join_ms:.1} ms ({:.0} MiB/s)", mib(joined.bytes.len()) / (join_ms / 1000.0));
    println!("  peak heap:   {:.2} MiB (clips + chapter) = {:.2} x the chapter", mib(peak), peak as f64 / joined.bytes.len() as f64);
}
