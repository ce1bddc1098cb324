//! Text from the model or a command, made safe to draw. Control sequences
//! never reach the terminal raw: SGR colour codes become styles, every
//! other escape and control character is dropped. Wrapping goes by display
//! width, so CJK and emoji take the columns they really take.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Tabs are expanded to this many spaces (the terminal's tab stops would
/// otherwise decide the layout).
const TAB: &str = "    ";

/// `s` without escape sequences or control characters, except newlines
/// and tabs: safe to print to a terminal.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for piece in Pieces::new(s) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Newline => out.push('\n'),
            Piece::Tab => out.push('\t'),
            Piece::Return | Piece::Sgr(_) => {}
        }
    }
    out
}

/// [`sanitize`]d, with tabs expanded: ready to lay out in cells.
pub fn display(s: &str) -> String {
    sanitize(s).replace('\t', TAB)
}

/// Command output as styled lines: SGR colours kept, everything else that
/// could drive the terminal dropped. A carriage return starts the line
/// over, as a progress bar means it to.
pub fn ansi_lines(s: &str, base: Style) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut style = base;
    for piece in Pieces::new(s) {
        match piece {
            Piece::Text(t) => spans.push(Span::styled(t.to_string(), style)),
            Piece::Tab => spans.push(Span::styled(TAB, style)),
            Piece::Newline => lines.push(Line::from(std::mem::take(&mut spans))),
            Piece::Return => spans.clear(),
            Piece::Sgr(params) => style = apply_sgr(style, base, params),
        }
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

enum Piece<'a> {
    Text(&'a str),
    Newline,
    Return,
    Tab,
    /// The parameters of `ESC [ … m`.
    Sgr(&'a str),
}

/// Splits text into printable runs and the controls tern interprets.
struct Pieces<'a> {
    rest: &'a str,
}

impl<'a> Pieces<'a> {
    fn new(s: &'a str) -> Self {
        Pieces { rest: s }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        loop {
            let s = self.rest;
            let mut chars = s.char_indices();
            let (_, c) = chars.next()?;
            if !c.is_control() {
                let end = s.find(|c: char| c.is_control()).unwrap_or(s.len());
                self.rest = &s[end..];
                return Some(Piece::Text(&s[..end]));
            }
            let after = &s[c.len_utf8()..];
            match c {
                '\n' => {
                    self.rest = after;
                    return Some(Piece::Newline);
                }
                '\r' => {
                    // \r\n is a newline, not a rewrite of the line.
                    self.rest = after;
                    if !after.starts_with('\n') {
                        return Some(Piece::Return);
                    }
                }
                '\t' => {
                    self.rest = after;
                    return Some(Piece::Tab);
                }
                '\u{1b}' => {
                    let (len, sgr) = escape(after);
                    self.rest = &after[len..];
                    if let Some(p) = sgr {
                        return Some(Piece::Sgr(p));
                    }
                }
                // C1 CSI (U+009B) starts a sequence like ESC [.
                '\u{9b}' => {
                    let (len, _) = csi(after);
                    self.rest = &after[len..];
                }
                _ => self.rest = after,
            }
        }
    }
}

/// The length of the escape sequence after ESC, and its SGR parameters if
/// it is one.
fn escape(s: &str) -> (usize, Option<&str>) {
    match s.chars().next() {
        Some('[') => {
            let (len, sgr) = csi(&s[1..]);
            (len + 1, sgr)
        }
        // OSC, DCS, SOS, PM, APC: up to BEL or ST.
        Some(']' | 'P' | 'X' | '^' | '_') => {
            let body = &s[1..];
            let end = match (body.find('\u{7}'), body.find("\u{1b}\\")) {
                (Some(bel), Some(st)) if st < bel => st + 2,
                (Some(bel), _) => bel + 1,
                (None, Some(st)) => st + 2,
                (None, None) => body.len(),
            };
            (end + 1, None)
        }
        // Two-byte sequences (ESC c, ESC 7, ESC ( B…): drop ESC, the next
        // character, and for charset designations one more.
        Some(c @ ('(' | ')' | '*' | '+' | '#' | '%')) => {
            let next = s[c.len_utf8()..].chars().next().map_or(0, char::len_utf8);
            (c.len_utf8() + next, None)
        }
        Some(c) => (c.len_utf8(), None),
        None => (0, None),
    }
}

/// The length of a CSI sequence's body (after `[`), and its parameters if
/// it sets graphics.
fn csi(s: &str) -> (usize, Option<&str>) {
    for (i, c) in s.char_indices() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            let params = &s[..i];
            let sgr =
                (c == 'm' && params.bytes().all(|b| b.is_ascii_digit() || b == b';' || b == b':')).then_some(params);
            return (i + 1, sgr);
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a valid sequence: drop what was read.
            return (i, None);
        }
    }
    (s.len(), None)
}

fn apply_sgr(mut style: Style, base: Style, params: &str) -> Style {
    let nums: Vec<u16> = params.split([';', ':']).map(|p| p.parse().unwrap_or(0)).collect();
    let mut i = 0;
    while i < nums.len().max(1) {
        let n = nums.get(i).copied().unwrap_or(0);
        match n {
            0 => style = base,
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            9 => style = style.add_modifier(Modifier::CROSSED_OUT),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            29 => style = style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 => style = style.fg(Color::Indexed((n - 30) as u8)),
            39 => style = style.fg(base.fg.unwrap_or(Color::Reset)),
            40..=47 => style = style.bg(Color::Indexed((n - 40) as u8)),
            49 => style = style.bg(base.bg.unwrap_or(Color::Reset)),
            90..=97 => style = style.fg(Color::Indexed((n - 90 + 8) as u8)),
            100..=107 => style = style.bg(Color::Indexed((n - 100 + 8) as u8)),
            38 | 48 => {
                let color = match nums.get(i + 1) {
                    Some(5) => {
                        let c = nums.get(i + 2).map(|&v| Color::Indexed(v.min(255) as u8));
                        i += 2;
                        c
                    }
                    Some(2) => {
                        let v = |k: usize| nums.get(i + k).map_or(0, |&v| v.min(255) as u8);
                        let c = Some(Color::Rgb(v(2), v(3), v(4)));
                        i += 4;
                        c
                    }
                    _ => None,
                };
                if let Some(c) = color {
                    style = if n == 38 { style.fg(c) } else { style.bg(c) };
                }
            }
            _ => {}
        }
        i += 1;
    }
    style
}

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Wraps a styled line to `width` columns, breaking after spaces where it
/// can and inside words where it must; continuation lines get `indent`.
pub fn wrap(line: &Line<'static>, width: usize, indent: &str) -> Vec<Line<'static>> {
    let width = width.max(4);
    let indent_w = self::width(indent).min(width / 2);
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut cur: Vec<(char, Style)> = Vec::new();
    let mut cur_w = 0;
    // Index in `cur` just after the last space, where a break is best.
    let mut last_space: Option<usize> = None;
    let flush = |cur: &mut Vec<(char, Style)>, out: &mut Vec<Line<'static>>, line: &Line<'static>| {
        let mut spans: Vec<Span<'static>> = Vec::new();
        if !out.is_empty() && indent_w > 0 {
            spans.push(Span::raw(indent.to_string()));
        }
        for (c, st) in cur.drain(..) {
            match spans.last_mut() {
                Some(s) if s.style == st => s.content.to_mut().push(c),
                _ => spans.push(Span::styled(c.to_string(), st)),
            }
        }
        out.push(Line::from(spans).style(line.style));
    };
    for span in &line.spans {
        let style = line.style.patch(span.style);
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            let limit = if out.is_empty() { width } else { width - indent_w };
            if c == ' ' && cur_w + w > limit {
                // The space that overflows is the break itself.
                flush(&mut cur, &mut out, line);
                cur_w = 0;
                last_space = None;
                continue;
            }
            if cur_w + w > limit && !cur.is_empty() {
                match last_space.filter(|&i| i > 0 && i < cur.len()) {
                    Some(i) => {
                        let rest = cur.split_off(i);
                        flush(&mut cur, &mut out, line);
                        cur = rest;
                    }
                    None => flush(&mut cur, &mut out, line),
                }
                cur_w = cur.iter().map(|(c, _)| c.width().unwrap_or(0)).sum();
                last_space = None;
            }
            cur.push((c, style));
            cur_w += w;
            if c == ' ' {
                last_space = Some(cur.len());
            }
        }
    }
    if !cur.is_empty() || out.is_empty() {
        flush(&mut cur, &mut out, line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn controls_never_survive() {
        let evil = "ok\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[?1049h\u{1b}Pq#0\u{1b}\\x\u{9b}31m\u{7}\u{8}\u{1b}(Bend";
        assert_eq!(sanitize(evil), "okxend");
        assert_eq!(sanitize("a\r\nb\tc"), "a\nb\tc");
        assert_eq!(display("a\r\nb\tc"), "a\nb    c");
        assert_eq!(sanitize("a\x1b[31mred\x1b[0m b"), "ared b");
        assert_eq!(sanitize("x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\y"), "xlinky");
        assert_eq!(sanitize("tab\tnl\n\x07bell\x08"), "tab\tnl\nbell");
        assert_eq!(sanitize("日本語 ✓"), "日本語 ✓");
    }

    #[test]
    fn sgr_colours_become_styles() {
        let lines = ansi_lines("\u{1b}[31merror\u{1b}[0m: \u{1b}[1;38;5;208mhot\u{1b}[m\nnext", Style::default());
        assert_eq!(plain(&lines), ["error: hot", "next"]);
        assert_eq!(lines[0].spans[0].style.fg, Some(Color::Indexed(1)));
        assert_eq!(lines[0].spans[1].style, Style::default());
        assert_eq!(lines[0].spans[2].style.fg, Some(Color::Indexed(208)));
        assert!(lines[0].spans[2].style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn a_carriage_return_rewrites_the_line() {
        assert_eq!(plain(&ansi_lines("10%\r50%\r100%\ndone", Style::default())), ["100%", "done"]);
    }

    #[test]
    fn wraps_by_display_width() {
        let l = Line::from("日本語のテキストです");
        let w = wrap(&l, 8, "");
        assert_eq!(plain(&w), ["日本語の", "テキスト", "です"]);
        assert!(w.iter().all(|l| l.width() <= 8));
        let l = Line::from("the quick brown fox jumps");
        assert_eq!(plain(&wrap(&l, 10, "  ")), ["the quick ", "  brown ", "  fox ", "  jumps"]);
        let l = Line::from("supercalifragilistic");
        assert_eq!(plain(&wrap(&l, 8, "")), ["supercal", "ifragili", "stic"]);
    }
}
