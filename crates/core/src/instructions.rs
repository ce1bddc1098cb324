//! Project instructions: `AGENTS.md` from the user's config directory and
//! from the repository root down to the working directory, with
//! `CLAUDE.md` read where a directory has no `AGENTS.md`.

use std::path::{Path, PathBuf};

/// The files that apply to `cwd`, outermost first, each with the name it
/// is given in the prompt. Blocking.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn instruction_files(config_dir: &Path, cwd: &Path) -> Vec<(String, PathBuf)> {
    let pick = |dir: &Path| {
        ["AGENTS.md", "CLAUDE.md"].iter().map(|n| dir.join(n)).find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    };
    let mut files: Vec<(String, PathBuf)> = pick(config_dir)
        .map(|p| ("the user's own instructions (all repositories)".to_string(), p))
        .into_iter()
        .collect();
    let root = tern_config::paths::repo_root(cwd).unwrap_or_else(|| cwd.to_path_buf());
    let mut dirs: Vec<&Path> = cwd.ancestors().take_while(|d| d.starts_with(&root)).collect();
    dirs.reverse();
    // Named relative to the repository root, not by absolute path: the
    // prompt then stays the same wherever the repository is checked out,
    // which keeps a local model's saved prompt prefix valid.
    files.extend(dirs.into_iter().filter_map(pick).map(|p| {
        let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
        (name, p)
    }));
    files
}

/// The instructions text, at most `max_bytes`, or `None` when there are none.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
pub(crate) fn load(config_dir: &Path, cwd: &Path, max_bytes: usize) -> Option<String> {
    let mut out = String::new();
    for (name, path) in instruction_files(config_dir, cwd) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let section = format!("## {name}\n\n{text}\n\n");
        let room = max_bytes.saturating_sub(out.len());
        if section.len() > room {
            let mut cut = room;
            while cut > 0 && !section.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&section[..cut]);
            out.push_str("\n[… project instructions truncated at project_doc_max_bytes]\n");
            break;
        }
        out.push_str(&section);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn layering_fallback_and_cap() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("repo");
        let sub = root.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let user = d.path().join("cfg");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("AGENTS.md"), "user rules").unwrap();
        std::fs::write(root.join("AGENTS.md"), "root rules").unwrap();
        std::fs::write(root.join("CLAUDE.md"), "ignored: AGENTS.md wins").unwrap();
        std::fs::write(root.join("a/CLAUDE.md"), "claude rules").unwrap();
        std::fs::write(sub.join("AGENTS.md"), "leaf rules").unwrap();
        let text = load(&user, &sub, 10_000).unwrap();
        let order: Vec<_> =
            ["user rules", "root rules", "claude rules", "leaf rules"].iter().map(|s| text.find(s).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(!text.contains("ignored"));
        assert!(
            text.contains("## AGENTS.md\n\nroot rules") && text.contains("## a/b/AGENTS.md\n\nleaf rules"),
            "{text}"
        );
        assert!(!text.contains(&d.path().display().to_string()), "no absolute paths: {text}");
        let capped = load(&user, &sub, 40).unwrap();
        assert!(capped.contains("truncated"));
        assert!(load(&d.path().join("none"), d.path(), 100).is_none());
    }
}
