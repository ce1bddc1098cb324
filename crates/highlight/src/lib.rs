//! Syntax highlighting of code blocks: syntect with bat's grammars and
//! themes (two-face). The grammars load once, on first use, which takes
//! tens of milliseconds; callers run [`highlight`] off their render path.

use std::sync::OnceLock;
use two_face::re_exports::syntect::easy::HighlightLines;
use two_face::re_exports::syntect::highlighting::{FontStyle, Theme};
use two_face::re_exports::syntect::parsing::{SyntaxReference, SyntaxSet};
use two_face::re_exports::syntect::util::LinesWithEndings;
use two_face::theme::EmbeddedThemeName;

/// Code longer than this stays plain: highlighting time grows with it.
pub const MAX_BYTES: usize = 256 * 1024;

/// A run of text in one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// Foreground colour.
    pub rgb: [u8; 3],
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
}

struct Assets {
    syntaxes: SyntaxSet,
    theme: Theme,
}

static ASSETS: OnceLock<Assets> = OnceLock::new();

fn assets() -> &'static Assets {
    ASSETS.get_or_init(|| {
        let themes = two_face::theme::extra();
        let name =
            if light_background() { EmbeddedThemeName::InspiredGithub } else { EmbeddedThemeName::Base16OceanDark };
        Assets { syntaxes: two_face::syntax::extra_newlines(), theme: themes.get(name).clone() }
    })
}

/// Whether the terminal says (through `COLORFGBG`, set by rxvt, Konsole,
/// iTerm and others) that its background is light.
fn light_background() -> bool {
    std::env::var("COLORFGBG")
        .ok()
        .and_then(|v| v.rsplit(';').next()?.parse::<u8>().ok())
        .is_some_and(|bg| bg == 7 || bg >= 9)
}

/// `code` split into lines of styled tokens (line ends removed), or None
/// when `lang` names no known grammar or the code is too long.
pub fn highlight(lang: &str, code: &str) -> Option<Vec<Vec<Token>>> {
    if code.len() > MAX_BYTES {
        return None;
    }
    let a = assets();
    let syntax = find(&a.syntaxes, lang)?;
    let mut h = HighlightLines::new(syntax, &a.theme);
    let mut out = Vec::new();
    for line in LinesWithEndings::from(code) {
        let ranges = h.highlight_line(line, &a.syntaxes).ok()?;
        let tokens = ranges
            .into_iter()
            .filter_map(|(style, text)| {
                let text = text.trim_end_matches(['\n', '\r']);
                (!text.is_empty()).then(|| Token {
                    text: text.to_string(),
                    rgb: [style.foreground.r, style.foreground.g, style.foreground.b],
                    bold: style.font_style.contains(FontStyle::BOLD),
                    italic: style.font_style.contains(FontStyle::ITALIC),
                    underline: style.font_style.contains(FontStyle::UNDERLINE),
                })
            })
            .collect();
        out.push(tokens);
    }
    Some(out)
}

/// The grammar a fence's info string names: a file extension or a
/// language name, with the spellings models commonly use.
fn find<'a>(set: &'a SyntaxSet, lang: &str) -> Option<&'a SyntaxReference> {
    let lang = lang.trim().to_ascii_lowercase();
    let token = match lang.as_str() {
        "" | "text" | "txt" | "plain" | "plaintext" | "output" => return None,
        "shell" | "console" | "zsh" | "sh" | "shellscript" => "bash",
        "golang" => "go",
        "c++" => "cpp",
        "py3" | "python3" => "python",
        "jsonc" | "json5" => "json",
        other => other,
    };
    set.find_syntax_by_token(token)
}

/// The nearest colour of the xterm 256-colour palette, for terminals
/// without 24-bit colour.
pub fn xterm256(rgb: [u8; 3]) -> u8 {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let nearest = |c: u8| {
        STEPS.iter().enumerate().min_by_key(|(_, s)| (i32::from(**s) - i32::from(c)).abs()).map_or(0, |(i, _)| i)
    };
    let (r, g, b) = (nearest(rgb[0]), nearest(rgb[1]), nearest(rgb[2]));
    let cube = [STEPS[r], STEPS[g], STEPS[b]];
    let avg = (u32::from(rgb[0]) + u32::from(rgb[1]) + u32::from(rgb[2])) / 3;
    let grey_step = (avg.saturating_sub(3) / 10).min(23);
    let grey = 8 + grey_step * 10;
    let dist = |c: [u32; 3]| (0..3).map(|i| (i64::from(c[i]) - i64::from(rgb[i])).pow(2)).sum::<i64>();
    let cube_d = dist([u32::from(cube[0]), u32::from(cube[1]), u32::from(cube[2])]);
    if dist([grey, grey, grey]) < cube_d { 232 + grey_step as u8 } else { 16 + (36 * r + 6 * g + b) as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_is_coloured_by_token_kind() {
        let lines = highlight("rust", "fn main() {\n    let x = \"hi\";\n}\n").unwrap();
        assert_eq!(lines.len(), 3);
        let text: Vec<String> = lines.iter().map(|l| l.iter().map(|t| t.text.as_str()).collect()).collect();
        assert_eq!(text, ["fn main() {", "    let x = \"hi\";", "}"]);
        let colour = |s: &str| lines.iter().flatten().find(|t| t.text.contains(s)).map(|t| t.rgb);
        assert_ne!(colour("fn"), colour("\"hi\""), "keyword and string share a colour");
    }

    #[test]
    fn common_spellings_find_a_grammar() {
        for lang in
            ["rs", "Rust", "python", "py", "sh", "shell", "bash", "ts", "typescript", "toml", "json", "yaml", "go"]
        {
            assert!(highlight(lang, "x = 1\n").is_some(), "{lang}");
        }
        assert!(highlight("text", "x").is_none());
        assert!(highlight("no-such-language", "x").is_none());
        assert!(highlight("rust", &"x".repeat(MAX_BYTES + 1)).is_none());
    }

    #[test]
    fn palette_maps_to_cube_and_greys() {
        assert_eq!(xterm256([0, 0, 0]), 16);
        assert_eq!(xterm256([255, 255, 255]), 231);
        assert_eq!(xterm256([255, 0, 0]), 196);
        assert_eq!(xterm256([128, 128, 128]), 244);
    }
}
