//! `read_file`: a window of a text file with line numbers.

use crate::nearby::{Want, missing};
use crate::path::{display, resolve_for_read};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

const DEFAULT_LIMIT: usize = 2000;
const MAX_OUTPUT_BYTES: usize = 64 * 1024;
const MAX_LINE_CHARS: usize = 2000;
const SNIFF_BYTES: usize = 8192;

pub(crate) struct ReadFile;

#[derive(Deserialize)]
struct Args {
    path: String,
    /// 1-based first line.
    offset: Option<usize>,
    limit: Option<usize>,
}

impl Tool for ReadFile {
    fn name(&self) -> &'static str {
        "read_file"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Read a text file from the workspace. Returns lines prefixed with `L<number>: `. \
                Use offset (1-based line) and limit to page through large files."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path, relative to the workspace root or absolute."},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to return (1-based). Default 1."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Maximum number of lines. Default 2000."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let files = ctx.files.clone();
            blocking(ctx, move |ws, cancel| {
                let path = resolve_for_read(ws, &args.path)?;
                let shown = display(ws, &path);
                if cancel.is_cancelled() {
                    return Err(ToolError::Cancelled);
                }
                let offset = args.offset.unwrap_or(1).max(1);
                let out = match read(&path, &shown, offset, args.limit.unwrap_or(DEFAULT_LIMIT).max(1)) {
                    // Only a miss pays for the walk that names what exists.
                    Err(_) if !crate::nearby::exists(&path) => {
                        return Err(missing(ws, &shown, format!("{shown} does not exist"), Want::File, cancel));
                    }
                    r => r?,
                };
                // Edits check the file is still what the model saw.
                files.stamp_read(&path);
                Ok(ToolOutput::text(out))
            })
            .await
        })
    }
}

#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn read(path: &Path, shown: &str, offset: usize, limit: usize) -> Result<String, ToolError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::Failed(format!("{shown} does not exist")),
        _ => ToolError::Failed(format!("cannot read {shown}: {e}")),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ToolError::Failed(format!("{shown} is a directory; use list_dir to see its entries")));
    }
    if !meta.is_file() {
        // A FIFO or device could block the read forever.
        return Err(ToolError::Failed(format!("{shown} is not a regular file (a FIFO, socket or device); not read")));
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut sniff = vec![0u8; SNIFF_BYTES];
    let n = read_up_to(&mut file, &mut sniff).map_err(io)?;
    sniff.truncate(n);
    if sniff.contains(&0) {
        return Ok(format!("{shown} is a binary file ({} bytes); its contents are not shown", meta.len()));
    }
    let reader = BufReader::new(std::io::Cursor::new(sniff).chain(file));
    let mut out = String::new();
    let mut lineno = 0usize;
    let mut shown_lines = 0usize;
    let mut more = false;
    for line in reader.split(b'\n') {
        let mut line = line.map_err(io)?;
        lineno += 1;
        if lineno < offset {
            continue;
        }
        if shown_lines == limit || out.len() >= MAX_OUTPUT_BYTES {
            more = true;
            break;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        push_line(&mut out, lineno, &String::from_utf8_lossy(&line), MAX_LINE_CHARS);
        shown_lines += 1;
    }
    if lineno < offset && !(lineno == 0 && offset == 1) {
        return Err(ToolError::Failed(format!("offset {offset} is past the end of {shown} ({lineno} lines)")));
    }
    if lineno == 0 {
        return Ok(format!("{shown} is empty"));
    }
    if more {
        let next = offset + shown_lines;
        out.push_str(&format!("[… more lines follow; call read_file with offset={next} to continue]\n"));
    } else {
        out.push_str(&end_of_file(lineno));
    }
    Ok(out)
}

/// Appends line `lineno` (1-based) as the model is shown file text,
/// `L<n>: text`, cut after `max` characters.
pub(crate) fn push_line(out: &mut String, lineno: usize, text: &str, max: usize) {
    out.push_str(&format!("L{lineno}: "));
    if text.chars().count() > max {
        out.extend(text.chars().take(max));
        out.push_str(" [… line truncated]");
    } else {
        out.push_str(text);
    }
    out.push('\n');
}

/// The line after a file's last: a model asked how long the file is
/// reads it here instead of counting lines (a small one miscounts).
pub(crate) fn end_of_file(lines: usize) -> String {
    format!("[end of file: {lines} line{}]\n", if lines == 1 { "" } else { "s" })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn windows_and_binary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "one\r\ntwo\nthree\n").unwrap();
        assert_eq!(read(&p, "a.txt", 1, 10).unwrap(), "L1: one\nL2: two\nL3: three\n[end of file: 3 lines]\n");
        assert_eq!(read(&p, "a.txt", 3, 1).unwrap(), "L3: three\n[end of file: 3 lines]\n");
        let r = read(&p, "a.txt", 2, 1).unwrap();
        assert!(r.starts_with("L2: two\n[… more lines follow; call read_file with offset=3"), "{r}");
        assert!(read(&p, "a.txt", 9, 1).is_err());
        let b = dir.path().join("b.bin");
        std::fs::write(&b, [1u8, 0, 2, 3]).unwrap();
        assert!(read(&b, "b.bin", 1, 10).unwrap().contains("binary file (4 bytes)"));
        let e = dir.path().join("e");
        std::fs::write(&e, "").unwrap();
        assert_eq!(read(&e, "e", 1, 10).unwrap(), "e is empty");
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(100_000)).unwrap();
        assert!(read(&big, "big", 1, 10).unwrap().contains("[… line truncated]"));
        assert!(read(dir.path(), "d", 1, 1).unwrap_err().to_string().contains("list_dir"));
        let fifo = dir.path().join("f");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read(&fifo, "f", 1, 1).unwrap_err().to_string().contains("not a regular file"));
    }
}
