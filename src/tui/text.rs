//! Turning message text into screen lines at a given width: paragraphs word-wrap, list
//! items wrap under their own text, fenced code keeps its indentation and is cut (never
//! re-flowed) at the edge, with a `│` bar so code reads without colour.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use super::theme::Theme;

/// The bar before every code line.
const CODE_BAR: &str = "│ ";

/// Lays out Markdown-ish text in `width` columns, each line after `indent`.
pub fn markdown_lines(text: &str, width: usize, indent: &str, theme: &Theme) -> Vec<Line<'static>> {
    let inner = width.saturating_sub(col_width(indent)).max(8);
    let mut out = Vec::new();
    let mut in_code = false;
    for raw in text.split('\n') {
        let raw = raw.trim_end_matches('\r');
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
            out.push(Line::from(vec![
                Span::raw(indent.to_string()),
                Span::styled(raw.trim_start().to_string(), theme.dim),
            ]));
            continue;
        }
        if in_code {
            let room = inner.saturating_sub(col_width(CODE_BAR)).max(4);
            for piece in cut(&raw.replace('\t', "    "), room) {
                out.push(Line::from(vec![
                    Span::raw(indent.to_string()),
                    Span::styled(CODE_BAR, theme.dim),
                    Span::styled(piece, theme.code),
                ]));
            }
            continue;
        }
        let (hang, style) = match heading(raw) {
            true => (0, theme.heading),
            false => (list_hang(raw), Style::new()),
        };
        let lead = " ".repeat(hang);
        for (i, piece) in wrap(raw, inner, hang).into_iter().enumerate() {
            let body = if i == 0 {
                piece
            } else {
                format!("{lead}{piece}")
            };
            out.push(Line::from(vec![
                Span::raw(indent.to_string()),
                Span::styled(body, style),
            ]));
        }
    }
    out
}

/// Plain word wrap of one paragraph in `width` columns, each line after `indent`.
pub fn plain_lines(text: &str, width: usize, indent: &str, style: Style) -> Vec<Line<'static>> {
    let inner = width.saturating_sub(col_width(indent)).max(8);
    text.split('\n')
        .flat_map(|raw| wrap(raw, inner, 0))
        .map(|piece| {
            Line::from(vec![
                Span::raw(indent.to_string()),
                Span::styled(piece, style),
            ])
        })
        .collect()
}

fn heading(line: &str) -> bool {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
}

/// Columns a list item's continuation lines are indented by: the width of its leading
/// spaces and marker (`- `, `* `, `12. `), or 0 when the line is not a list item.
fn list_hang(line: &str) -> usize {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[spaces..];
    if ["- ", "* ", "+ "].iter().any(|m| rest.starts_with(m)) {
        return spaces + 2;
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let after = &rest[digits..];
    if digits > 0 && digits < 4 && (after.starts_with(". ") || after.starts_with(") ")) {
        return spaces + digits + 2;
    }
    0
}

fn col_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Word-wraps one line: the first piece gets `width` columns, later ones `width - hang`
/// (their hanging indent is added by the caller). Words longer than a line are cut.
pub fn wrap(line: &str, width: usize, hang: usize) -> Vec<String> {
    let width = width.max(1);
    let rest_width = width.saturating_sub(hang).max(1);
    if col_width(line) <= width {
        return vec![line.to_string()];
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    // Keep a leading indent with the first word.
    let lead_len = line.len() - line.trim_start_matches(' ').len();
    current.push_str(&line[..lead_len]);
    used += lead_len;
    for word in line[lead_len..].split(' ').filter(|w| !w.is_empty()) {
        let limit = if pieces.is_empty() { width } else { rest_width };
        let w = col_width(word);
        let gap = usize::from(used > 0 && !current.ends_with(' '));
        if used + gap + w <= limit {
            if gap == 1 {
                current.push(' ');
            }
            current.push_str(word);
            used += gap + w;
            continue;
        }
        if !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        let limit = if pieces.is_empty() { width } else { rest_width };
        if w <= limit {
            current.push_str(word);
            used = w;
        } else {
            let mut cuts = cut(word, rest_width.min(limit));
            let last = cuts.pop().unwrap_or_default();
            pieces.extend(cuts);
            used = col_width(&last);
            current = last;
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Cuts a line into pieces of at most `width` columns, keeping every character.
pub fn cut(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += w;
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn long_paragraphs_wrap_at_word_boundaries() {
        let pieces = wrap("the quick brown fox jumps over the lazy dog", 15, 0);
        assert_eq!(
            pieces,
            ["the quick brown", "fox jumps over", "the lazy dog"]
        );
        assert!(pieces.iter().all(|p| col_width(p) <= 15));
    }

    #[test]
    fn words_longer_than_the_line_are_cut_not_lost() {
        let pieces = wrap("see aaaaaaaaaaaaaaaaaaaa end", 8, 0);
        assert_eq!(
            pieces.concat().replace(' ', ""),
            "seeaaaaaaaaaaaaaaaaaaaaend"
        );
        assert!(pieces.iter().all(|p| col_width(p) <= 8), "{pieces:?}");
    }

    #[test]
    fn list_items_wrap_under_their_text() {
        let theme = Theme::new(true);
        let lines = markdown_lines("- one two three four five six", 14, "", &theme);
        assert_eq!(texts(&lines), ["- one two", "  three four", "  five six"]);
        let numbered = markdown_lines("10. alpha beta gamma", 12, "", &theme);
        assert_eq!(texts(&numbered), ["10. alpha", "    beta", "    gamma"]);
    }

    #[test]
    fn code_keeps_indentation_and_is_cut_not_reflowed() {
        let theme = Theme::new(true);
        let text = "```rust\nfn main() {\n    let x = 1;\n}\n```\nafter";
        let lines = texts(&markdown_lines(text, 40, "  ", &theme));
        assert_eq!(lines[0], "  ```rust");
        assert_eq!(lines[2], "  │     let x = 1;");
        assert_eq!(lines[4], "  ```");
        assert_eq!(lines[5], "  after");
        let long = texts(&markdown_lines(
            "```\n    abcdefghijklmnop\n```",
            12,
            "",
            &theme,
        ));
        assert_eq!(long[1], "│     abcdef");
        assert_eq!(long[2], "│ ghijklmnop");
    }
}
