//! The wire formats the proxy speaks: Ollama's native API and OpenAI's chat completions.
//!
//! Encoding is byte-faithful to Ollama, which is written in Go: JSON is compact, `<`, `>`,
//! `&`, U+2028 and U+2029 are escaped as Go's encoder escapes them, zero metrics are left
//! out, fields come in Go's struct order, and timestamps are RFC 3339 with nanoseconds and
//! trailing zeros dropped.

pub mod ollama;
pub mod openai;

use serde::Serialize;
use time::OffsetDateTime;

/// Serialize as Go's `json.Marshal` does.
///
/// serde_json and Go agree on everything except the characters Go escapes for safe
/// embedding in HTML. Those characters can only occur inside JSON strings (they are not
/// JSON syntax), so replacing them in the output is exact.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing plain data structs and `serde_json::Value` into a String cannot fail:
    // there is no I/O and every map key is a string.
    let plain = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    go_escape(plain)
}

fn go_escape(plain: String) -> String {
    if !plain.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return plain;
    }
    let mut out = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A timestamp as Go's `time.RFC3339Nano` writes it: nanoseconds with trailing zeros
/// dropped (no fraction at all on a whole second), `Z` for UTC.
pub fn rfc3339_nano(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let nanos = at.nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Now, as [`rfc3339_nano`].
pub fn now_rfc3339() -> String {
    rfc3339_nano(OffsetDateTime::now_utc())
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn go_json_escapes_html_characters_like_go() {
        let json = to_go_json(&serde_json::json!({"s": "a<b>&c\u{2028}\u{2029}"}));
        assert_eq!(json, r#"{"s":"a\u003cb\u003e\u0026c\u2028\u2029"}"#);
    }

    #[test]
    fn go_json_keeps_ordinary_text_and_control_escapes() {
        let json = to_go_json(&serde_json::json!({"s": "line\nnext\t\"q\" é"}));
        assert_eq!(json, "{\"s\":\"line\\nnext\\t\\\"q\\\" é\"}");
    }

    #[test]
    fn rfc3339_nano_drops_trailing_zeros() {
        let at = datetime!(2026-08-21 09:20:11.5012 UTC);
        assert_eq!(rfc3339_nano(at), "2026-08-21T09:20:11.5012Z");
    }

    #[test]
    fn rfc3339_nano_keeps_all_nine_digits_when_needed() {
        let at = datetime!(2026-08-21 09:14:02.118203771 UTC);
        assert_eq!(rfc3339_nano(at), "2026-08-21T09:14:02.118203771Z");
    }

    #[test]
    fn rfc3339_nano_has_no_fraction_on_whole_seconds() {
        let at = datetime!(2026-01-02 03:04:05 +02:00);
        assert_eq!(rfc3339_nano(at), "2026-01-02T01:04:05Z");
    }
}
