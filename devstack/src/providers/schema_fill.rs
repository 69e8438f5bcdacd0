//! Generates a value that satisfies a JSON schema (the structured-outputs subset), the same
//! value for the same seed. The schema drives everything; property-name heuristics only make
//! story scripts look like real chapters:
//! - a `lines` array (also `script`, `dialogue`) gets 40–80 entries, or [`Plan::lines`] when the
//!   admin knob forces a count, or the draft's count in the enhance pass — always within the
//!   schema's minItems/maxItems;
//! - the cast array (`characters`, `cast`, `speakers`) lists 2–5 characters, so a chapter has
//!   3–6 speakers with the Narrator (fewer when a forced count is too small to give each a line);
//!   every listed character speaks, the Narrator opens the chapter, and no one else speaks;
//! - each line's text is 40–300 characters of whole sentences: narration for the Narrator,
//!   dialogue addressing the others for characters (schema min/maxLength win where narrower);
//! - with a draft ([`Plan::draft`], the enhance pass) each line keeps the draft line's speaker,
//!   the cast keeps the draft's names and the title stays; only the words change.
use super::prose;
use super::rng::Rng;
use super::schema_check::resolve_ref;
use serde_json::{Map, Number, Value};

/// Past this depth, recursion is steered to its exits (empty arrays, null branches).
const SOFT_DEPTH: usize = 8;
/// Past this depth the schema cannot terminate (e.g. an object that requires itself).
const HARD_DEPTH: usize = 64;
/// Array properties that list the cast; speakers elsewhere in the same response come from them.
const CAST_KEYS: &[&str] = &["characters", "cast", "speakers"];
/// Array properties that hold a script's lines.
const LINE_KEYS: &[&str] = &["lines", "script", "dialogue"];
const NARRATOR: &str = "Narrator";
/// A chapter's size when nothing forces it: lines, and characters besides the Narrator.
pub const DEFAULT_LINES: (u64, u64) = (40, 80);
pub const DEFAULT_CHARACTERS: (u64, u64) = (2, 5);
/// Characters of a line's text: long enough to sound like a line, far below any TTS limit.
pub const LINE_TEXT_CHARS: (usize, usize) = (40, 300);

/// What a script request asks for beyond its schema.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Entries of every `lines` array (the `/__admin/script` knob); None = the draft's count, or
    /// a realistic default.
    pub lines: Option<usize>,
    /// The script the enhance pass rewrites.
    pub draft: Option<Draft>,
}

#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub title: String,
    /// Each line's speaker, in order.
    pub speakers: Vec<String>,
    /// The names in the draft's cast list.
    pub characters: Vec<String>,
}

#[cfg(test)]
pub fn fill(root: &Value, seed: &[u8]) -> Result<Value, String> {
    fill_with(root, seed, &Plan::default())
}

pub fn fill_with(root: &Value, seed: &[u8], plan: &Plan) -> Result<Value, String> {
    let mut rng = Rng::from_bytes(seed);
    let mut names = prose::cast(&mut rng, 12);
    let mut cast_size = rng.range(DEFAULT_CHARACTERS.0, DEFAULT_CHARACTERS.1) as usize;
    if let Some(d) = &plan.draft {
        // The draft's cast: its list, then any speaker it forgot to list.
        let mut cast: Vec<String> = Vec::new();
        for n in d.characters.iter().chain(&d.speakers) {
            if !is_narrator(n) && !cast.contains(n) {
                cast.push(n.clone());
            }
        }
        cast_size = cast.len();
        names.retain(|n| !cast.contains(n));
        cast.append(&mut names);
        names = cast;
    } else if let Some(n) = plan.lines {
        // Room for the Narrator's opening line and one line per character.
        cast_size = cast_size.min(n.saturating_sub(1));
    }
    let mut f = Filler { root, rng, names, cast_size, listed: Vec::new(), plan, line_speakers: Vec::new() };
    f.value(root, &Ctx { key: None, cast_slot: None, line_slot: None, depth: 0 })
}

struct Filler<'a> {
    root: &'a Value,
    rng: Rng,
    /// Names in the order characters are introduced; slot i always gets names[i].
    names: Vec<String>,
    cast_size: usize,
    /// Names actually written into a cast array in this response.
    listed: Vec<String>,
    plan: &'a Plan,
    /// Who speaks each entry of the lines array being filled.
    line_speakers: Vec<String>,
}

#[derive(Clone, Copy)]
struct Ctx<'k> {
    key: Option<&'k str>,
    /// Set for values inside the i-th entry of a cast array.
    cast_slot: Option<usize>,
    /// Set for values inside the i-th entry of a lines array.
    line_slot: Option<usize>,
    depth: usize,
}

impl<'a> Filler<'a> {
    fn value(&mut self, schema: &'a Value, ctx: &Ctx) -> Result<Value, String> {
        if ctx.depth > HARD_DEPTH {
            return Err("schema recursion never terminates".into());
        }
        let schema = self.deref(schema)?;
        let Some(obj) = schema.as_object() else {
            // `true` or `{}`-like: anything goes, so say something readable.
            return Ok(Value::String(prose::sentence(&mut self.rng)));
        };
        if let Some(c) = obj.get("const") {
            return Ok(c.clone());
        }
        if let Some(Value::Array(options)) = obj.get("enum") {
            if !options.is_empty() {
                return Ok(self.rng.pick(options).clone());
            }
        }
        for combinator in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(combinator) {
                if !branches.is_empty() {
                    let branch = self.choose_branch(branches, ctx)?;
                    return self.value(branch, &Ctx { depth: ctx.depth + 1, ..*ctx });
                }
            }
        }
        if let Some(Value::Array(parts)) = obj.get("allOf") {
            if let Some(first) = parts.first() {
                // Good enough for the `allOf: [{$ref}]` wrapper that schema generators emit.
                return self.value(first, &Ctx { depth: ctx.depth + 1, ..*ctx });
            }
        }
        let ty = self.choose_type(obj, ctx);
        match ty.as_str() {
            "null" => Ok(Value::Null),
            "boolean" => Ok(Value::Bool(self.rng.chance(0.5))),
            "integer" => Ok(self.integer(obj)),
            "number" => Ok(self.number(obj)),
            "array" => self.array(obj, ctx),
            "object" => self.object(obj, ctx),
            _ => Ok(Value::String(self.string(obj, ctx))),
        }
    }

    fn deref(&self, mut schema: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..32 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => schema = resolve_ref(self.root, r).ok_or_else(|| format!("unresolvable $ref '{r}'"))?,
                None => return Ok(schema),
            }
        }
        Err("$ref chain too long".into())
    }

    fn choose_branch(&mut self, branches: &'a [Value], ctx: &Ctx) -> Result<&'a Value, String> {
        let deep = ctx.depth > SOFT_DEPTH;
        let mut null_branch = None;
        for b in branches {
            if self.deref(b)?.get("type") == Some(&Value::String("null".into())) {
                null_branch = Some(b);
            }
        }
        if let Some(nb) = null_branch {
            if deep || self.rng.chance(null_chance(ctx.key)) {
                return Ok(nb);
            }
            let rest: Vec<&Value> = branches.iter().filter(|b| !std::ptr::eq(*b, nb)).collect();
            if !rest.is_empty() {
                return Ok(*self.rng.pick(&rest));
            }
        }
        Ok(self.rng.pick(branches))
    }

    fn choose_type(&mut self, obj: &Map<String, Value>, ctx: &Ctx) -> String {
        match obj.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => {
                let ts: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = ts.iter().copied().filter(|t| *t != "null").collect();
                let nullable = ts.contains(&"null");
                if non_null.is_empty()
                    || (nullable && (ctx.depth > SOFT_DEPTH || self.rng.chance(null_chance(ctx.key))))
                {
                    return "null".into();
                }
                self.rng.pick(&non_null).to_string()
            }
            _ if obj.contains_key("properties") => "object".into(),
            _ if obj.contains_key("items") => "array".into(),
            _ => "string".into(),
        }
    }

    fn object(&mut self, obj: &'a Map<String, Value>, ctx: &Ctx) -> Result<Value, String> {
        let mut out = Map::new();
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            // The cast goes first so that speakers in sibling properties can be drawn from it.
            let mut keys: Vec<&'a String> = props.keys().collect();
            keys.sort_by_key(|k| !is_cast_key(k));
            for k in keys {
                let child = Ctx { key: Some(k.as_str()), depth: ctx.depth + 1, ..*ctx };
                let v = self.value(&props[k.as_str()], &child)?;
                out.insert(k.clone(), v);
            }
        }
        // Non-strict schemas may require keys they never describe.
        if let Some(Value::Array(req)) = obj.get("required") {
            for k in req.iter().filter_map(Value::as_str) {
                if !out.contains_key(k) {
                    out.insert(k.to_string(), Value::String(prose::sentence(&mut self.rng)));
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn array(&mut self, obj: &'a Map<String, Value>, ctx: &Ctx) -> Result<Value, String> {
        let min = obj.get("minItems").and_then(Value::as_u64);
        let max = obj.get("maxItems").and_then(Value::as_u64);
        let lo_req = min.unwrap_or(0);
        let cast_array = ctx.key.is_some_and(is_cast_key);
        let line_array = !cast_array && ctx.key.is_some_and(is_line_key);
        let n = if ctx.depth > SOFT_DEPTH {
            lo_req
        } else if cast_array {
            clamp(self.cast_size as u64, min, max)
        } else if line_array {
            let want = match (self.plan.lines, &self.plan.draft) {
                (Some(n), _) => n as u64,
                (None, Some(d)) => d.speakers.len() as u64,
                (None, None) => self.rng.range(DEFAULT_LINES.0, DEFAULT_LINES.1),
            };
            clamp(want, min, max)
        } else {
            let lo = clamp(lo_req.max(2), min, max);
            let hi = clamp(lo.max(5), min, max).max(lo);
            self.rng.range(lo, hi)
        };
        if line_array {
            self.line_speakers = self.plan_speakers(n as usize);
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let item_schema: &'a Value = match obj.get("prefixItems").and_then(Value::as_array).and_then(|p| p.get(i)) {
                Some(s) => s,
                None => obj.get("items").unwrap_or(&Value::Bool(true)),
            };
            let child = Ctx {
                key: None,
                cast_slot: cast_array.then_some(i),
                line_slot: line_array.then_some(i),
                depth: ctx.depth + 1,
            };
            out.push(self.value(item_schema, &child)?);
        }
        Ok(Value::Array(out))
    }

    fn string(&mut self, obj: &Map<String, Value>, ctx: &Ctx) -> String {
        let min = obj.get("minLength").and_then(Value::as_u64).map(|n| n as usize);
        let max = obj.get("maxLength").and_then(Value::as_u64).map(|n| n as usize);
        let raw = match obj.get("format").and_then(Value::as_str) {
            Some(fmt) => self.formatted(fmt),
            None => self.by_name(ctx, min, max),
        };
        fit_length(raw, min, max, &mut self.rng)
    }

    fn by_name(&mut self, ctx: &Ctx, min: Option<usize>, max: Option<usize>) -> String {
        let key = ctx.key.map(str::to_ascii_lowercase).unwrap_or_default();
        if let Some(slot) = ctx.cast_slot {
            if key.is_empty() || matches!(key.as_str(), "name" | "character" | "character_name") {
                return self.cast_name(slot);
            }
            if key == "description" {
                return prose::character_description(&mut self.rng);
            }
        }
        let text_key = matches!(key.as_str(), "text" | "line" | "dialogue" | "narration" | "content" | "body");
        if let (Some(slot), true) = (ctx.line_slot, text_key) {
            return self.line_text(slot, min, max);
        }
        if let Some(d) = self.plan.draft.as_ref().filter(|d| ctx.depth == 1 && key == "title" && !d.title.is_empty()) {
            return d.title.clone();
        }
        match key.as_str() {
            "speaker" | "speaker_name" | "character" | "character_name" => self.speaker(ctx),
            "name" => {
                let n = self.cast_size.max(1) as u64;
                self.names[self.rng.range(0, n - 1) as usize].clone()
            }
            "direction" | "stage_direction" | "delivery" | "emotion" | "tone" | "mood" => {
                prose::direction(&mut self.rng)
            }
            "text" | "line" | "dialogue" | "narration" | "content" | "body" => prose::sentences(&mut self.rng, 1, 2),
            k if k.contains("title") || k == "heading" => prose::title(&mut self.rng),
            k if k.contains("summary") || k.contains("description") || k.contains("synopsis") => {
                prose::sentences(&mut self.rng, 2, 3)
            }
            _ => prose::sentence(&mut self.rng),
        }
    }

    fn cast_name(&mut self, slot: usize) -> String {
        let name = match self.names.get(slot) {
            Some(n) => n.clone(),
            None => format!("{} {}", self.names[slot % self.names.len()], slot + 1),
        };
        if !self.listed.contains(&name) {
            self.listed.push(name.clone());
        }
        name
    }

    /// Narrator or one of the characters listed earlier in this response (or, when nothing was
    /// listed, the response's planned cast), so scripts never invent a stray speaker. Inside a
    /// lines array the speaker was planned for the whole array.
    fn speaker(&mut self, ctx: &Ctx) -> String {
        if let Some(s) = ctx.line_slot.and_then(|i| self.line_speakers.get(i)) {
            return s.clone();
        }
        let pool = self.cast_pool();
        if pool.is_empty() || self.rng.chance(0.3) {
            return NARRATOR.into();
        }
        self.rng.pick(&pool).clone()
    }

    fn cast_pool(&self) -> Vec<String> {
        if self.listed.is_empty() {
            self.names[..self.cast_size].to_vec()
        } else {
            self.listed.clone()
        }
    }

    /// Who speaks each of `n` lines. With a draft: the draft's speaker of the same line (its
    /// sequence repeated when the count is forced higher). Otherwise the Narrator opens, speaks
    /// about a third of the lines, and characters rarely speak twice in a row. Either way every
    /// required speaker gets a line when there are enough lines.
    fn plan_speakers(&mut self, n: usize) -> Vec<String> {
        let (mut out, required): (Vec<String>, Vec<String>) =
            match self.plan.draft.as_ref().filter(|d| !d.speakers.is_empty()) {
                Some(d) => {
                    let mut required: Vec<String> = Vec::new();
                    for s in &d.speakers {
                        if !required.contains(s) {
                            required.push(s.clone());
                        }
                    }
                    ((0..n).map(|i| d.speakers[i % d.speakers.len()].clone()).collect(), required)
                }
                None => {
                    let cast = self.cast_pool();
                    let mut out: Vec<String> = Vec::with_capacity(n);
                    let mut last: Option<usize> = None;
                    for i in 0..n {
                        if i == 0 || cast.is_empty() || self.rng.chance(0.35) {
                            out.push(NARRATOR.into());
                            continue;
                        }
                        let mut c = self.rng.range(0, cast.len() as u64 - 1) as usize;
                        if Some(c) == last && cast.len() > 1 && self.rng.chance(0.8) {
                            c = (c + 1 + self.rng.range(0, cast.len() as u64 - 2) as usize) % cast.len();
                        }
                        last = Some(c);
                        out.push(cast[c].clone());
                    }
                    (out, std::iter::once(NARRATOR.to_string()).chain(cast).collect())
                }
            };
        for r in &required {
            if out.contains(r) {
                continue;
            }
            // Take a line from someone who has more than one, starting at a seeded place.
            let start = self.rng.range(0, n.max(1) as u64 - 1) as usize;
            let spare = (0..n).map(|k| (start + k) % n).find(|&j| out.iter().filter(|s| **s == out[j]).count() > 1);
            if let Some(j) = spare {
                out[j] = r.clone();
            }
        }
        out
    }

    /// A script line's words: narration for the Narrator, dialogue for a character.
    fn line_text(&mut self, slot: usize, min: Option<usize>, max: Option<usize>) -> String {
        let (mut lo, mut hi) = LINE_TEXT_CHARS;
        if let Some(m) = max.filter(|m| *m >= min.unwrap_or(0)) {
            hi = hi.min(m);
            lo = lo.min(hi);
        }
        if let Some(m) = min {
            lo = lo.max(m);
            hi = hi.max(lo);
        }
        let speaker = self.line_speakers.get(slot).cloned().unwrap_or_else(|| NARRATOR.into());
        let cast = self.cast_pool();
        if is_narrator(&speaker) {
            prose::text_between(&mut self.rng, lo, hi, |r| prose::narration_sentence(r, &cast))
        } else {
            let others: Vec<String> = cast.into_iter().filter(|c| *c != speaker).collect();
            prose::text_between(&mut self.rng, lo, hi, |r| prose::dialogue_sentence(r, &others))
        }
    }

    fn formatted(&mut self, fmt: &str) -> String {
        let r = &mut self.rng;
        match fmt {
            "date-time" => format!(
                "2024-{:02}-{:02}T{:02}:{:02}:00Z",
                r.range(1, 12),
                r.range(1, 28),
                r.range(0, 23),
                r.range(0, 59)
            ),
            "date" => format!("2024-{:02}-{:02}", r.range(1, 12), r.range(1, 28)),
            "time" => format!("{:02}:{:02}:00", r.range(0, 23), r.range(0, 59)),
            "duration" => format!("PT{}M", r.range(1, 59)),
            "email" => format!("{}@example.com", self.names[r.range(0, 11) as usize].to_lowercase()),
            "hostname" => format!("{}.example.com", prose::word(r)),
            "ipv4" => format!("192.0.2.{}", r.range(1, 254)),
            "ipv6" => format!("2001:db8::{:x}", r.range(1, 0xffff)),
            "uuid" => {
                let (a, b) = (r.next_u64(), r.next_u64());
                format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 52,
                    b & 0xffff_ffff_ffff
                )
            }
            "uri" | "url" => format!("https://example.com/{}", prose::word(r)),
            // Unknown formats (and `pattern`, which no generator can honour in general) get prose.
            _ => prose::sentence(r),
        }
    }

    fn integer(&mut self, obj: &Map<String, Value>) -> Value {
        let min = obj
            .get("minimum")
            .and_then(Value::as_f64)
            .map(|m| m.ceil() as i64)
            .or_else(|| obj.get("exclusiveMinimum").and_then(Value::as_f64).map(|m| m.floor() as i64 + 1));
        let max = obj
            .get("maximum")
            .and_then(Value::as_f64)
            .map(|m| m.floor() as i64)
            .or_else(|| obj.get("exclusiveMaximum").and_then(Value::as_f64).map(|m| m.ceil() as i64 - 1));
        let (lo, hi) = bounds(min, max, 1, 100);
        let mut v = self.rng.range_i64(lo, hi);
        if let Some(step) = obj.get("multipleOf").and_then(Value::as_i64).filter(|s| *s > 0) {
            // Largest multiple not above v, unless that drops below the minimum.
            let down = v.div_euclid(step) * step;
            v = if down >= lo { down } else { down + step };
        }
        Value::Number(v.into())
    }

    fn number(&mut self, obj: &Map<String, Value>) -> Value {
        let min = obj
            .get("minimum")
            .and_then(Value::as_f64)
            .or_else(|| obj.get("exclusiveMinimum").and_then(Value::as_f64).map(|m| m + 0.01));
        let max = obj
            .get("maximum")
            .and_then(Value::as_f64)
            .or_else(|| obj.get("exclusiveMaximum").and_then(Value::as_f64).map(|m| m - 0.01));
        let lo = min.unwrap_or_else(|| max.map_or(0.0, |m| m - 100.0));
        let hi = max.unwrap_or(lo + 100.0).max(lo);
        let raw = lo + self.rng.unit() * (hi - lo);
        let rounded = (raw * 100.0).round() / 100.0;
        let v = if rounded < lo || rounded > hi { raw } else { rounded };
        Value::Number(Number::from_f64(v).unwrap_or_else(|| 0.into()))
    }
}

fn is_cast_key(k: &str) -> bool {
    CAST_KEYS.contains(&k.to_ascii_lowercase().as_str())
}

fn is_line_key(k: &str) -> bool {
    LINE_KEYS.contains(&k.to_ascii_lowercase().as_str())
}

fn is_narrator(name: &str) -> bool {
    name.eq_ignore_ascii_case(NARRATOR)
}

fn null_chance(key: Option<&str>) -> f64 {
    if key.is_some_and(|k| k.eq_ignore_ascii_case("direction")) {
        0.5
    } else {
        0.25
    }
}

fn clamp(n: u64, min: Option<u64>, max: Option<u64>) -> u64 {
    let n = min.map_or(n, |m| n.max(m));
    // An impossible max below min: the minimum wins, as the schema cannot be met otherwise.
    max.filter(|m| *m >= min.unwrap_or(0)).map_or(n, |m| n.min(m))
}

fn bounds(min: Option<i64>, max: Option<i64>, def_lo: i64, def_hi: i64) -> (i64, i64) {
    match (min, max) {
        (Some(lo), Some(hi)) => (lo, hi.max(lo)),
        (Some(lo), None) => (lo, lo.saturating_add(def_hi - def_lo)),
        (None, Some(hi)) => (hi.saturating_sub(def_hi - def_lo), hi),
        (None, None) => (def_lo, def_hi),
    }
}

fn fit_length(mut s: String, min: Option<usize>, max: Option<usize>, rng: &mut Rng) -> String {
    if let Some(min) = min {
        while s.chars().count() < min {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&prose::sentence(rng));
        }
    }
    if let Some(max) = max {
        if s.chars().count() > max {
            s = s.chars().take(max).collect();
            // A cut mid-sentence may leave a dangling space; swap it rather than shrink below minLength.
            if s.ends_with(' ') {
                s.pop();
                s.push('.');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script_schema() -> Value {
        json!({"type":"object","additionalProperties":false,"required":["title","lines","characters"],"properties":{
            "title":{"type":"string"},
            "lines":{"type":"array","minItems":1,"items":{"type":"object","additionalProperties":false,"required":["speaker","text","direction"],"properties":{"speaker":{"type":"string"},"text":{"type":"string"},"direction":{"type":["string","null"]}}}},
            "characters":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["name","description"],"properties":{"name":{"type":"string"},"description":{"type":"string"}}}}}})
    }

    #[test]
    fn speakers_come_from_the_listed_characters() {
        for seed in 0..50u32 {
            let v = fill(&script_schema(), &seed.to_le_bytes()).unwrap();
            let names: Vec<&str> =
                v["characters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
            assert!((2..=5).contains(&names.len()));
            let lines = v["lines"].as_array().unwrap();
            assert!((40..=80).contains(&lines.len()));
            assert_eq!(lines[0]["speaker"], "Narrator");
            let mut speakers: Vec<&str> = Vec::new();
            for l in lines {
                let s = l["speaker"].as_str().unwrap();
                assert!(s == "Narrator" || names.contains(&s), "{s} not in {names:?}");
                if !speakers.contains(&s) {
                    speakers.push(s);
                }
                assert!(l["direction"].is_null() || l["direction"].is_string());
                let t = l["text"].as_str().unwrap();
                assert!((40..=300).contains(&t.chars().count()) && t.ends_with(['.', '?', '!']), "{t:?}");
            }
            assert_eq!(speakers.len(), names.len() + 1, "every listed character speaks");
        }
    }

    #[test]
    fn a_draft_keeps_its_speakers_line_by_line_and_a_forced_count_wins() {
        let draft = Draft {
            title: "Dark Water".into(),
            speakers: ["Narrator", "Mira", "Tomas", "Narrator", "Mira"].map(String::from).to_vec(),
            characters: vec!["Mira".into()],
        };
        let plan = Plan { lines: None, draft: Some(draft.clone()) };
        let v = fill_with(&script_schema(), b"e", &plan).unwrap();
        let lines = v["lines"].as_array().unwrap();
        let speakers: Vec<&str> = lines.iter().map(|l| l["speaker"].as_str().unwrap()).collect();
        assert_eq!(speakers, draft.speakers);
        assert_eq!(v["title"], "Dark Water");
        let cast: Vec<&str> = v["characters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(cast, ["Mira", "Tomas"]);
        for n in [1, 3, 12] {
            let v = fill_with(&script_schema(), b"e", &Plan { lines: Some(n), draft: Some(draft.clone()) }).unwrap();
            assert_eq!(v["lines"].as_array().unwrap().len(), n);
            let v = fill_with(&script_schema(), b"f", &Plan { lines: Some(n), draft: None }).unwrap();
            let lines = v["lines"].as_array().unwrap();
            assert_eq!(lines.len(), n);
            let cast = v["characters"].as_array().unwrap().len();
            assert!(cast < n, "{cast} characters cannot all speak in {n} lines");
        }
    }

    #[test]
    fn same_seed_same_value_and_seeds_differ() {
        let s = script_schema();
        assert_eq!(fill(&s, b"a").unwrap(), fill(&s, b"a").unwrap());
        assert_ne!(fill(&s, b"a").unwrap(), fill(&s, b"b").unwrap());
    }

    #[test]
    fn numeric_string_and_array_bounds_hold() {
        let s = json!({"type":"object","properties":{
            "i":{"type":"integer","minimum":3,"maximum":4},
            "m":{"type":"integer","minimum":10,"maximum":20,"multipleOf":5},
            "x":{"type":"number","exclusiveMinimum":0,"maximum":1},
            "s":{"type":"string","minLength":200,"maxLength":210},
            "t":{"type":"string","maxLength":5},
            "e":{"enum":["a","b"]},
            "a":{"type":"array","items":{"type":"boolean"},"minItems":7,"maxItems":7},
            "z":{"type":"array","items":{"type":"null"},"maxItems":1}}});
        for seed in 0..100u32 {
            let v = fill(&s, &seed.to_le_bytes()).unwrap();
            assert!((3..=4).contains(&v["i"].as_i64().unwrap()));
            assert!([10, 15, 20].contains(&v["m"].as_i64().unwrap()));
            let x = v["x"].as_f64().unwrap();
            assert!(x > 0.0 && x <= 1.0);
            assert!((200..=210).contains(&v["s"].as_str().unwrap().chars().count()));
            assert!(v["t"].as_str().unwrap().chars().count() <= 5);
            assert!(v["e"] == "a" || v["e"] == "b");
            assert_eq!(v["a"].as_array().unwrap().len(), 7);
            assert!(v["z"].as_array().unwrap().len() <= 1);
        }
    }

    #[test]
    fn recursive_refs_terminate() {
        let s = json!({"$defs":{"node":{"type":"object","additionalProperties":false,"required":["label","children"],"properties":{
            "label":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},
            "type":"object","additionalProperties":false,"required":["root","maybe"],"properties":{
            "root":{"$ref":"#/$defs/node"},
            "maybe":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}}});
        for seed in 0..5u32 {
            let v = fill(&s, &seed.to_le_bytes()).unwrap();
            assert!(v["root"]["label"].is_string());
        }
        let never = json!({"type":"object","required":["a"],"properties":{"a":{"$ref":"#"}}});
        assert!(fill(&never, b"x").is_err());
    }
}
