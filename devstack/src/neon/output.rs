//! Writes query results as Neon's JSON. Written by hand (not through `serde_json::Value`) so
//! object rows keep column order and the size limit can be checked while rows stream in.

use super::pgwire::Column;

/// PostgreSQL sent text the typed (non-raw) output cannot represent.
#[derive(Debug)]
pub struct ConvError;

const BOOL: u32 = 16;
const INT2: u32 = 21;
const INT4: u32 = 23;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const JSON: u32 = 114;
const JSONB: u32 = 3802;

/// Element type and delimiter of the built-in array types (box alone uses `;`).
fn array_element(oid: u32) -> Option<(u32, char)> {
    let elem = match oid {
        1000 => BOOL,
        1001 => 17,
        1002 => 18,
        1003 => 19,
        1005 => INT2,
        1007 => INT4,
        1016 => 20,
        1008 => 24,
        1009 => 25,
        1028 => 26,
        1010 => 27,
        1011 => 28,
        1012 => 29,
        199 => JSON,
        143 => 142,
        1017 => 600,
        1018 => 601,
        1019 => 602,
        1020 => return Some((603, ';')),
        1027 => 604,
        629 => 628,
        719 => 718,
        1021 => FLOAT4,
        1022 => FLOAT8,
        791 => 790,
        1040 => 829,
        775 => 774,
        1041 => 869,
        651 => 650,
        1034 => 1033,
        1014 => 1042,
        1015 => 1043,
        1182 => 1082,
        1183 => 1083,
        1115 => 1114,
        1185 => 1184,
        1187 => 1186,
        1270 => 1266,
        1561 => 1560,
        1563 => 1562,
        1231 => 1700,
        2201 => 1790,
        2207 => 2202,
        2208 => 2203,
        2209 => 2204,
        2210 => 2205,
        2211 => 2206,
        4097 => 4096,
        4090 => 4089,
        3735 => 3734,
        3770 => 3769,
        2951 => 2950,
        2949 => 2970,
        3221 => 3220,
        3643 => 3614,
        3644 => 3642,
        3645 => 3615,
        3807 => JSONB,
        4073 => 4072,
        1263 => 2275,
        2287 => 2249,
        3905 => 3904,
        3907 => 3906,
        3909 => 3908,
        3911 => 3910,
        3913 => 3912,
        3927 => 3926,
        271 => 5069,
        1006 => 22,
        1013 => 30,
        4192 => 4191,
        5039 => 5038,
        6150 => 4451,
        6151 => 4532,
        6152 => 4533,
        6153 => 4534,
        6155 => 4535,
        6157 => 4536,
        _ => return None,
    };
    Some((elem, ','))
}

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{08}' => "\\b",
            '\u{0c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends one row: an array or an object keyed by column name (duplicates collide, as in
/// Neon). Raw mode keeps PostgreSQL's text; otherwise values get JSON types.
pub fn push_row(
    out: &mut String,
    cols: &[Column],
    vals: &[Option<&str>],
    raw: bool,
    array_mode: bool,
) -> Result<(), ConvError> {
    out.push(if array_mode { '[' } else { '{' });
    for (i, (col, val)) in cols.iter().zip(vals).enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !array_mode {
            push_str(out, &col.name);
            out.push(':');
        }
        match val {
            None => out.push_str("null"),
            Some(v) if raw => push_str(out, v),
            Some(v) => push_typed(out, v, col.type_oid)?,
        }
    }
    out.push(if array_mode { ']' } else { '}' });
    Ok(())
}

fn push_typed(out: &mut String, v: &str, oid: u32) -> Result<(), ConvError> {
    if let Some((elem, delim)) = array_element(oid) {
        return push_array(out, v, elem, delim);
    }
    match oid {
        BOOL => out.push_str(if v == "t" { "true" } else { "false" }),
        INT2 | INT4 => out.push_str(&v.parse::<i32>().map_err(|_| ConvError)?.to_string()),
        FLOAT4 | FLOAT8 => {
            let f = v.parse::<f64>().map_err(|_| ConvError)?;
            if f.is_finite() {
                out.push_str(&serde_json::to_string(&f).map_err(|_| ConvError)?);
            } else {
                // NaN and ±Infinity have no JSON number form; keep PostgreSQL's spelling.
                push_str(out, v);
            }
        }
        JSON | JSONB => out.push_str(v),
        _ => push_str(out, v),
    }
    Ok(())
}

/// Parses PostgreSQL's array text (`{1,NULL,"a b"}`, nested, optional `[1:2]=` bounds, which
/// JSON cannot express and are dropped) into a JSON array of typed elements.
fn push_array(out: &mut String, text: &str, elem: u32, delim: char) -> Result<(), ConvError> {
    let mut s = text;
    if s.starts_with('[') {
        s = s.split_once('=').ok_or(ConvError)?.1;
    }
    let rest = push_array_inner(out, s.trim_start(), elem, delim)?;
    if rest.is_empty() {
        Ok(())
    } else {
        Err(ConvError)
    }
}

/// Reads one `{...}` level and returns what follows it.
fn push_array_inner<'a>(
    out: &mut String,
    s: &'a str,
    elem: u32,
    delim: char,
) -> Result<&'a str, ConvError> {
    let mut s = s.strip_prefix('{').ok_or(ConvError)?.trim_start();
    out.push('[');
    if let Some(rest) = s.strip_prefix('}') {
        out.push(']');
        return Ok(rest.trim_start());
    }
    let mut quoted = String::new();
    let mut first = true;
    loop {
        if !first {
            out.push(',');
        }
        first = false;
        s = s.trim_start();
        if s.starts_with('{') {
            s = push_array_inner(out, s, elem, delim)?;
        } else if let Some(body) = s.strip_prefix('"') {
            s = unquote(&mut quoted, body)?.trim_start();
            push_typed(out, &quoted, elem)?;
        } else {
            let end = s.find([delim, '}']).ok_or(ConvError)?;
            let item = s[..end].trim_end();
            if item == "NULL" {
                out.push_str("null");
            } else {
                push_typed(out, item, elem)?;
            }
            s = &s[end..];
        }
        match s.strip_prefix(delim) {
            Some(next) => s = next,
            None => break,
        }
    }
    let rest = s.strip_prefix('}').ok_or(ConvError)?;
    out.push(']');
    Ok(rest.trim_start())
}

/// Un-escapes a quoted array element (after its opening `"`) into `buf`; returns the rest.
fn unquote<'a>(buf: &mut String, s: &'a str) -> Result<&'a str, ConvError> {
    buf.clear();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok(&s[i + 1..]),
            '\\' => buf.push(chars.next().ok_or(ConvError)?.1),
            c => buf.push(c),
        }
    }
    Err(ConvError)
}

/// Appends the `fields` array built from a RowDescription.
pub fn push_fields(out: &mut String, cols: &[Column]) {
    out.push('[');
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_str(out, &c.name);
        out.push_str(&format!(
            ",\"dataTypeID\":{},\"tableID\":{},\"columnID\":{},\"dataTypeSize\":{},\"dataTypeModifier\":{},\"format\":\"text\"}}",
            c.type_oid, c.table_oid, c.column_id, c.type_size, c.type_modifier
        ));
    }
    out.push(']');
}

/// The command name and row count from a tag: INSERT's count is its 3rd word (after the OID),
/// other commands' their 2nd; tags without a number give `None`.
pub fn parse_tag(tag: &str) -> (&str, Option<i64>) {
    match tag.split_once(' ') {
        None => (tag, None),
        Some(("INSERT", rest)) => (
            "INSERT",
            rest.split_once(' ').and_then(|(_, n)| n.parse().ok()),
        ),
        Some((name, rest)) => (name, rest.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(v: &str, oid: u32) -> serde_json::Value {
        let mut s = String::new();
        push_typed(&mut s, v, oid).unwrap();
        serde_json::from_str(&s).unwrap()
    }

    #[test]
    fn scalars() {
        use serde_json::json;
        assert_eq!(typed("t", BOOL), json!(true));
        assert_eq!(typed("42", INT4), json!(42));
        assert_eq!(typed("42", 20), json!("42"));
        assert_eq!(typed("1.5", FLOAT8), json!(1.5));
        assert_eq!(typed("NaN", FLOAT8), json!("NaN"));
        assert_eq!(typed("-Infinity", FLOAT4), json!("-Infinity"));
        assert_eq!(typed(r#"{"a":[1,null]}"#, JSONB), json!({"a":[1,null]}));
        assert_eq!(typed("12.50", 1700), json!("12.50"));
    }

    #[test]
    fn arrays() {
        use serde_json::json;
        assert_eq!(typed("{}", 1007), json!([]));
        assert_eq!(typed("{1,NULL,3}", 1007), json!([1, null, 3]));
        assert_eq!(
            typed(r#"{"a b","NULL",NULL,"q\"\\x"}"#, 1009),
            json!(["a b", "NULL", null, "q\"\\x"])
        );
        assert_eq!(typed("{{1,2},{3,4}}", 1005), json!([[1, 2], [3, 4]]));
        assert_eq!(typed("[0:1]={t,f}", 1000), json!([true, false]));
        assert_eq!(typed(r#"{"{\"k\": 1}"}"#, 3807), json!([{"k": 1}]));
        assert_eq!(
            typed("{(1,1),(0,0);(2,2),(1,1)}", 1020),
            json!(["(1,1),(0,0)", "(2,2),(1,1)"])
        );
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        push_str(&mut s, "a\"\\\n\u{1}é");
        assert_eq!(s, r#""a\"\\\n\u0001é""#);
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag("INSERT 0 3"), ("INSERT", Some(3)));
        assert_eq!(parse_tag("SELECT 2"), ("SELECT", Some(2)));
        assert_eq!(parse_tag("CREATE TABLE"), ("CREATE", None));
        assert_eq!(parse_tag("BEGIN"), ("BEGIN", None));
        assert_eq!(parse_tag(""), ("", None));
    }
}
