//! Unified diffs for file-change events and `tern diff`.

use similar::TextDiff;

/// A unified diff of `old` → `new` (either may be absent), labelled with `path`.
pub fn unified(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let (a, b) = (text(old), text(new));
    let is_binary = |b: Option<&[u8]>| b.is_some_and(|b| b.iter().take(8192).any(|c| *c == 0));
    if is_binary(old) || is_binary(new) {
        return format!("Binary file {path} changed\n");
    }
    let old_label = if old.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let new_label = if new.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    let a = a.unwrap_or_default();
    let b = b.unwrap_or_default();
    let diff = TextDiff::from_lines(&a, &b);
    diff.unified_diff().context_radius(3).header(&old_label, &new_label).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let d = unified("f.txt", Some(b"a\nb\n"), Some(b"a\nc\n"));
        assert!(d.starts_with("--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"), "{d}");
        assert!(unified("n.txt", None, Some(b"x\n")).starts_with("--- /dev/null\n+++ b/n.txt"));
        assert!(unified("f", Some(b"same\n"), Some(b"same\n")).is_empty());
        assert_eq!(unified("b", Some(b"\0"), None), "Binary file b changed\n");
    }
}
