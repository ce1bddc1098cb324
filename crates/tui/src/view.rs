//! Drawing the app: the transcript fills the screen above the composer;
//! a status line sits below it; approvals and the session picker are
//! modal boxes on top.

use crate::app::App;
use crate::cells::seconds;
use crate::screen::Drawn;
use crate::status::{context_text, short};
use crate::text::{display, width, wrap};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Padding, Paragraph};

/// Most composer rows shown; longer text scrolls to keep the cursor seen.
const MAX_COMPOSER_ROWS: usize = 8;
const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Draws everything; returns where the terminal cursor belongs and which
/// rows scroll.
pub fn draw(f: &mut Frame, app: &mut App) -> Drawn {
    let area = f.area();
    let cols = area.width as usize;
    let (rows, cursor) = app.composer.layout(cols.saturating_sub(2));
    let composer_h = rows.len().clamp(1, MAX_COMPOSER_ROWS);
    let activity_h = u16::from(app.busy());
    let queued_h = app.queued.len().min(3) as u16;
    let popup_h = app.popup.as_ref().map_or(0, |p| (p.items.len().min(8) + usize::from(p.note.is_some())) as u16);
    let [main, activity, queued, popup, sep, composer, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(activity_h),
        Constraint::Length(queued_h),
        Constraint::Length(popup_h),
        Constraint::Length(1),
        Constraint::Length(composer_h as u16),
        Constraint::Length(1),
    ])
    .areas(area);

    draw_transcript(f, app, main);
    if activity_h > 0 {
        f.render_widget(Paragraph::new(activity_line(app)), activity);
    }
    let dim = Style::default().fg(Color::DarkGray);
    let queued_lines: Vec<Line> =
        app.queued.iter().take(3).map(|q| Line::styled(format!("↳ queued: {}", one_line(q, cols)), dim)).collect();
    f.render_widget(Paragraph::new(queued_lines), queued);
    if let Some(p) = &app.popup {
        let first = p.selected.saturating_sub(7);
        let mut lines: Vec<Line> = p
            .items
            .iter()
            .enumerate()
            .skip(first)
            .take(8)
            .map(|(i, (item, desc))| {
                let style =
                    if i == p.selected { Style::default().fg(Color::Black).bg(Color::Cyan) } else { Style::default() };
                Line::from(vec![Span::styled(format!(" {item:<12}"), style), Span::styled(format!("  {desc}"), dim)])
            })
            .collect();
        lines.extend(p.note.as_ref().map(|n| Line::styled(format!(" {n}"), dim)));
        f.render_widget(Paragraph::new(lines), popup);
    }
    f.render_widget(Paragraph::new(Line::styled("─".repeat(cols), dim)), sep);

    // The composer, scrolled so the cursor row is visible.
    let top = cursor.0.saturating_sub(composer_h - 1);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(top)
        .take(composer_h)
        .map(|(i, r)| {
            let lead = if i == 0 { Span::styled("› ", Style::default().fg(Color::Cyan)) } else { Span::raw("  ") };
            Line::from(vec![lead, Span::raw(r.clone())])
        })
        .collect();
    if app.composer.is_empty() {
        let hint = if app.running {
            "type a follow-up; enter queues it"
        } else {
            "ask tern to do something; / for commands, @ for files"
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("› ", Style::default().fg(Color::Cyan)),
                Span::styled(hint, dim),
            ])),
            composer,
        );
    } else {
        f.render_widget(Paragraph::new(lines), composer);
    }
    f.render_widget(Paragraph::new(status_line(app, cols)), status);

    let mut drawn = Drawn { cursor: None, scrolling: main };
    if let Some(req) = app.approvals.front() {
        draw_approval(f, area, req);
    } else if app.picker.is_some() {
        draw_picker(f, app, area);
    } else {
        let x = composer.x + 2 + cursor.1 as u16;
        let y = composer.y + (cursor.0 - top) as u16;
        drawn.cursor = Some(Position::new(x.min(area.right().saturating_sub(1)), y));
    }
    drawn
}

fn draw_transcript(f: &mut Frame, app: &mut App, area: Rect) {
    let height = area.height as usize;
    let (mut lines, more_above) = app.transcript.visible(area.width as usize, height, app.scroll);
    // Scrolled past the top: clamp so the top stays in view.
    if lines.len() < height && app.scroll > 0 {
        app.scroll = app.scroll.saturating_sub(height - lines.len());
        (lines, _) = app.transcript.visible(area.width as usize, height, app.scroll);
    }
    if app.transcript.is_empty() && !app.starting {
        lines = welcome(app);
    }
    // Bottom-aligned, like a terminal.
    let pad = height.saturating_sub(lines.len());
    let mut all = vec![Line::default(); pad];
    all.extend(lines);
    f.render_widget(Paragraph::new(all), area);
    if app.scroll > 0 && area.height > 0 {
        let tag = format!(" ↓ {} rows below · esc to follow ", app.scroll);
        let w = width(&tag) as u16;
        let r = Rect { x: area.right().saturating_sub(w), y: area.bottom() - 1, width: w.min(area.width), height: 1 };
        f.render_widget(Paragraph::new(Line::styled(tag, Style::default().fg(Color::Black).bg(Color::Yellow))), r);
    }
    let _ = more_above;
}

fn welcome(app: &App) -> Vec<Line<'static>> {
    let dim = Style::default().fg(Color::DarkGray);
    let model = app.status.info.as_ref().map(|i| i.model.clone()).unwrap_or_default();
    vec![
        Line::styled("tern", Style::default().add_modifier(Modifier::BOLD)),
        Line::styled(format!("model {model} · /help for commands · ctrl+d to quit"), dim),
    ]
}

fn activity_line(app: &App) -> Line<'static> {
    let started = app.status.turn_started;
    let elapsed = started.map(|t| t.elapsed()).unwrap_or_default();
    let frame = SPINNER[(elapsed.as_millis() / 100) as usize % SPINNER.len()];
    let what = if app.starting {
        "starting the session".to_string()
    } else if !app.approvals.is_empty() {
        "waiting for your approval".to_string()
    } else if app.status.compacting {
        format!("compacting the conversation {}", seconds(elapsed))
    } else {
        format!("working {}", seconds(elapsed))
    };
    Line::from(vec![
        Span::styled(format!("{frame} "), Style::default().fg(Color::Cyan)),
        Span::styled(what, Style::default().add_modifier(Modifier::BOLD)),
        Span::styled(if app.running { " · esc to interrupt" } else { "" }, Style::default().fg(Color::DarkGray)),
    ])
}

fn status_line(app: &App, cols: usize) -> Line<'static> {
    let dim = Style::default().fg(Color::DarkGray);
    if let Some(h) = &app.hint {
        return Line::styled(h.clone(), Style::default().fg(Color::Yellow));
    }
    let s = &app.status;
    let model = s.info.as_ref().map_or("…".to_string(), |i| i.model.clone());
    let mut parts = vec![model, format!("ctx {}", context_text(s.context.used_tokens, s.context.window))];
    let u = &s.session_usage;
    if u.input_tokens + u.output_tokens > 0 {
        parts.push(format!("{} tok", short(u.input_tokens + u.output_tokens)));
    }
    if let Some(c) = s.session_cost {
        parts.push(format!("${c:.2}"));
    }
    if let Some(t) = s.turn_started {
        parts.push(seconds(t.elapsed()));
    }
    parts.extend(s.approval_policy.map(|p| p.name().to_string()));
    parts.extend(s.mcp_indicator());
    let text = parts.join(" · ");
    Line::styled(one_line(&text, cols), dim)
}

fn one_line(s: &str, cols: usize) -> String {
    let clean = display(s).replace('\n', " ⏎ ");
    let mut out = String::new();
    let mut w = 0;
    for c in clean.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if w + cw > cols.saturating_sub(1) {
            out.push('…');
            break;
        }
        out.push(c);
        w += cw;
    }
    out
}

fn modal(area: Rect, want_h: u16) -> Rect {
    let w = area.width.saturating_sub(4).min(100);
    let h = want_h.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + area.height.saturating_sub(h) / 2, width: w, height: h }
}

fn draw_approval(f: &mut Frame, area: Rect, req: &tern_protocol::ApprovalRequest) {
    let inner_w = area.width.saturating_sub(8).min(96) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let title = match &req.mcp {
        Some(call) => {
            let head = format!("{} · {}", display(&call.server), display(&call.tool));
            lines.extend(wrap(&Line::styled(head, bold), inner_w, "  "));
            lines.extend(wrap(
                &Line::styled(display(&req.command), Style::default().fg(Color::DarkGray)),
                inner_w,
                "  ",
            ));
            " call this MCP tool? "
        }
        None => {
            for l in display(&req.command).split('\n').take(20) {
                lines.extend(wrap(&Line::styled(format!("$ {l}"), bold), inner_w, "  "));
            }
            lines.push(Line::styled(format!("in {}", display(&req.cwd)), Style::default().fg(Color::DarkGray)));
            " run this command? "
        }
    };
    lines.extend(wrap(&Line::styled(display(&req.reason), Style::default().fg(Color::Yellow)), inner_w, ""));
    lines.push(Line::default());
    let key = |k: &str| Span::styled(k.to_string(), Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    lines.push(Line::from(vec![
        key("y"),
        Span::raw(" once   "),
        key("s"),
        Span::raw(" this session   "),
        key("a"),
        Span::raw(" always   "),
        key("n"),
        Span::raw(" deny"),
    ]));
    let r = modal(area, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .padding(Padding::horizontal(1))
        .title(title)
        .border_style(Style::default().fg(Color::Yellow));
    f.render_widget(Paragraph::new(lines).block(block), r);
}

fn draw_picker(f: &mut Frame, app: &App, area: Rect) {
    let Some(p) = &app.picker else { return };
    let inner_w = area.width.saturating_sub(8).min(96) as usize;
    let visible_rows = (area.height as usize).saturating_sub(7).clamp(1, 15);
    let rows = p.visible();
    let first = p.selected.saturating_sub(visible_rows - 1);
    let dim = Style::default().fg(Color::DarkGray);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if !p.filter.is_empty() {
        lines.push(Line::from(vec![Span::styled("filter: ", dim), Span::raw(display(&p.filter))]));
    }
    if rows.is_empty() {
        lines.push(Line::styled(p.empty.clone(), dim));
    }
    for (i, r) in rows.iter().enumerate().skip(first).take(visible_rows) {
        let text = one_line(&r.text, inner_w);
        let room = inner_w.saturating_sub(width(&text) + 2);
        let note = if r.note.is_empty() || room < 8 { String::new() } else { one_line(&r.note, room) };
        let mut style = if r.pick.is_none() { dim } else { Style::default() };
        if i == p.selected {
            style = style.fg(Color::Black).bg(Color::Cyan);
        }
        let mut spans = vec![Span::styled(text, style)];
        if !note.is_empty() {
            spans.push(Span::styled(format!("  {note}"), dim));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::styled("↑↓ choose · type to filter · enter pick · esc cancel", dim));
    let r = modal(area, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).padding(Padding::horizontal(1)).title(format!(" {} ", p.title));
    f.render_widget(Paragraph::new(lines).block(block), r);
}
