//! The built-in voice catalogue: ElevenLabs' premade voice ids, each mapped to an espeak-ng
//! voice, pitch and pace so that different voices are audibly different in local audiobooks.

pub struct Voice {
    pub id: &'static str,
    pub name: &'static str,
    /// espeak-ng `-v` argument (language + variant).
    pub espeak: &'static str,
    /// espeak-ng pitch, 0..=99.
    pub pitch: u32,
    /// espeak-ng words per minute at speed 1.0.
    pub wpm: u32,
    /// Base frequency of the tone used when espeak-ng is not installed.
    pub tone_hz: f64,
}

const fn v(id: &'static str, name: &'static str, espeak: &'static str, pitch: u32, wpm: u32, tone_hz: f64) -> Voice {
    Voice { id, name, espeak, pitch, wpm, tone_hz }
}

pub const VOICES: &[Voice] = &[
    v("21m00Tcm4TlvDq8ikWAM", "Rachel", "en-us+f3", 55, 165, 220.0),
    v("AZnzlk1XvdvUeBnXmlld", "Domi", "en-us+f4", 65, 180, 246.9),
    v("EXAVITQu4vr4xnSDxMaL", "Bella", "en-us+f2", 70, 170, 261.6),
    v("ErXwobaYiN019PkySvjV", "Antoni", "en-us+m3", 45, 170, 130.8),
    v("MF3mGyEYCl7XYWbV9V6O", "Elli", "en-us+f5", 75, 175, 293.7),
    v("TxGEqnHWrfWFTfGW9XjX", "Josh", "en-us+m1", 40, 165, 123.5),
    v("VR6AewLTigWG4xSOukaG", "Arnold", "en-us+m7", 30, 155, 98.0),
    v("pNInz6obpgDQGcFmaJgB", "Adam", "en-us+m2", 35, 160, 110.0),
    v("yoZ06aMxZJJ28mfd3POQ", "Sam", "en-us+m4", 50, 185, 146.8),
    v("onwK4e9ZLuTAKqWW03F9", "Daniel", "en-gb+m1", 40, 160, 116.5),
    v("XB0fDUnXU9nFJ98X8QFn", "Charlotte", "en-gb+f3", 60, 170, 233.1),
    // The current default set, so configurations copied from today's dashboard work too.
    v("9BWtsMINqrJLrRacOk9x", "Aria", "en-us+f1", 62, 170, 207.7),
    v("CwhRBWXzGAHq8TQ4Fs17", "Roger", "en-us+m5", 42, 165, 103.8),
    v("FGY2WhTYpPnrIDTdsKH5", "Laura", "en-us+f4", 58, 175, 277.2),
    v("IKne3meq5aSn9XLyUdCD", "Charlie", "en-gb+m3", 48, 175, 138.6),
    v("JBFqnCBsd6RMkjVDRZzb", "George", "en-gb+m2", 38, 160, 92.5),
    v("N2lVS1w4EtoT3dr4eOWO", "Callum", "en-gb+m4", 44, 170, 155.6),
    v("SAz9YHcvj6GT2YYXdXww", "River", "en-us+f2", 52, 170, 196.0),
    v("TX3LPaxmHKxFdv7VOQHJ", "Liam", "en-us+m6", 47, 180, 164.8),
    v("Xb7hH8MSUJpSbSDYk0k2", "Alice", "en-gb+f2", 64, 170, 311.1),
    v("XrExE9yKIg1WjnnlVkGX", "Matilda", "en-us+f3", 68, 165, 329.6),
    v("bIHbv24MWmeRgasZH58o", "Will", "en-us+m3", 52, 180, 174.6),
    v("cgSgspJ2msm6clMCkdW9", "Jessica", "en-us+f5", 72, 180, 349.2),
    v("cjVigY5qzO86Huf0OWal", "Eric", "en-us+m2", 46, 170, 185.0),
    v("iP95p4xoKVk53GoZ742B", "Chris", "en-us+m4", 43, 175, 87.3),
    v("nPczCjzI2devNBz1zQrb", "Brian", "en-us+m1", 33, 160, 82.4),
];

pub fn find(id: &str) -> Option<&'static Voice> {
    VOICES.iter().find(|v| v.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_findable() {
        for (i, a) in VOICES.iter().enumerate() {
            assert!(VOICES[i + 1..].iter().all(|b| b.id != a.id), "{}", a.id);
            assert_eq!(find(a.id).unwrap().name, a.name);
        }
        assert!(find("nope").is_none());
    }
}
