//! Reading a session log from its end, for a bounded replay.

use crate::log::{LogError, Record};
use std::path::Path;

/// Reads the last `newest` records of a log, reading the file from its end
/// (a long session's log is never read whole); lines that do not parse are
/// skipped. Returns them and whether older records were left unread.
/// Blocking.
#[allow(clippy::disallowed_methods)] // callers run it in spawn_blocking
pub(super) fn read_tail(path: &Path, newest: usize) -> Result<(Vec<Record>, bool), LogError> {
    use std::io::{Read, Seek, SeekFrom};
    const BLOCK: u64 = 256 * 1024;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    // Blocks read backwards until they hold more line ends than records
    // wanted (the extra one ends the line before the first record kept).
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let (mut start, mut ends) = (len, 0usize);
    while start > 0 && ends <= newest {
        let from = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        // The log's own last line end does not start a record.
        let own_last = usize::from(start == len && block.last() == Some(&b'\n'));
        ends += block.iter().filter(|b| **b == b'\n').count() - own_last;
        blocks.push(block);
        start = from;
    }
    let text: Vec<u8> = blocks.into_iter().rev().flatten().collect();
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    // A line cut by where reading began is not a record.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skipped = start > 0 || lines.len() > newest;
    let from = lines.len().saturating_sub(newest);
    Ok((lines[from..].iter().filter_map(|l| serde_json::from_slice(l).ok()).collect(), skipped))
}
