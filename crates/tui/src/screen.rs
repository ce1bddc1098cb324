//! Frames written with as few bytes as the terminal needs. ratatui sends
//! the cells that differ from the last frame; when the transcript scrolls
//! by a line (every new line of a streamed answer), every row of it
//! differs, and the whole transcript was sent again. Instead, the terminal
//! is told to scroll those rows itself (a scroll region), the last frame is
//! shifted the same way, and only what then still differs is sent: the new
//! rows and the status.
//!
//! The scroll is found from the frames, not from the transcript's model:
//! each row of the region is hashed, and the shift under which the most
//! non-blank rows stay equal wins. A wrong guess costs bytes, never
//! correctness, because the diff is taken against exactly what the
//! terminal then shows.

use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Rect};
use std::hash::BuildHasher;
use std::io::Stdout;

/// What a frame's drawing reports back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drawn {
    /// Where the terminal cursor belongs (hidden when `None`).
    pub cursor: Option<Position>,
    /// The full-width rows that scroll (the transcript).
    pub scrolling: Rect,
}

/// The terminal (tern's, or a test backend) and what it shows.
pub struct Screen<B: Backend = CrosstermBackend<Stdout>> {
    pub term: Terminal<B>,
    /// The last frame written: what the terminal shows, unless `stale`.
    shown: Buffer,
    /// The terminal was cleared or resized since `shown` was taken.
    stale: bool,
    /// Row hashes of `shown`'s scrolling region, and where that was.
    rows: Vec<u64>,
    region: Rect,
    hasher: Hasher,
    /// Frames in which the terminal scrolled rows itself.
    pub scrolls: u64,
}

/// A fast hash for rows of cells. No defence against chosen input is
/// needed: a collision can only pick a poor shift, which costs bytes, never
/// what is shown (see the module's note).
type Hasher = foldhash::fast::FixedState;

impl<B: Backend> Screen<B> {
    pub fn new(term: Terminal<B>) -> Screen<B> {
        Screen {
            term,
            shown: Buffer::empty(Rect::default()),
            stale: true,
            rows: Vec::new(),
            region: Rect::default(),
            hasher: foldhash::fast::FixedState::default(),
            scrolls: 0,
        }
    }

    /// Draws one frame with `render`, sending only what changed.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame) -> Drawn) -> Result<(), B::Error> {
        self.term.autoresize()?;
        let mut frame = self.term.get_frame();
        let drawn = render(&mut frame);
        let area = frame.area();
        let region = drawn.scrolling.intersection(area);
        // Only whole rows can scroll.
        let region = if region.x == 0 && region.width == area.width { region } else { Rect::default() };
        let comparable = !self.stale && self.shown.area == area && self.region == region;
        // Most frames (a key typed, the status ticking) leave the region
        // as it was: comparing cells is cheaper than hashing them.
        let same = comparable && cells(&self.shown, region) == cells(self.term.current_buffer_mut(), region);
        let rows = if same {
            std::mem::take(&mut self.rows)
        } else {
            row_hashes(&self.hasher, self.term.current_buffer_mut(), region)
        };
        if comparable
            && !same
            && let Some(shift) = scroll(&self.rows, &rows, self.blank(region.width))
        {
            self.scroll(region, shift)?;
        }
        let done = self.term.apply_buffer_with_cursor(drawn.cursor)?;
        if self.shown.area == done.buffer.area {
            self.shown.content.clone_from(&done.buffer.content);
        } else {
            self.shown = done.buffer.clone();
        }
        self.stale = false;
        self.rows = rows;
        self.region = region;
        Ok(())
    }

    /// Clears the terminal; the next frame is drawn whole.
    pub fn clear(&mut self) -> Result<(), B::Error> {
        self.stale = true;
        self.term.clear()
    }

    /// Resizes to the terminal's size (a no-op when it has not changed).
    pub fn autoresize(&mut self) -> Result<(), B::Error> {
        self.term.autoresize()
    }

    /// Scrolls the region's rows on the terminal by `shift` (up when
    /// positive), and makes ratatui's last frame what the terminal now
    /// shows, so the diff sends only what differs from that.
    fn scroll(&mut self, region: Rect, shift: i32) -> Result<(), B::Error> {
        let rows = region.top()..region.bottom();
        let by = shift.unsigned_abs() as u16;
        let backend = self.term.backend_mut();
        if shift > 0 {
            backend.scroll_region_up(rows, by)?;
        } else {
            backend.scroll_region_down(rows, by)?;
        }
        self.scrolls += 1;
        shift_rows(&mut self.shown, region, shift);
        // ratatui diffs its current buffer (the new frame) against the
        // other one; put the shifted frame there.
        std::mem::swap(self.term.current_buffer_mut(), &mut self.shown);
        self.term.swap_buffers();
        std::mem::swap(self.term.current_buffer_mut(), &mut self.shown);
        Ok(())
    }

    fn blank(&self, width: u16) -> u64 {
        hash_row(&self.hasher, &vec![Cell::EMPTY; usize::from(width)])
    }
}

/// The cells of the region's rows (whole rows: the region is full width).
fn cells(buf: &Buffer, region: Rect) -> &[Cell] {
    let w = usize::from(buf.area.width);
    &buf.content[usize::from(region.top()) * w..usize::from(region.bottom()) * w]
}

fn row_hashes(hasher: &Hasher, buf: &Buffer, region: Rect) -> Vec<u64> {
    let w = usize::from(buf.area.width);
    (region.top()..region.bottom())
        .map(|y| {
            let start = usize::from(y) * w;
            hash_row(hasher, &buf.content[start..start + w])
        })
        .collect()
}

fn hash_row(hasher: &Hasher, cells: &[Cell]) -> u64 {
    hasher.hash_one(cells)
}

/// The shift (rows up when positive, down when negative) under which the
/// most non-blank rows of `new` equal rows of `old`, if it beats not
/// scrolling. Blank rows match anywhere, so they do not count.
fn scroll(old: &[u64], new: &[u64], blank: u64) -> Option<i32> {
    let h = old.len().min(new.len()) as i32;
    let matching = |k: i32| -> usize {
        (0..h)
            .filter(|&i| {
                (0..h).contains(&(i + k)) && new[i as usize] != blank && new[i as usize] == old[(i + k) as usize]
            })
            .count()
    };
    let stay = matching(0);
    let (best, count) = (1..h).flat_map(|k| [k, -k]).map(|k| (k, matching(k))).max_by_key(|&(k, c)| (c, -k.abs()))?;
    (count > stay).then_some(best)
}

/// Shifts the region's rows of `buf` as the terminal's scroll does: up by
/// `shift` rows when positive (blank rows enter at the bottom), down when
/// negative (at the top).
fn shift_rows(buf: &mut Buffer, region: Rect, shift: i32) {
    let w = usize::from(buf.area.width);
    let (top, bottom) = (usize::from(region.top()) * w, usize::from(region.bottom()) * w);
    let cells = &mut buf.content[top..bottom];
    let by = (shift.unsigned_abs() as usize * w).min(cells.len());
    if shift > 0 {
        cells.rotate_left(by);
        let n = cells.len();
        cells[n - by..].iter_mut().for_each(Cell::reset);
    } else {
        cells.rotate_right(by);
        cells[..by].iter_mut().for_each(Cell::reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shift_that_keeps_the_most_rows() {
        let b = 0;
        // A line streamed in: everything moved up one, a new row at the bottom.
        assert_eq!(scroll(&[1, 2, 3, 4], &[2, 3, 4, 5], b), Some(1));
        // Three lines at once, and the last row still growing.
        assert_eq!(scroll(&[1, 2, 3, 4, 5, 6], &[4, 5, 9, 7, 8, 10], b), Some(3));
        // Scrolled back (PgUp): rows moved down.
        assert_eq!(scroll(&[3, 4, 5, 6], &[1, 2, 3, 4], b), Some(-2));
        // Only the last row changed: no scroll.
        assert_eq!(scroll(&[1, 2, 3, 4], &[1, 2, 3, 9], b), None);
        // Blank rows match anything and prove nothing.
        assert_eq!(scroll(&[b, b, b, 1], &[b, b, b, 2], b), None);
        // Nothing in common.
        assert_eq!(scroll(&[1, 2, 3], &[4, 5, 6], b), None);
    }

    /// Whatever the frames, the terminal ends up showing each one exactly.
    #[test]
    fn the_terminal_always_shows_the_frame() {
        use ratatui::backend::TestBackend;
        use ratatui::text::Line;
        use ratatui::widgets::Paragraph;
        let (w, h) = (30u16, 12u16);
        let mut screen = Screen::new(Terminal::new(TestBackend::new(w, h)).unwrap());
        let mut seed = 7u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut lines: Vec<String> = Vec::new();
        let mut back = 0usize;
        for frame in 0..400 {
            // New lines stream in, the last one grows, the user scrolls
            // back and forth, a box covers part of the screen.
            match next(10) {
                0..=4 => lines.push(format!("line {} {}", lines.len(), "x".repeat(next(20) as usize))),
                5 => lines.extend((0..next(15)).map(|i| format!("burst {i}"))),
                6 => back = (back + next(6) as usize).min(lines.len()),
                7 => back = back.saturating_sub(next(6) as usize),
                _ => {
                    if let Some(l) = lines.last_mut() {
                        l.push('y');
                    }
                }
            }
            let boxed = next(8) == 0;
            let region = Rect::new(0, 0, w, h - 2);
            let end = lines.len() - back.min(lines.len());
            let start = end.saturating_sub(usize::from(region.height));
            let shown: Vec<Line> = lines[start..end].iter().map(|l| Line::raw(l.clone())).collect();
            let status = format!("frame {frame}");
            let mut expected = Buffer::empty(Rect::new(0, 0, w, h));
            screen
                .draw(|f| {
                    let pad = usize::from(region.height) - shown.len();
                    let mut all = vec![Line::default(); pad];
                    all.extend(shown);
                    f.render_widget(Paragraph::new(all), region);
                    f.render_widget(Paragraph::new(status.as_str()), Rect::new(0, h - 1, w, 1));
                    if boxed {
                        f.render_widget(Paragraph::new("a box"), Rect::new(5, 3, 10, 3));
                    }
                    expected = f.buffer_mut().clone();
                    Drawn { cursor: None, scrolling: region }
                })
                .unwrap();
            assert_eq!(screen.term.backend().buffer(), &expected, "frame {frame}");
        }
        assert!(screen.scrolls > 100, "the scroll path was hardly taken: {}", screen.scrolls);
    }

    #[test]
    fn shifting_matches_the_terminals_scroll() {
        let area = Rect::new(0, 0, 3, 5);
        let mut buf = Buffer::with_lines(["aaa", "bbb", "ccc", "ddd", "sss"]);
        shift_rows(&mut buf, Rect::new(0, 0, 3, 4), 1);
        assert_eq!(buf, Buffer::with_lines(["bbb", "ccc", "ddd", "   ", "sss"]));
        shift_rows(&mut buf, Rect::new(0, 1, 3, 3), -2);
        assert_eq!(buf, Buffer::with_lines(["bbb", "   ", "   ", "ccc", "sss"]));
        assert_eq!(buf.area, area);
    }
}
