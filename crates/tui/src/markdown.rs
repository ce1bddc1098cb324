//! The assistant's Markdown as styled terminal lines. Parsed with
//! pulldown-cmark; the text is sanitized first, so nothing the model writes
//! can drive the terminal. Closed code blocks are coloured from the
//! highlight cache once it has them (see `highlight`).

use crate::highlight::Highlights;
use crate::text::{display, wrap};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Renders `md` wrapped to `width` columns.
pub fn render(md: &str, width: usize, hl: &mut Highlights) -> Vec<Line<'static>> {
    let clean = display(md);
    let mut r = Renderer { width, ..Renderer::default() };
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    for (ev, range) in Parser::new_ext(&clean, opts).into_offset_iter() {
        if matches!(ev, Event::End(TagEnd::CodeBlock)) {
            let block = clean.get(range.clone()).unwrap_or("");
            let closed = closed_fence(block) || (range.end < clean.len() && !is_fenced(block));
            r.highlighted =
                if closed { hl.get(&r.prefix, r.code.as_deref().unwrap_or("").trim_end_matches('\n')) } else { None };
        }
        r.event(ev);
    }
    r.finish_line();
    while r.out.last().is_some_and(|l| l.width() == 0) {
        r.out.pop();
    }
    r.out
}

#[derive(Default)]
struct Renderer {
    width: usize,
    out: Vec<Line<'static>>,
    line: Vec<Span<'static>>,
    /// Inline styles in effect (emphasis, strong, links…).
    styles: Vec<Style>,
    /// One entry per open list: the next number, or None for bullets.
    lists: Vec<Option<u64>>,
    /// The prefix of the next line (list marker), then of its continuations.
    prefix: String,
    quote: usize,
    code: Option<String>,
    /// The colours of the code block being closed, when ready.
    highlighted: Option<crate::highlight::Highlighted>,
    in_heading: bool,
    /// Whether a blank line is owed before the next block.
    gap: bool,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.iter().fold(Style::default(), |a, s| a.patch(*s))
    }

    fn block_start(&mut self) {
        self.finish_line();
        if self.gap && !self.out.is_empty() {
            self.out.push(Line::default());
        }
        self.gap = false;
    }

    fn finish_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.line);
        let quote = "│ ".repeat(self.quote);
        let lead = format!("{quote}{}", self.prefix);
        let indent = " ".repeat(crate::text::width(&lead));
        let mut first = vec![Span::styled(quote, Style::default().fg(Color::DarkGray))];
        first.push(Span::raw(self.prefix.clone()));
        first.extend(spans);
        self.out.extend(wrap(&Line::from(first), self.width, &indent));
        // Later lines of the same item are indented under its text.
        self.prefix = " ".repeat(crate::text::width(&self.prefix));
    }

    fn push_text(&mut self, text: &str) {
        let style = self.style();
        let mut parts = text.split('\n').peekable();
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                self.line.push(Span::styled(part.to_string(), style));
            }
            if parts.peek().is_some() {
                self.finish_line();
            }
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        if let Some(code) = self.code.as_mut() {
            match ev {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => self.code_block(),
                _ => {}
            }
            return;
        }
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.push_text(&t),
            Event::Code(t) => self.line.push(Span::styled(t.to_string(), Style::default().fg(Color::Cyan))),
            Event::SoftBreak => self.line.push(Span::raw(" ")),
            Event::HardBreak => self.finish_line(),
            Event::Rule => {
                self.block_start();
                self.out.push(Line::styled("─".repeat(self.width.min(40)), Style::default().fg(Color::DarkGray)));
                self.gap = true;
            }
            Event::TaskListMarker(done) => self.line.push(Span::raw(if done { "[x] " } else { "[ ] " })),
            Event::Html(t) | Event::InlineHtml(t) => self.push_text(&t),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.push_text(&t),
            Event::FootnoteReference(t) => self.push_text(&format!("[{t}]")),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // A paragraph inside a list item continues the item's line.
            Tag::Paragraph if self.prefix.trim().is_empty() => self.block_start(),
            Tag::Heading { level, .. } => {
                self.block_start();
                self.in_heading = true;
                let style = match level {
                    HeadingLevel::H1 => Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                    _ => Style::default().add_modifier(Modifier::BOLD),
                };
                self.styles.push(style);
            }
            Tag::BlockQuote(_) => {
                self.block_start();
                self.quote += 1;
            }
            Tag::CodeBlock(kind) => {
                self.block_start();
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.split([',', ' ']).next().unwrap_or("").to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some(String::new());
                self.prefix = lang; // remembered until the block ends
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.block_start();
                } else {
                    self.finish_line();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.finish_line();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "• ".into(),
                };
                self.prefix = format!("{}{marker}", "  ".repeat(depth));
            }
            Tag::Emphasis => self.styles.push(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.styles.push(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { .. } => self.styles.push(Style::default().fg(Color::Blue).add_modifier(Modifier::UNDERLINED)),
            Tag::Table(_) => self.block_start(),
            Tag::TableCell => self.line.push(Span::styled("│ ", Style::default().fg(Color::DarkGray))),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.finish_line();
                self.gap = true;
            }
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.in_heading = false;
                self.finish_line();
                self.gap = true;
            }
            TagEnd::BlockQuote(_) => {
                self.finish_line();
                self.quote = self.quote.saturating_sub(1);
                self.gap = true;
            }
            TagEnd::List(_) => {
                self.finish_line();
                self.lists.pop();
                self.prefix.clear();
                if self.lists.is_empty() {
                    self.gap = true;
                }
            }
            TagEnd::Item => {
                self.finish_line();
                self.prefix.clear();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.styles.pop();
            }
            TagEnd::TableRow | TagEnd::TableHead => self.finish_line(),
            TagEnd::Table => self.gap = true,
            _ => {}
        }
    }

    /// A fenced block: kept verbatim (never reflowed), in the code colour,
    /// under a dim language label.
    fn code_block(&mut self) {
        let code = self.code.take().unwrap_or_default();
        let lang = std::mem::take(&mut self.prefix);
        let dim = Style::default().fg(Color::DarkGray);
        if !lang.is_empty() {
            self.out.push(Line::styled(format!("  {lang}"), dim));
        }
        if let Some(lines) = self.highlighted.take() {
            for l in lines.iter() {
                let mut spans = vec![Span::styled("  ", dim)];
                spans.extend(l.spans.iter().cloned());
                self.out.extend(wrap(&Line::from(spans), self.width, "  "));
            }
        } else {
            let style = Style::default().fg(Color::LightYellow);
            for l in code.trim_end_matches('\n').split('\n') {
                let line = Line::from(vec![Span::styled("  ", dim), Span::styled(l.to_string(), style)]);
                self.out.extend(wrap(&line, self.width, "  "));
            }
        }
        self.gap = true;
    }
}

fn fence(line: &str) -> Option<&str> {
    let t = line.trim_start();
    ["```", "~~~"].into_iter().find(|f| t.starts_with(f))
}

fn is_fenced(block: &str) -> bool {
    block.lines().next().and_then(fence).is_some()
}

/// Whether a fenced block's closing fence has arrived (while streaming,
/// the parser closes an open block at the end of the text).
fn closed_fence(block: &str) -> bool {
    let mut lines = block.trim_end_matches(['\n', '\r']).lines();
    let Some(open) = lines.next().and_then(fence) else { return false };
    let Some(last) = lines.last() else { return false };
    let last = last.trim();
    let ch = open.chars().next().unwrap_or('`');
    last.len() >= 3 && last.chars().all(|c| c == ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(md: &str, width: usize) -> Vec<String> {
        render(md, width, &mut Highlights::default())
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn blocks_lists_and_code() {
        let md = "# Title\n\nSome *text* with `code`.\n\n- one\n- two\n  1. a\n  2. b\n\n```rust\nfn main() {}\n```\n\n> quoted";
        assert_eq!(
            plain(md, 40),
            [
                "Title",
                "",
                "Some text with code.",
                "",
                "• one",
                "• two",
                "  1. a",
                "  2. b",
                "",
                "  rust",
                "  fn main() {}",
                "",
                "│ quoted",
            ]
        );
    }

    #[test]
    fn list_items_wrap_under_their_text() {
        assert_eq!(plain("- alpha beta gamma delta", 12), ["• alpha beta", "  gamma ", "  delta"]);
    }

    #[test]
    fn only_closed_blocks_are_highlighted_and_then_coloured() {
        let mut hl = Highlights::default();
        render("```rust\nfn main() {}\n", 40, &mut hl);
        assert!(hl.take_queued().is_empty(), "an open block was queued");
        render("```rust\nfn main() {}\n```", 40, &mut hl);
        let jobs = hl.take_queued();
        assert_eq!(jobs.len(), 1);
        let plain_colour = render("```rust\nfn main() {}\n```", 40, &mut hl)[1].spans[1].style.fg;
        assert!(hl.store(crate::highlight::run(jobs)));
        let lines = render("```rust\nfn main() {}\n```\n\nafter", 40, &mut hl);
        let code = &lines[1];
        assert_eq!(code.spans.iter().map(|s| s.content.as_ref()).collect::<String>(), "  fn main() {}");
        assert!(code.spans.len() > 2 && code.spans[1].style.fg != plain_colour, "{code:?}");
    }

    #[test]
    fn escapes_in_model_text_are_dropped() {
        assert_eq!(plain("hi \u{1b}[2J\u{1b}]0;x\u{7}there", 40), ["hi there"]);
    }
}
