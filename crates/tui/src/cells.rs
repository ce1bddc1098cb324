//! How each kind of transcript cell is laid out: pure functions from a
//! cell to styled, wrapped lines.

use crate::highlight::Highlights;
use crate::markdown;
use crate::text::{ansi_lines, display, wrap};
use crate::transcript::{Kind, Tool};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::time::Duration;
use tern_protocol::{FileChange, FileChangeKind};

/// Lines of output shown while folded.
const FOLDED_LINES: usize = 5;

/// The lines of `kind` at `width`.
pub(crate) fn layout(kind: &Kind, width: usize, expanded: bool, hl: &mut Highlights) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    match kind {
        Kind::User(text) => {
            let mut out = Vec::new();
            for (i, l) in display(text).split('\n').enumerate() {
                let lead = if i == 0 { "› " } else { "  " };
                let line = Line::from(vec![
                    Span::styled(lead, Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
                    Span::raw(l.to_string()),
                ]);
                out.extend(wrap(&line, width, "  "));
            }
            out
        }
        Kind::Assistant { text } => {
            let body = markdown::render(text, width.saturating_sub(2), hl);
            body.into_iter()
                .enumerate()
                .map(|(i, mut l)| {
                    let lead = if i == 0 {
                        Span::styled("• ", Style::default().fg(Color::Magenta))
                    } else {
                        Span::raw("  ")
                    };
                    l.spans.insert(0, lead);
                    l
                })
                .collect()
        }
        Kind::Reasoning { text } => {
            let clean = display(text);
            let mut out = vec![Line::styled("thinking", dim.add_modifier(Modifier::ITALIC))];
            let lines: Vec<&str> = clean.lines().filter(|l| !l.trim().is_empty()).collect();
            if expanded {
                for l in lines {
                    out.extend(wrap(&Line::styled(format!("  {l}"), dim.add_modifier(Modifier::ITALIC)), width, "  "));
                }
            } else if let Some(last) = lines.last() {
                let summary = format!("  {} (ctrl+o to expand)", last.trim());
                out.extend(
                    wrap(&Line::styled(summary, dim.add_modifier(Modifier::ITALIC)), width, "  ").into_iter().take(2),
                );
            }
            out
        }
        Kind::Tool(t) => tool_lines(t, width, expanded),
        Kind::Diff(changes) => diff_lines(changes, width, expanded),
        Kind::Info(text) => wrap_plain(text, width, dim),
        Kind::Warning(text) => wrap_plain(&format!("⚠ {text}"), width, Style::default().fg(Color::Yellow)),
        Kind::Error(text) => wrap_plain(&format!("✗ {text}"), width, Style::default().fg(Color::Red)),
    }
}

fn wrap_plain(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    display(text).split('\n').flat_map(|l| wrap(&Line::styled(l.to_string(), style), width, "  ")).collect()
}

pub(crate) fn tool_lines(t: &Tool, width: usize, expanded: bool) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    let (mark, mark_style, status) = match &t.ended {
        None => ("◌", Style::default().fg(Color::Yellow), format!(" ({})", seconds(t.started.elapsed()))),
        Some(e) => {
            let mut parts: Vec<String> = e.duration.map(seconds).into_iter().collect();
            if let Some(c) = e.exit_code.filter(|c| *c != 0) {
                parts.push(format!("exit {c}"));
            }
            let mark = if e.success { "✓" } else { "✗" };
            let color = if e.success { Color::Green } else { Color::Red };
            let status = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
            (mark, Style::default().fg(color), status)
        }
    };
    let head = Line::from(vec![
        Span::styled(format!("{mark} "), mark_style),
        Span::styled(format!("{} ", t.tool), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(display(&t.title).replace('\n', " ")),
        Span::styled(status, dim),
    ]);
    let mut out = wrap(&head, width, "    ");
    let (lines, total) = if expanded {
        let all = ansi_lines(&t.output, Style::default());
        let n = all.len();
        (all, n)
    } else {
        // Folded, only the last lines show: lay out just those (a flood of
        // output would otherwise be laid out whole on every frame).
        tail_lines(&t.output, FOLDED_LINES + 1)
    };
    let shown: Vec<Line<'static>> = if expanded || total <= FOLDED_LINES + 1 {
        lines
    } else {
        let skip = lines.len().saturating_sub(FOLDED_LINES);
        lines.into_iter().skip(skip).collect()
    };
    if t.dropped > 0 && expanded {
        out.push(Line::styled(format!("  … {} earlier bytes not kept", t.dropped), dim));
    }
    if shown.len() < total {
        out.push(Line::styled(format!("  … {} more lines (ctrl+o to expand)", total - shown.len()), dim));
    }
    for mut l in shown {
        l.spans.insert(0, Span::styled("  │ ", dim));
        out.extend(wrap(&l, width, "  │ "));
    }
    out
}

/// The last `keep` lines of `output` as styled lines, and how many lines it
/// has in all. Colours set before those lines are not carried into them.
fn tail_lines(output: &str, keep: usize) -> (Vec<Line<'static>>, usize) {
    let bytes = output.as_bytes();
    let newlines = bytes.iter().filter(|b| **b == b'\n').count();
    let total = newlines + usize::from(!bytes.is_empty() && !output.ends_with('\n'));
    // Where the last `keep` lines begin: after the (keep+1)-th newline from
    // the end, not counting one that ends the text.
    let body = output.strip_suffix('\n').unwrap_or(output);
    let start = body.rmatch_indices('\n').nth(keep.saturating_sub(1)).map_or(0, |(i, _)| i + 1);
    let lines = ansi_lines(&output[start..], Style::default());
    (lines, total)
}

fn diff_lines(changes: &[FileChange], width: usize, expanded: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for c in changes {
        let (verb, color) = match c.kind {
            FileChangeKind::Add => ("added", Color::Green),
            FileChangeKind::Delete => ("deleted", Color::Red),
            FileChangeKind::Update => ("edited", Color::Yellow),
        };
        let (plus, minus) = c.diff.lines().fold((0, 0), |(p, m), l| match l.as_bytes().first() {
            Some(b'+') if !l.starts_with("+++") => (p + 1, m),
            Some(b'-') if !l.starts_with("---") => (p, m + 1),
            _ => (p, m),
        });
        let path = match &c.move_path {
            Some(to) => format!("{} → {}", c.path, to),
            None => c.path.clone(),
        };
        out.push(Line::from(vec![
            Span::styled(format!("✎ {verb} "), Style::default().fg(color)),
            Span::styled(display(&path), Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(format!(" +{plus} -{minus}"), Style::default().fg(Color::DarkGray)),
        ]));
        let body: Vec<&str> = c.diff.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++")).collect();
        let limit = if expanded { body.len() } else { 40 };
        for l in body.iter().take(limit) {
            let style = match l.as_bytes().first() {
                Some(b'+') => Style::default().fg(Color::Green),
                Some(b'-') => Style::default().fg(Color::Red),
                Some(b'@') => Style::default().fg(Color::Cyan),
                _ => Style::default(),
            };
            out.extend(wrap(&Line::styled(format!("  {}", display(l)), style), width, "  "));
        }
        if body.len() > limit {
            out.push(Line::styled(
                format!("  … {} more diff lines (ctrl+o to expand)", body.len() - limit),
                Style::default().fg(Color::DarkGray),
            ));
        }
    }
    out
}

/// `3.2s`, `1m05s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 { format!("{s:.1}s") } else { format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::MAX_OUTPUT;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn tool_output_is_folded_and_bounded() {
        let mut tool = Tool::new("i1", "c1", "exec_command", "cargo test".into());
        for i in 0..20 {
            tool.append(&format!("line {i}\n"));
        }
        let folded = text(&tool_lines(&tool, 60, false));
        assert!(folded[0].contains("exec_command cargo test"), "{folded:?}");
        assert!(folded[1].contains("15 more lines"), "{folded:?}");
        assert_eq!(folded.len(), 2 + FOLDED_LINES);
        assert_eq!(text(&tool_lines(&tool, 60, true)).len(), 21);
        tool.append(&"x".repeat(MAX_OUTPUT * 2));
        assert!(tool.output.len() <= MAX_OUTPUT && tool.dropped > MAX_OUTPUT);
    }

    #[test]
    fn a_folded_tail_matches_the_whole_layout() {
        for output in ["", "one", "one\n", "a\nb\nc", "a\nb\nc\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "x\n\n\ny"] {
            let all = ansi_lines(output, Style::default());
            let (tail, total) = tail_lines(output, 3);
            assert_eq!(total, all.len(), "{output:?}");
            let want = text(&all[all.len().saturating_sub(3)..]);
            assert_eq!(text(&tail), want, "{output:?}");
        }
    }
}
