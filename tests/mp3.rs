//! `core::mp3` and `core::book_meta::id3` against real encoders and readers: MP3s made by LAME from
//! sine waves written here, results checked with ffprobe/ffmpeg. Needs `lame` and `ffmpeg`
//! (scripts/setup.sh installs them); missing tools fail the tests rather than skip them, so a
//! green run always means the MP3 code was checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use talecast::core::book_meta::id3::{book_tag, ChapterMark, TagMeta};
use talecast::core::mp3::{
    self, book_xing, duration_ms, frame, join, plan, read_xing, samples_per_frame, Clip, ClipFacts, Format, Mp3Error,
    Piece, Version,
};

// ---------------------------------------------------------------------------------------------
// Tools and files

fn require_tools() {
    for (tool, arg) in [("lame", "--version"), ("ffprobe", "-version"), ("ffmpeg", "-version")] {
        let ok = Command::new(tool).arg(arg).output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "`{tool}` is not installed: run scripts/setup.sh (it installs lame and ffmpeg)");
    }
}

/// A fresh directory for one test under cargo's target tmp dir.
fn workdir(name: &str) -> PathBuf {
    require_tools();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mp3-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 16-bit PCM WAV of a sine (amplitude 0 = digital silence). Returns the sample count.
fn write_wav(path: &Path, rate: u32, channels: u16, secs: f64, hz: f64, amp: f64) -> usize {
    let n = (rate as f64 * secs).round() as usize;
    let mut data = Vec::with_capacity(n * channels as usize * 2);
    for i in 0..n {
        let t = i as f64 / rate as f64;
        for c in 0..channels {
            let v = amp * 32767.0 * (2.0 * std::f64::consts::PI * hz * (c as f64 + 1.0) * t).sin();
            data.extend_from_slice(&(v as i16).to_le_bytes());
        }
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    wav.extend_from_slice(&(channels * 2).to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
    n
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn lame(args: &str, wav: &Path, mp3: &Path) -> Vec<u8> {
    run(Command::new("lame").arg("--quiet").args(args.split_whitespace()).arg(wav).arg(mp3));
    std::fs::read(mp3).unwrap()
}

fn probe(path: &Path, entries: &str, extra: &[&str]) -> String {
    run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args(extra)
        .args(["-show_entries", entries, "-of", "default=noprint_wrappers=1"])
        .arg(path))
}

fn probe_value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .to_string()
}

/// What ffprobe says: duration (s), audio packets (= frames it demuxes), sample rate, channels.
struct Probe {
    duration: f64,
    packets: u64,
    sample_rate: u32,
    channels: u8,
}

fn ffprobe(path: &Path) -> Probe {
    let out = probe(
        path,
        "format=duration:stream=sample_rate,channels,nb_read_packets",
        &["-count_packets", "-select_streams", "a:0"],
    );
    Probe {
        duration: probe_value(&out, "duration").parse().unwrap(),
        packets: probe_value(&out, "nb_read_packets").parse().unwrap(),
        sample_rate: probe_value(&out, "sample_rate").parse().unwrap(),
        channels: probe_value(&out, "channels").parse().unwrap(),
    }
}

/// ffmpeg's complaints while reading and decoding the whole file (empty when all is well).
/// Warnings count: one is how FFmpeg says it ignored a Xing header ("Estimating duration from
/// bitrate") or found junk.
fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "warning", "-err_detect", "crccheck", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

/// The decoded samples of channel 0.
fn decode_pcm(path: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn frame_secs(f: Format) -> f64 {
    samples_per_frame(f.version) as f64 / f.sample_rate as f64
}

/// Makes a clip: a sine WAV at 44.1 kHz encoded by LAME with `args`. Returns the file's bytes
/// and the number of samples the encoder was given (at the output rate).
fn encode(dir: &Path, name: &str, args: &str, channels: u16, secs: f64, hz: f64) -> (PathBuf, Vec<u8>) {
    let wav = dir.join(format!("{name}.wav"));
    write_wav(&wav, 44100, channels, secs, hz, 0.4);
    let mp3 = dir.join(format!("{name}.mp3"));
    let bytes = lame(args, &wav, &mp3);
    (mp3, bytes)
}

// ---------------------------------------------------------------------------------------------
// Clips

struct Case {
    name: &'static str,
    args: &'static str,
    channels: u16,
    secs: f64,
    rate: u32,
    out_channels: u8,
    cbr_kbps: Option<u32>,
}

const CASES: &[Case] = &[
    Case {
        name: "mono22k32",
        args: "-b 32 --resample 22.05",
        channels: 1,
        secs: 1.3,
        rate: 22050,
        out_channels: 1,
        cbr_kbps: Some(32),
    },
    Case {
        name: "stereo24k64",
        args: "-b 64 --resample 24",
        channels: 2,
        secs: 0.5,
        rate: 24000,
        out_channels: 2,
        cbr_kbps: Some(64),
    },
    Case {
        name: "mono44k128",
        args: "-b 128 --resample 44.1 -m m",
        channels: 2,
        secs: 3.0,
        rate: 44100,
        out_channels: 1,
        cbr_kbps: Some(128),
    },
    Case {
        name: "joint48k192",
        args: "-b 192 --resample 48 -m j",
        channels: 2,
        secs: 2.2,
        rate: 48000,
        out_channels: 2,
        cbr_kbps: Some(192),
    },
    Case { name: "vbr44k", args: "-V 4", channels: 2, secs: 2.0, rate: 44100, out_channels: 2, cbr_kbps: None },
    Case {
        name: "vbr16k",
        args: "-V 6 --resample 16 -m m",
        channels: 1,
        secs: 1.0,
        rate: 16000,
        out_channels: 1,
        cbr_kbps: None,
    },
    Case {
        name: "mpeg25_8k",
        args: "-b 8 --resample 8",
        channels: 1,
        secs: 1.0,
        rate: 8000,
        out_channels: 1,
        cbr_kbps: Some(8),
    },
    Case {
        name: "mono32k48",
        args: "-b 48 --resample 32",
        channels: 1,
        secs: 0.2,
        rate: 32000,
        out_channels: 1,
        cbr_kbps: Some(48),
    },
    Case {
        name: "crc",
        args: "-b 64 -p --resample 22.05",
        channels: 1,
        secs: 1.0,
        rate: 22050,
        out_channels: 1,
        cbr_kbps: Some(64),
    },
    Case {
        name: "id3v2",
        args: "-b 64 --resample 24 --id3v2-only --tt title --ta artist",
        channels: 1,
        secs: 1.0,
        rate: 24000,
        out_channels: 1,
        cbr_kbps: Some(64),
    },
    Case {
        name: "id3v2pad",
        args: "-b 64 --resample 24 --id3v2-only --pad-id3v2-size 3000 --tt title",
        channels: 1,
        secs: 1.0,
        rate: 24000,
        out_channels: 1,
        cbr_kbps: Some(64),
    },
    Case {
        name: "id3v1",
        args: "-b 64 --resample 24 --id3v1-only --tt title",
        channels: 1,
        secs: 1.0,
        rate: 24000,
        out_channels: 1,
        cbr_kbps: Some(64),
    },
    Case {
        name: "id3both",
        args: "-b 64 --resample 24 --add-id3v2 --tt title --tc comment",
        channels: 1,
        secs: 1.0,
        rate: 24000,
        out_channels: 1,
        cbr_kbps: Some(64),
    },
];

#[test]
fn clips_match_ffprobe() {
    let dir = workdir("clips");
    for c in CASES {
        // With LAME's Info/Xing frame (its default) and without it (`-t`): the same audio frames.
        let (tagged_path, tagged) = encode(&dir, c.name, c.args, c.channels, c.secs, 440.0);
        let (raw_path, raw) =
            encode(&dir, &format!("{}-t", c.name), &format!("{} -t", c.args), c.channels, c.secs, 440.0);
        let clip = Clip::parse(tagged).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let raw_clip = Clip::parse(raw).unwrap_or_else(|e| panic!("{} -t: {e}", c.name));
        assert_eq!(clip.frame_count(), raw_clip.frame_count(), "{}", c.name);
        assert_eq!(clip.format.sample_rate, c.rate, "{}", c.name);
        assert_eq!(clip.format.channels, c.out_channels, "{}", c.name);
        assert_eq!(clip.bitrate_kbps(), c.cbr_kbps, "{}", c.name);
        assert!(!clip.is_silent(), "{}", c.name);

        let p = ffprobe(&raw_path);
        assert_eq!((p.sample_rate, p.channels), (c.rate, c.out_channels), "{}", c.name);
        // ffmpeg demuxes exactly our frames, and its duration (from the bitrate when there is no
        // Xing frame) is within one frame of ours.
        assert_eq!(p.packets, raw_clip.frame_count() as u64, "{}", c.name);
        let ours = raw_clip.duration_us() as f64 / 1e6;
        if c.cbr_kbps.is_some() {
            // (Without a Xing frame ffprobe guesses a VBR file's length from its first frame.)
            let diff = (p.duration - ours).abs();
            assert!(diff <= frame_secs(clip.format), "{}: ffprobe {} ours {ours}", c.name, p.duration);
        }
        assert_eq!(ffprobe(&tagged_path).packets, clip.frame_count() as u64, "{}", c.name);

        // LAME pads by its encoder delay (576 + 529 samples) and up to a frame at the end.
        let samples = (c.secs * c.rate as f64).round() as u64;
        let coded = clip.frame_count() as u64 * samples_per_frame(clip.format.version) as u64;
        let spf = samples_per_frame(clip.format.version) as u64;
        assert!(
            coded >= samples + 1105 && coded <= samples + 1105 + 2 * spf + 576,
            "{}: {coded} for {samples}",
            c.name
        );
        eprintln!(
            "{:12} {} {:3} frames, ours {:.6} s, ffprobe (no Xing) {:.6} s, {} packets",
            c.name,
            clip.format,
            clip.frame_count(),
            ours,
            p.duration,
            p.packets
        );
    }
}

#[test]
fn crc_matches_lame() {
    let dir = workdir("crc");
    let (_, bytes) = encode(&dir, "p", "-b 64 -p -t", 2, 1.0, 330.0);
    let clip = Clip::parse(bytes).unwrap();
    for r in &clip.frames {
        let f = &clip.data[r.clone()];
        let h = frame::Header::parse(f).unwrap();
        assert!(h.crc);
        assert_eq!(u16::from_be_bytes([f[4], f[5]]), frame::crc16(f, &h));
    }
}

#[test]
fn lame_silence_is_silent() {
    let dir = workdir("silence");
    let wav = dir.join("s.wav");
    write_wav(&wav, 44100, 1, 1.0, 440.0, 0.0);
    let silent = Clip::parse(lame("-b 64 --resample 24", &wav, &dir.join("s.mp3"))).unwrap();
    assert!(silent.is_silent());
    assert_eq!(join(std::slice::from_ref(&silent), &[false], 500).unwrap_err(), Mp3Error::Silent);
    assert_eq!(join(&[silent.clone(), silent.clone()], &[false, true], 500).unwrap_err(), Mp3Error::Silent);
    let (_, voice) = encode(&dir, "v", "-b 64 --resample 24 -m m", 1, 0.5, 500.0);
    let voice = Clip::parse(voice).unwrap();
    assert!(!voice.is_silent());
    let j = join(&[silent, voice], &[false, true], 500).unwrap();
    assert!(j.frames > 0);
}

// ---------------------------------------------------------------------------------------------
// Joining

/// Joins three clips with pauses, checks the result with ffprobe/ffmpeg, returns it.
fn check_join(dir: &Path, name: &str, clips: Vec<Clip>, pause_before: &[bool], pause_ms: u32) -> mp3::Joined {
    let format = clips[0].format;
    let clip_frames: Vec<u64> = clips.iter().map(|c| c.frame_count() as u64).collect();
    let j = join(&clips, pause_before, pause_ms).unwrap();
    let path = dir.join(format!("{name}.mp3"));
    std::fs::write(&path, &j.bytes).unwrap();

    let pause_frames = ((pause_ms as f64 / 1000.0) / frame_secs(format)).round() as u64;
    let pauses = pause_before.iter().skip(1).filter(|&&p| p).count() as u64;
    assert_eq!(j.frames, clip_frames.iter().sum::<u64>() + pauses * pause_frames, "{name}");
    assert_eq!(j.duration_ms, duration_ms(format, j.frames));
    assert_eq!(j.format, format);
    let x = read_xing(&j.bytes).unwrap();
    assert_eq!(
        (x.frames, x.header_len, x.audio_bytes),
        (j.frames, j.header_len, (j.bytes.len() - j.header_len) as u64)
    );
    assert_eq!(x.cbr, j.bitrate_kbps > 0, "{name}");
    assert_eq!(x.cbr_kbps().unwrap_or(0), j.bitrate_kbps, "{name}");
    let cbr = clips.iter().map(|c| c.bitrate_kbps()).reduce(|a, b| if a == b { a } else { None }).flatten();
    assert_eq!(j.bitrate_kbps, cbr.unwrap_or(0), "{name}");

    let p = ffprobe(&path);
    assert_eq!((p.sample_rate, p.channels), (format.sample_rate, format.channels), "{name}");
    assert_eq!(p.packets, j.frames, "{name}");
    let diff_ms = (p.duration * 1000.0 - j.duration_ms as f64).abs();
    assert!(diff_ms <= frame_secs(format) * 1000.0, "{name}: ffprobe {} s, ours {} ms", p.duration, j.duration_ms);
    assert_eq!(decode_errors(&path), "", "{name}");

    // The pauses decode to digital silence, past the previous clip's tail: the decoder's delay
    // (529 samples) and overlap-add carry its last granule into the next two 576-sample frames.
    let pcm = decode_pcm(&path);
    let spf = samples_per_frame(format.version) as u64;
    assert_eq!(pcm.len() as u64, j.frames * spf, "{name}: every frame decodes to samples");
    let mut at = 0u64;
    for (i, frames) in clip_frames.iter().enumerate() {
        if i > 0 && pause_before[i] && pause_frames > 3 {
            let quiet = &pcm[((at + 2) * spf) as usize..((at + pause_frames) * spf) as usize];
            assert!(quiet.iter().all(|&s| s == 0), "{name}: pause before clip {i} is not silent");
            at += pause_frames;
        } else if i > 0 && pause_before[i] {
            at += pause_frames;
        }
        let sound = &pcm[(at * spf) as usize..((at + frames) * spf) as usize];
        assert!(sound.iter().any(|&s| s.abs() > 1000), "{name}: clip {i} is missing");
        at += frames;
    }
    eprintln!(
        "{name:14} {} {} frames ({} header bytes, {} total): duration_ms {}, ffprobe {:.6} s, {} packets",
        format,
        j.frames,
        j.header_len,
        j.bytes.len(),
        j.duration_ms,
        p.duration,
        p.packets
    );
    j
}

fn clips(dir: &Path, prefix: &str, args: &str, channels: u16, secs: &[f64]) -> Vec<Clip> {
    secs.iter()
        .enumerate()
        .map(|(i, &s)| {
            let (_, b) = encode(dir, &format!("{prefix}{i}"), args, channels, s, 300.0 + 150.0 * i as f64);
            Clip::parse(b).unwrap()
        })
        .collect()
}

#[test]
fn joins_match_ffprobe() {
    let dir = workdir("join");
    let cbr = clips(&dir, "a", "-b 64 --resample 24 -m m", 1, &[1.0, 0.4, 2.3]);
    let j = check_join(&dir, "cbr24k_mono", cbr, &[false, true, true], 400);
    assert_eq!(&j.bytes[4 + 9..4 + 9 + 4], b"Info");

    let stereo = clips(&dir, "b", "-b 128 -m j", 2, &[0.7, 1.5, 0.3]);
    check_join(&dir, "cbr44k_stereo", stereo, &[true, false, true], 750);

    let vbr = clips(&dir, "c", "-V 5 --resample 22.05", 2, &[1.2, 0.6, 1.0]);
    let j = check_join(&dir, "vbr22k", vbr, &[false, true, true], 300);
    assert_eq!(&j.bytes[4 + 17..4 + 17 + 4], b"Xing");
    assert!(read_xing(&j.bytes).unwrap().toc.is_some());

    // Two CBR bitrates in one file make it VBR.
    let mut mixed = clips(&dir, "d", "-b 32 --resample 16 -m m", 1, &[0.8]);
    mixed.extend(clips(&dir, "e", "-b 64 --resample 16 -m m", 1, &[0.9, 0.5]));
    let j = check_join(&dir, "mixed16k", mixed, &[false, true, false], 1000);
    assert!(!read_xing(&j.bytes).unwrap().cbr);

    // No pauses at all, and a pause shorter than half a frame (rounds to none).
    let short = clips(&dir, "f", "-b 48 --resample 32 -m m", 1, &[0.3, 0.3, 0.3]);
    check_join(&dir, "nopause", short.clone(), &[false, false, false], 500);
    check_join(&dir, "tinypause", short, &[false, true, true], 10);
}

#[test]
fn join_refuses_mismatched_formats() {
    let dir = workdir("mismatch");
    let a = clips(&dir, "a", "-b 64 --resample 22.05 -m m", 1, &[0.3]).remove(0);
    let b = clips(&dir, "b", "-b 64 --resample 24 -m m", 1, &[0.3]).remove(0);
    let c = clips(&dir, "c", "-b 64 --resample 24 -m s", 2, &[0.3]).remove(0);
    assert_eq!(
        join(&[a.clone(), b.clone()], &[false, true], 100).unwrap_err(),
        Mp3Error::FormatMismatch { expected: a.format, found: b.format }
    );
    assert_eq!(
        join(&[b.clone(), c.clone()], &[false, false], 100).unwrap_err(),
        Mp3Error::FormatMismatch { expected: b.format, found: c.format }
    );
    assert_eq!(join(&[], &[], 100).unwrap_err(), Mp3Error::Empty);
    // One file made of two formats is refused by parse already.
    let mut two = std::fs::read(dir.join("a0.mp3")).unwrap();
    two.extend(std::fs::read(dir.join("b0.mp3")).unwrap());
    assert!(matches!(Clip::parse(two), Err(Mp3Error::FormatMismatch { .. })));
    // The same format twice in one file (two LAME files back to back) is fine: the second
    // Info frame is dropped too.
    let mut same = std::fs::read(dir.join("b0.mp3")).unwrap();
    same.extend(std::fs::read(dir.join("b0.mp3")).unwrap());
    assert_eq!(Clip::parse(same).unwrap().frame_count(), 2 * b.frame_count());
}

/// The seek table from the real frame positions, found by walking the file's frames.
fn exact_toc(bytes: &[u8], header_len: usize, frames: u64) -> [u8; 100] {
    let mut starts = Vec::new();
    let mut at = header_len;
    while at < bytes.len() {
        starts.push(at as u64);
        at += frame::Header::parse(&bytes[at..]).unwrap().len;
    }
    assert_eq!(starts.len() as u64, frames);
    std::array::from_fn(|i| {
        let pos = starts[(frames * i as u64 / 100) as usize];
        (pos as u128 * 256 / bytes.len() as u128).min(255) as u8
    })
}

/// Streams a chapter as the Worker does: each clip stored as its frames only (a file here) with
/// its facts as metadata, the header planned from the facts read back, then each stored clip
/// read and copied in turn. Checks it against `join` and ffprobe; returns the largest difference
/// between its seek table and the exact one, and the largest piece's span in table units (what
/// interpolation inside a piece can be off by).
fn check_streamed(dir: &Path, name: &str, clips: Vec<Clip>, pause_before: &[bool], pause_ms: u32) -> (u8, u8) {
    let joined = join(&clips, pause_before, pause_ms).unwrap();
    let mut facts = Vec::new();
    let mut stored = Vec::new();
    for (i, clip) in clips.into_iter().enumerate() {
        let meta: std::collections::HashMap<String, String> = ClipFacts::of(&clip).to_metadata().into_iter().collect();
        let f = ClipFacts::from_metadata(|k| meta.get(k).cloned()).expect("facts read back");
        assert_eq!(f, ClipFacts::of(&clip), "{name}");
        let path = dir.join(format!("{name}-{i}.frames"));
        std::fs::write(&path, clip.into_frames_only()).unwrap();
        facts.push(f);
        stored.push(path);
    }
    let a = plan(&facts, pause_before, pause_ms).unwrap();
    let mut out = a.header.clone();
    for p in &a.pieces {
        match *p {
            Piece::Pause { frames } => out.extend(a.pause_bytes(frames)),
            Piece::Clip { index, bytes } => {
                let b = std::fs::read(&stored[index]).unwrap();
                facts[index].check_stored_len(b.len() as u64).unwrap();
                facts[index].check_stored_start(&b).unwrap();
                assert_eq!(b.len() as u64, bytes);
                out.extend(b);
            }
        }
    }
    assert_eq!(out.len() as u64, a.total_len, "{name}");
    assert!(out == joined.bytes, "{name}: streamed chapter differs from join");
    assert_eq!((a.frames, a.duration_ms, a.bitrate_kbps), (joined.frames, joined.duration_ms, joined.bitrate_kbps));

    let path = dir.join(format!("{name}.mp3"));
    std::fs::write(&path, &out).unwrap();
    let p = ffprobe(&path);
    assert_eq!(p.packets, a.frames, "{name}");
    let diff_ms = (p.duration * 1000.0 - a.duration_ms as f64).abs();
    assert!(diff_ms <= frame_secs(a.format) * 1000.0, "{name}: ffprobe {} s, planned {} ms", p.duration, a.duration_ms);
    assert_eq!(decode_errors(&path), "", "{name}");

    let toc = read_xing(&out).unwrap().toc.expect("a seek table");
    assert!(toc.windows(2).all(|w| w[0] <= w[1]), "{name}: {toc:?}");
    let exact = exact_toc(&out, a.header_len, a.frames);
    let worst = toc.iter().zip(exact).map(|(&t, e)| t.abs_diff(e)).max().unwrap();
    let widest = a.pieces.iter().map(|p| a.piece_len(p)).max().unwrap();
    let span = (widest * 256).div_ceil(a.total_len) as u8;
    eprintln!(
        "{name:14} {} frames, {} bytes, ffprobe {:.6} s, table off by {worst} at most (widest piece {span})",
        a.frames,
        out.len(),
        p.duration
    );
    (worst, span)
}

#[test]
fn streamed_chapter_is_join_byte_for_byte() {
    let dir = workdir("stream");
    // ElevenLabs' mp3_44100_128: frames of 417 or 418 bytes (LAME pads), so the table is
    // interpolated inside each clip and may be a 1/256 step off where a frame straddles one.
    let eleven = clips(&dir, "a", "-b 128 -m m --add-id3v2 --tt line", 1, &[1.1, 0.4, 2.6, 0.9]);
    assert!(eleven[2].frames.iter().any(|r| r.len() == 417) && eleven[2].frames.iter().any(|r| r.len() == 418));
    assert!(check_streamed(&dir, "eleven", eleven, &[false, true, true, false], 400).0 <= 1);
    // Frames of one size (24 kHz, 64 kbit/s: 192 bytes): the table is exact.
    let even = clips(&dir, "b", "-b 64 --resample 24 -m m", 1, &[0.8, 1.7, 0.3]);
    assert!(even.iter().all(|c| c.frames.iter().all(|r| r.len() == 192)));
    assert_eq!(check_streamed(&dir, "even", even, &[false, true, true], 350).0, 0);
    // VBR: interpolated, so off by less than a clip's share of the file (large here with three
    // short clips; a chapter of 150 lines spans about 2 of 256 per clip).
    let vbr = clips(&dir, "c", "-V 5 --resample 22.05", 2, &[1.2, 0.6, 1.0]);
    let (worst, span) = check_streamed(&dir, "vbr", vbr, &[false, true, true], 300);
    assert!(worst <= span, "{worst} > {span}");
    let many = clips(&dir, "d", "-V 4", 1, &[0.3; 40]);
    let (worst, span) = check_streamed(&dir, "vbr_many", many, &[true; 40], 200);
    assert!(worst <= span && worst <= 3, "{worst}, {span}");
}

/// A clip cut from a longer stream starts with frames whose audio data began in frames it lacks;
/// parse rewrites them as silent frames (CRC included: the frames here are protected, and
/// ffmpeg checks CRCs in `decode_errors`).
#[test]
fn stream_cut_mid_reservoir_still_joins_cleanly() {
    let dir = workdir("cut");
    let (_, bytes) = encode(&dir, "v", "-V 2 -t -p", 2, 3.0, 500.0);
    let whole = Clip::parse(bytes.clone()).unwrap();
    // Cut at a frame whose audio starts in the frames before it.
    let cut_at = whole
        .frames
        .iter()
        .skip(10)
        .find(|r| {
            let f = &whole.data[(*r).clone()];
            frame::main_data_begin(f, &frame::Header::parse(f).unwrap()) > 0
        })
        .expect("LAME uses the bit reservoir")
        .start;
    let tail = Clip::parse(bytes[cut_at..].to_vec()).unwrap();
    let first = &tail.data[tail.frames[0].clone()];
    let h = frame::Header::parse(first).unwrap();
    assert_eq!(frame::main_data_begin(first, &h), 0);
    assert!(frame::is_silent(first, &h));
    let head = clips(&dir, "h", "-V 2 -p", 2, &[0.5]).remove(0);
    let j = join(&[head, tail], &[false, true], 200).unwrap();
    let path = dir.join("joined.mp3");
    std::fs::write(&path, &j.bytes).unwrap();
    assert_eq!(decode_errors(&path), "");
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_input_is_refused() {
    let dir = workdir("bad");
    let (_, mp3) = encode(&dir, "ok", "-b 64 --resample 24 --id3v2-only --tt t", 1, 1.0, 440.0);
    let wav = std::fs::read(dir.join("ok.wav")).unwrap();

    assert_eq!(Clip::parse(vec![]).unwrap_err(), Mp3Error::Empty);
    assert!(matches!(Clip::parse(wav).unwrap_err(), Mp3Error::NotMp3(ref s) if s.contains("WAV")));
    // A WAV without its header is raw PCM: no frames.
    let pcm = std::fs::read(dir.join("ok.wav")).unwrap()[44..].to_vec();
    assert!(matches!(Clip::parse(pcm).unwrap_err(), Mp3Error::NotMp3(_)));
    let mut rng = XorShift(0x5eed);
    let random: Vec<u8> = (0..20_000).map(|_| rng.next() as u8).collect();
    assert!(Clip::parse(random).is_err());
    // Cut inside a frame, inside the ID3v2 tag, after the tag only.
    let clip = Clip::parse(mp3.clone()).unwrap();
    let mid = clip.frames[clip.frames.len() / 2].start + 50;
    assert!(matches!(Clip::parse(mp3[..mid].to_vec()).unwrap_err(), Mp3Error::Truncated(_)));
    assert!(matches!(Clip::parse(mp3[..20].to_vec()).unwrap_err(), Mp3Error::Truncated(_)));
    let tag_end = 10 + mp3[6..10].iter().fold(0usize, |a, &x| (a << 7) | x as usize);
    assert_eq!(Clip::parse(mp3[..tag_end].to_vec()).unwrap_err(), Mp3Error::Empty);
    // Junk in the middle bigger than the resync allowance.
    let mut spliced = mp3.clone();
    spliced.splice(mid..mid, std::iter::repeat_n(0x42, 5000));
    assert!(matches!(Clip::parse(spliced).unwrap_err(), Mp3Error::NotMp3(_)));
    for text in [&b"<html><body>502</body></html>"[..], b"{\"detail\": {\"status\": \"quota_exceeded\"}}"] {
        assert!(matches!(Clip::parse(text.to_vec()).unwrap_err(), Mp3Error::NotMp3(_)));
    }
    for e in [Mp3Error::Empty, Clip::parse(b"{}".to_vec()).unwrap_err(), Clip::parse(mp3[..mid].to_vec()).unwrap_err()]
    {
        eprintln!("error text: {e}");
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What must hold for any successful parse.
fn check_clip(c: &Clip) {
    let mut prev_end = 0;
    for r in &c.frames {
        assert!(r.start >= prev_end && r.start < r.end && r.end <= c.data.len());
        prev_end = r.end;
    }
    let _ = (c.duration_us(), c.is_silent(), c.bitrate_kbps());
    if let Ok(j) = join(&[c.clone(), c.clone()], &[false, true], 300) {
        assert_eq!(read_xing(&j.bytes).unwrap().frames, j.frames);
    }
    // Whatever parse accepts, its stored form and facts agree and survive metadata.
    let facts = ClipFacts::of(c);
    let meta: std::collections::HashMap<String, String> = facts.to_metadata().into_iter().collect();
    assert_eq!(ClipFacts::from_metadata(|k| meta.get(k).cloned()).as_ref(), Some(&facts));
    let stored = c.clone().into_frames_only();
    assert_eq!(facts.check_stored_len(stored.len() as u64), Ok(()));
    assert_eq!(facts.check_stored_start(&stored), Ok(()));
}

#[test]
fn fuzz_never_panics() {
    let dir = workdir("fuzz");
    let (_, mp3) = encode(&dir, "seed", "-V 3 --resample 22.05 --add-id3v2 --tt fuzz", 2, 1.0, 440.0);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    // Random strings, some dressed with a frame header or an ID3 header to get past the first check.
    for i in 0..2000 {
        let len = rng.below(3000);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        match i % 4 {
            1 if b.len() >= 4 => b[..4].copy_from_slice(&[0xFF, 0xFB, 0x50, 0xC4]),
            2 if b.len() >= 10 => b[..10].copy_from_slice(b"ID3\x04\x00\x10\x00\x00\x01\x00"),
            3 => b.extend_from_slice(b"TAG"),
            _ => {}
        }
        if let Ok(c) = Clip::parse(b) {
            accepted += 1;
            check_clip(&c);
        }
    }
    // Mutations of a real file: flipped bytes, inserted and deleted runs, cuts.
    let mut ok = 0;
    for _ in 0..1000 {
        let mut b = mp3.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(b.len());
            match rng.below(5) {
                0 => b[at] ^= 1 << rng.below(8),
                1 => b[at] = rng.next() as u8,
                2 => {
                    let n = rng.below(600);
                    b.splice(at..at, (0..n).map(|_| rng.next() as u8));
                }
                3 => {
                    let n = rng.below(600).min(b.len() - at);
                    b.drain(at..at + n);
                }
                _ => b.truncate(at),
            }
            if b.is_empty() {
                break;
            }
        }
        if let Ok(c) = Clip::parse(b) {
            ok += 1;
            check_clip(&c);
        }
    }
    eprintln!("fuzz: {accepted} of 2000 random strings parsed, {ok} of 1000 mutated files parsed");
    assert!(ok > 0, "some light mutations must still parse");
}

// ---------------------------------------------------------------------------------------------
// The book: ID3v2 chapters + one Xing header for every chapter's frames

/// How the book's Xing frame is made.
#[derive(Clone, Copy, Debug)]
enum BookHeader {
    /// `book_xing` over the chapters' own headers (read from their first bytes).
    FromChapters,
    /// `xing_frame` from facts stored at join time (frames, bytes, bitrate), reading no audio.
    FromStoredFacts,
}

/// Two chapters joined from LAME clips, put behind `book_tag` and one header for the whole
/// book, then read back by ffprobe: chapters, titles, times, duration, frames, clean decode.
fn check_book(dir: &Path, name: &str, args: &str, channels: u16, how: BookHeader, second_title: &str) {
    let ch1 = join(&clips(dir, &format!("{name}-a"), args, channels, &[1.0, 1.5]), &[false, true], 500).unwrap();
    let ch2 =
        join(&clips(dir, &format!("{name}-b"), args, channels, &[2.0, 0.7, 1.1]), &[false, true, true], 500).unwrap();
    let marks = vec![
        ChapterMark { id: "ch1".into(), title: "The Beginning".into(), start_ms: 0, end_ms: ch1.duration_ms as u32 },
        ChapterMark {
            id: "ch2".into(),
            title: second_title.into(),
            start_ms: ch1.duration_ms as u32,
            end_ms: (ch1.duration_ms + ch2.duration_ms) as u32,
        },
    ];
    let title = "A Tale — of Two Chapters";
    let meta = TagMeta { title, album: title, artist: None, track: None, picture: None };
    let tag = book_tag(&meta, &marks).bytes;
    let frames = ch1.frames + ch2.frames;
    let audio_bytes = (ch1.bytes.len() - ch1.header_len + ch2.bytes.len() - ch2.header_len) as u64;
    let header = match how {
        BookHeader::FromChapters => {
            book_xing(&[read_xing(&ch1.bytes).unwrap(), read_xing(&ch2.bytes).unwrap()]).unwrap()
        }
        BookHeader::FromStoredFacts => {
            let cbr = ch1.bitrate_kbps > 0 && ch1.bitrate_kbps == ch2.bitrate_kbps;
            mp3::xing_frame(ch1.format, ch1.bitrate_kbps, frames, audio_bytes, cbr)
        }
    };
    let mut book = tag.clone();
    book.extend_from_slice(&header);
    book.extend_from_slice(&ch1.bytes[ch1.header_len..]);
    book.extend_from_slice(&ch2.bytes[ch2.header_len..]);
    let path = dir.join(format!("{name}.mp3"));
    std::fs::write(&path, &book).unwrap();

    let out =
        run(Command::new("ffprobe").args(["-v", "error", "-show_chapters", "-show_format", "-of", "json"]).arg(&path));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chapters = json["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 2, "{name}: {out}");
    let secs = |v: &serde_json::Value| v.as_str().unwrap().parse::<f64>().unwrap();
    for (c, m) in chapters.iter().zip(&marks) {
        assert_eq!(c["tags"]["title"], m.title.as_str(), "{name}: {out}");
        assert_eq!((secs(&c["start_time"]) * 1000.0).round() as u32, m.start_ms, "{name}: {out}");
        assert_eq!((secs(&c["end_time"]) * 1000.0).round() as u32, m.end_ms, "{name}: {out}");
    }
    assert_eq!(json["format"]["tags"]["title"], "A Tale — of Two Chapters");
    let total_ms = duration_ms(ch1.format, frames);
    let probed_ms = secs(&json["format"]["duration"]) * 1000.0;
    assert!(
        (probed_ms - total_ms as f64).abs() <= frame_secs(ch1.format) * 1000.0,
        "{name}: {probed_ms} vs {total_ms}"
    );
    let p = ffprobe(&path);
    assert_eq!(p.packets, frames, "{name}");
    assert_eq!(decode_errors(&path), "", "{name}");
    // Parsing the book as a clip finds every chapter's frames behind the tag and header.
    assert_eq!(Clip::parse(book).unwrap().frame_count() as u64, frames, "{name}");
    eprintln!(
        "{name:18} ({how:?}): tag {} B, header {} B, {frames} frames, duration_ms {total_ms}, ffprobe {probed_ms:.3} ms; \
         chapters {:?}",
        tag.len(),
        header.len(),
        chapters.iter().map(|c| (c["start_time"].as_str().unwrap(), c["end_time"].as_str().unwrap())).collect::<Vec<_>>()
    );
}

#[test]
fn book_with_chapters_reads_back_in_ffprobe() {
    let dir = workdir("book");
    // A title over 127 bytes: the size FFmpeg misreads in ID3v2.4 nested frames.
    let long_title = format!("Chapitre deux — « {} »", "très long titre ".repeat(12));
    check_book(&dir, "mono24k", "-b 64 --resample 24 -m m", 1, BookHeader::FromChapters, &long_title);
    // Copyrighted, non-original frames with CRCs behind a header made from stored facts (which
    // has LAME's default flags): FFmpeg still takes it as the header, and the CRCs stay valid.
    check_book(&dir, "mono24k-flags-crc", "-b 64 --resample 24 -m m -c -o -p", 1, BookHeader::FromStoredFacts, "Two");
    check_book(&dir, "joint44k", "-b 128 -m j", 2, BookHeader::FromStoredFacts, "Deux 🎧");
    check_book(&dir, "vbr22k", "-V 5 --resample 22.05", 2, BookHeader::FromStoredFacts, "Two");
    check_book(&dir, "vbr22k-merged", "-V 5 --resample 22.05", 2, BookHeader::FromChapters, "Two");
    // Plain (not joint) stereo, both ways.
    check_book(&dir, "stereo32k", "-b 96 -m s --resample 32", 2, BookHeader::FromChapters, "Two");
    check_book(&dir, "stereo32k-facts", "-b 96 -m s --resample 32", 2, BookHeader::FromStoredFacts, "Two");
}

#[test]
fn mpeg_versions_are_named() {
    // The format's version follows the sample rate LAME was asked for.
    let dir = workdir("versions");
    for (args, v) in [
        ("-b 64", Version::Mpeg1),
        ("-b 32 --resample 16", Version::Mpeg2),
        ("-b 16 --resample 11.025", Version::Mpeg25),
    ] {
        let (_, b) = encode(&dir, &args.replace([' ', '.'], "_"), args, 1, 0.3, 440.0);
        assert_eq!(Clip::parse(b).unwrap().format.version, v, "{args}");
    }
}
