//! A modal list to choose from: past sessions (`/resume`, `tern resume`),
//! models (`/model`) or where to fork the conversation (`/fork`). Typing filters it; ↑↓ move; Enter picks.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What choosing a row does.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    /// Resume this session.
    Session(String),
    /// Continue the conversation with this model.
    Model { provider: String, model: String },
    /// A new session from session `id`'s first `turns` turns (all: None),
    /// with `text` (the message gone back to) in the composer.
    Fork { id: String, turns: Option<usize>, text: Option<String> },
}

/// One row: its text, a dimmed note after it, and what it picks (None:
/// shown but not choosable, e.g. a model not installed).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub text: String,
    pub note: String,
    pub pick: Option<Pick>,
}

/// The picker's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub title: String,
    pub rows: Vec<Row>,
    /// Shown when no row matches.
    pub empty: String,
    /// Typed text; rows whose text contains every word of it are shown.
    pub filter: String,
    /// Index into [`Picker::visible`].
    pub selected: usize,
}

/// What a key did to the picker.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Stay,
    Close,
    Chose(Pick),
}

impl Picker {
    /// A picker over `rows`, with the first choosable row selected.
    pub fn new(title: &str, rows: Vec<Row>, empty: &str) -> Self {
        let selected = rows.iter().position(|r| r.pick.is_some()).unwrap_or(0);
        Picker { title: title.into(), rows, empty: empty.into(), filter: String::new(), selected }
    }

    /// The rows that match the filter, in order.
    pub fn visible(&self) -> Vec<&Row> {
        let words: Vec<String> = self.filter.split_whitespace().map(str::to_lowercase).collect();
        self.rows
            .iter()
            .filter(|r| {
                let text = r.text.to_lowercase();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .collect()
    }

    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let count = self.visible().len();
        match key.code {
            KeyCode::Esc => return Outcome::Close,
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(count.saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(count.saturating_sub(1)),
            KeyCode::Enter => {
                return match self.visible().get(self.selected).and_then(|r| r.pick.clone()) {
                    Some(pick) => Outcome::Chose(pick),
                    None => Outcome::Stay,
                };
            }
            KeyCode::Backspace => {
                self.filter.pop();
                self.selected = 0;
            }
            KeyCode::Char('u') if ctrl => {
                self.filter.clear();
                self.selected = 0;
            }
            KeyCode::Char(c) if !ctrl => {
                self.filter.push(c);
                self.selected = 0;
            }
            _ => {}
        }
        Outcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn model(name: &str, installed: bool) -> Row {
        Row {
            text: format!("{name}  local"),
            note: String::new(),
            pick: installed.then(|| Pick::Model { provider: "local".into(), model: name.into() }),
        }
    }

    #[test]
    fn typing_filters_and_enter_picks_the_selected_row() {
        let rows = vec![model("qwen-big", false), model("qwen-small", true), model("other", true)];
        let mut p = Picker::new("model", rows, "none");
        assert_eq!(p.selected, 1, "the first choosable row");
        for c in "small".chars() {
            assert_eq!(p.key(key(KeyCode::Char(c))), Outcome::Stay);
        }
        assert_eq!(p.visible().len(), 1);
        let want = Pick::Model { provider: "local".into(), model: "qwen-small".into() };
        assert_eq!(p.key(key(KeyCode::Enter)), Outcome::Chose(want));
        // A row that cannot be chosen stays open; Esc closes.
        p.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        p.key(key(KeyCode::Up));
        assert_eq!(p.key(key(KeyCode::Enter)), Outcome::Stay);
        assert_eq!(p.key(key(KeyCode::Esc)), Outcome::Close);
        // Movement stays within the visible rows.
        for _ in 0..5 {
            p.key(key(KeyCode::Down));
        }
        assert_eq!(p.selected, 2);
    }
}
