//! The composer: a multi-line text field with input history. Paste of any
//! size goes in whole; nothing is ever silently cut.

use crate::text::width;
use unicode_width::UnicodeWidthChar;

/// Most history entries kept.
const HISTORY: usize = 200;

/// The text being written and where the cursor is.
#[derive(Debug, Default)]
pub struct Composer {
    text: String,
    /// Byte offset of the cursor in `text`, always on a char boundary.
    cursor: usize,
    history: Vec<String>,
    /// While browsing history: the entry shown, and what was typed before.
    browsing: Option<(usize, String)>,
}

impl Composer {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the whole text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
        self.browsing = None;
    }

    /// Takes the text for sending and remembers it in the history.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        text
    }

    /// Inserts text at the cursor (a typed key or a paste). Carriage
    /// returns from pasted Windows text become newlines.
    pub fn insert(&mut self, s: &str) {
        let s = if s.contains('\r') { s.replace("\r\n", "\n").replace('\r', "\n") } else { s.to_string() };
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
        self.browsing = None;
    }

    pub fn backspace(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..].find('\n').map_or(self.text.len(), |i| self.cursor + i)
    }

    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// Deletes the word before the cursor (Ctrl+W).
    pub fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes to the start of the line (Ctrl+U).
    pub fn kill_to_start(&mut self) {
        let start = self.line_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes to the end of the line (Ctrl+K).
    pub fn kill_to_end(&mut self) {
        let end = self.line_end();
        self.text.replace_range(self.cursor..end, "");
    }

    /// Up: the line above, or the previous history entry from the first line.
    pub fn up(&mut self) {
        let start = self.line_start();
        if start == 0 {
            self.history_back();
            return;
        }
        let col = width(&self.text[start..self.cursor]);
        let prev_start = self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        self.cursor = at_column(&self.text, prev_start, start - 1, col);
    }

    /// Down: the line below, or the next history entry from the last line.
    pub fn down(&mut self) {
        let end = self.line_end();
        if end == self.text.len() {
            self.history_forward();
            return;
        }
        let col = width(&self.text[self.line_start()..self.cursor]);
        let next_end = self.text[end + 1..].find('\n').map_or(self.text.len(), |i| end + 1 + i);
        self.cursor = at_column(&self.text, end + 1, next_end, col);
    }

    fn history_back(&mut self) {
        let next = match &self.browsing {
            Some((i, _)) if *i > 0 => i - 1,
            Some(_) => return,
            None if self.history.is_empty() => return,
            None => self.history.len() - 1,
        };
        let draft = match self.browsing.take() {
            Some((_, d)) => d,
            None => self.text.clone(),
        };
        self.text = self.history[next].clone();
        self.cursor = self.text.len();
        self.browsing = Some((next, draft));
    }

    fn history_forward(&mut self) {
        let Some((i, draft)) = self.browsing.take() else { return };
        if i + 1 < self.history.len() {
            self.text = self.history[i + 1].clone();
            self.browsing = Some((i + 1, draft));
        } else {
            self.text = draft;
        }
        self.cursor = self.text.len();
    }

    /// The text wrapped to `cols` columns, and the cursor's (row, column).
    pub fn layout(&self, cols: usize) -> (Vec<String>, (usize, usize)) {
        let cols = cols.max(2);
        let mut rows = vec![String::new()];
        let mut col = 0;
        let mut cursor = (0, 0);
        for (i, c) in self.text.char_indices() {
            if i == self.cursor {
                cursor = (rows.len() - 1, col);
            }
            if c == '\n' {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = c.width().unwrap_or(0);
            if col + w > cols {
                rows.push(String::new());
                col = 0;
                if i == self.cursor {
                    cursor = (rows.len() - 1, 0);
                }
            }
            if let Some(r) = rows.last_mut() {
                r.push(if c.is_control() { ' ' } else { c });
            }
            col += w;
        }
        if self.cursor >= self.text.len() {
            if col >= cols {
                rows.push(String::new());
                col = 0;
            }
            cursor = (rows.len() - 1, col);
        }
        (rows, cursor)
    }

    /// The `@word` or `/word` being typed at the cursor: (start byte, word).
    pub fn token_at_cursor(&self) -> Option<(usize, &str)> {
        let before = &self.text[..self.cursor];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let after_ok = self.text[self.cursor..].chars().next().is_none_or(char::is_whitespace);
        (after_ok && (word.starts_with('@') || (word.starts_with('/') && start == 0))).then_some((start, word))
    }

    /// Replaces the token at the cursor with `with` and a space.
    pub fn replace_token(&mut self, start: usize, with: &str) {
        self.text.replace_range(start..self.cursor, &format!("{with} "));
        self.cursor = start + with.len() + 1;
    }
}

/// The byte offset in `text[from..to]` nearest to display column `col`.
fn at_column(text: &str, from: usize, to: usize, col: usize) -> usize {
    let mut w = 0;
    for (i, c) in text[from..to].char_indices() {
        let cw = c.width().unwrap_or(0);
        if w + cw > col {
            return from + i;
        }
        w += cw;
    }
    to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_moves() {
        let mut c = Composer::default();
        c.insert("hello wörld");
        c.backspace();
        c.insert("d");
        c.left();
        c.left();
        c.delete();
        assert_eq!(c.text(), "hello wörd");
        c.end();
        c.delete_word();
        assert_eq!(c.text(), "hello ");
        c.insert("a\r\nb");
        assert_eq!(c.text(), "hello a\nb");
        c.up();
        assert_eq!(c.cursor(), 1, "same column on the line above");
        c.kill_to_end();
        assert_eq!(c.text(), "h\nb");
    }

    #[test]
    fn a_huge_paste_is_kept_whole() {
        let mut c = Composer::default();
        let big = "x".repeat(1 << 20) + "\nend";
        c.insert(&big);
        assert_eq!(c.take(), big);
    }

    #[test]
    fn history_browses_and_restores_the_draft() {
        let mut c = Composer::default();
        c.insert("first");
        c.take();
        c.insert("second");
        c.take();
        c.insert("draft");
        c.up();
        assert_eq!(c.text(), "second");
        c.up();
        assert_eq!(c.text(), "first");
        c.down();
        c.down();
        assert_eq!(c.text(), "draft");
    }

    #[test]
    fn layout_wraps_wide_characters() {
        let mut c = Composer::default();
        c.insert("日本語だ");
        let (rows, cursor) = c.layout(5);
        assert_eq!(rows, ["日本", "語だ"]);
        assert_eq!(cursor, (1, 4));
        c.insert("x");
        assert_eq!(c.layout(5).1, (2, 0), "a full row moves the cursor down");
        c.home();
        assert_eq!(c.layout(5).1, (0, 0));
    }

    #[test]
    fn tokens_for_completion() {
        let mut c = Composer::default();
        c.insert("/mo");
        assert_eq!(c.token_at_cursor(), Some((0, "/mo")));
        c.set("look at @src/ma");
        assert_eq!(c.token_at_cursor(), Some((8, "@src/ma")));
        c.replace_token(8, "@src/main.rs");
        assert_eq!(c.text(), "look at @src/main.rs ");
        c.set("a /b");
        assert_eq!(c.token_at_cursor(), None, "slash commands only at the start");
    }
}
