//! JSON as Go's `encoding/json` writes it: strings escaped the same way, RFC 3339 times.
//!
//! Go escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` and the line separators
//! U+2028/U+2029; so does [`push_json_str`], so fixtures compare byte for byte.

use std::fmt::Write as _;

use time::OffsetDateTime;

/// Appends `s` as a JSON string, quotes included, escaped as Go does.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' | b'>' | b'&' | 0..0x20 => Some(b""),
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                Some(b"")
            }
            _ => None,
        };
        let Some(escape) = escape else {
            i += 1;
            continue;
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            // \u00XX for < > & and control characters; \u202X for the line separators.
            let (code, width) = if b == 0xE2 {
                (0x2028 + u32::from(bytes[i + 2] - 0xA8), 3)
            } else {
                (u32::from(b), 1)
            };
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((code >> shift) & 0xf) as usize]);
            }
            i += width;
        } else {
            out.extend_from_slice(escape);
            i += 1;
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A JSON string as its own bytes (for the model name, escaped once per request).
pub(crate) fn json_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

/// Appends `t` as RFC 3339 with nanoseconds and trailing zeros dropped, in UTC (`...Z`),
/// as Go's `time.RFC3339Nano` writes it.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    out.extend_from_slice(s.as_bytes());
}

/// RFC 3339 of `t`, as [`push_timestamp`] writes it (without quotes).
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(32);
    push_timestamp(&mut out, t);
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        String::from_utf8(json_str(s)).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        assert_eq!(escaped("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(escaped("q\"\\\n\t\r"), r#""q\"\\\n\t\r""#);
        assert_eq!(escaped("\u{1}\u{8}\u{c}"), r#""\u0001\b\f""#);
        assert_eq!(escaped("x\u{2028}y\u{2029}é"), "\"x\\u2028y\\u2029é\"");
    }

    #[test]
    fn escaped_strings_parse_back_to_the_original() {
        let s = "<tag> & \"quote\" \u{2028} ünï\u{7}";
        let back: String = serde_json::from_slice(&json_str(s)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn timestamps_drop_trailing_zeros_as_rfc3339nano() {
        let t = time::macros::datetime!(2026-08-21 09:14:02.118200000 UTC);
        assert_eq!(timestamp(t), "2026-08-21T09:14:02.1182Z");
        let t = time::macros::datetime!(2026-08-21 09:14:02 UTC);
        assert_eq!(timestamp(t), "2026-08-21T09:14:02Z");
    }
}
