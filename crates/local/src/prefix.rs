//! The prompt prefix on disk. The system prompt and tool definitions are the
//! same for every session in a repository, and on a 2-core CPU evaluating
//! them takes longer than anything else before the first token. Their KV
//! entries are saved the first time they are evaluated and loaded when a
//! later session starts, so its first turn pays only for the user's message.

use llama_cpp_2::token::LlamaToken;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Saved prefixes kept per directory; older ones are deleted.
const KEEP: usize = 8;

/// A directory of saved prefixes for one model file.
pub(crate) struct PrefixCache {
    dir: PathBuf,
    /// Names the model file as it is now, so a replaced file misses.
    model_id: String,
}

impl PrefixCache {
    /// The cache in `dir` for the model at `model`.
    #[allow(clippy::disallowed_methods)] // runs on the inference thread
    pub(crate) fn new(dir: PathBuf, model: &Path) -> Self {
        // The file itself, not the link to it: scripts/demo links the model
        // into a fresh home each run and shares this cache.
        let model = &std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf());
        let meta = std::fs::metadata(model).ok();
        let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let modified = meta.and_then(|m| m.modified().ok()).map(|t| format!("{t:?}")).unwrap_or_default();
        PrefixCache { dir, model_id: format!("{}\0{len}\0{modified}", model.display()) }
    }

    /// The file that holds the KV entries of `tokens`, saved or not.
    pub(crate) fn file_for(&self, tokens: &[LlamaToken]) -> PathBuf {
        let mut h = Sha256::new();
        // The state format is llama.cpp's; a new version of it misses.
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(self.model_id.as_bytes());
        for t in tokens {
            h.update(t.0.to_le_bytes());
        }
        let digest = h.finalize();
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.kv"))
    }

    /// Saves through `write` (which writes the state to the path it is
    /// given) into a temporary file renamed over `file`, so a reader never
    /// sees half a file; then deletes all but the newest few.
    #[allow(clippy::disallowed_methods)] // runs on the inference thread
    pub(crate) fn save(&self, file: &Path, write: impl FnOnce(&Path) -> bool) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if write(&tmp) && std::fs::rename(&tmp, file).is_ok() {
            self.prune();
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Marks `file` as recently used, so pruning keeps it.
    #[allow(clippy::disallowed_methods)] // runs on the inference thread
    pub(crate) fn touch(file: &Path) {
        if let Ok(f) = std::fs::File::options().append(true).open(file) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    #[allow(clippy::disallowed_methods)] // runs on the inference thread
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut files: Vec<_> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "kv"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, path) in files.into_iter().skip(KEEP) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_depend_on_model_and_tokens_and_old_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.gguf");
        std::fs::write(&model, b"GGUF").unwrap();
        let cache = PrefixCache::new(dir.path().join("kv"), &model);
        let a = cache.file_for(&[LlamaToken(1), LlamaToken(2)]);
        assert_eq!(a, cache.file_for(&[LlamaToken(1), LlamaToken(2)]));
        assert_ne!(a, cache.file_for(&[LlamaToken(1), LlamaToken(3)]));
        std::fs::write(&model, b"GGUF and more").unwrap();
        assert_ne!(a, PrefixCache::new(dir.path().join("kv"), &model).file_for(&[LlamaToken(1), LlamaToken(2)]));

        cache.save(&a, |_| false);
        assert!(!a.exists(), "a failed write leaves nothing");
        for i in 0..KEEP + 3 {
            let f = cache.file_for(&[LlamaToken(i as i32)]);
            cache.save(&f, |tmp| std::fs::write(tmp, b"state").is_ok());
            assert!(f.exists());
        }
        let left = std::fs::read_dir(dir.path().join("kv")).unwrap().count();
        assert_eq!(left, KEEP, "no temporary files, no more than {KEEP} saved");
    }
}
