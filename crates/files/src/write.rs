//! The one write path: temp file beside the target, fsync, rename.

use crate::FilesError;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `bytes` to `path` atomically: readers see the old file or the
/// new one, never a mix, and a crash leaves one of the two. An existing
/// file keeps its permissions; a new one gets `mode` (or 0644 less umask).
/// Missing parent directories are created.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
pub fn atomic_write(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), FilesError> {
    let fail = |e| FilesError::write(path, e);
    let dir = path.parent().ok_or_else(|| fail(std::io::Error::other("it has no parent directory")))?;
    std::fs::create_dir_all(dir).map_err(fail)?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(fail(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
    }
    let existing_mode = std::fs::metadata(path).ok().map(|m| m.permissions().mode());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tern-{:08x}.tmp", fastrand::u32(..)));
    let result = (|| {
        // Written unnamed (O_TMPFILE) and named only once whole: a crash
        // while writing leaves nothing behind. Where the file system has
        // no O_TMPFILE, the temp file is named from the start.
        let (mut f, unnamed) = match unnamed_in(dir) {
            Some(f) => (f, true),
            None => (std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?, false),
        };
        f.write_all(bytes)?;
        if let Some(m) = existing_mode.or(mode) {
            f.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
        f.sync_all()?;
        if unnamed {
            use std::os::fd::AsRawFd;
            let proc_path = format!("/proc/self/fd/{}", f.as_raw_fd());
            nix::unistd::linkat(
                nix::fcntl::AT_FDCWD,
                proc_path.as_str(),
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
            .map_err(std::io::Error::from)?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// An unnamed file in `dir` (O_TMPFILE), where the file system has them.
#[allow(clippy::disallowed_methods)] // blocking by design, as atomic_write
fn unnamed_in(dir: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Naming it goes through /proc (linkat with AT_EMPTY_PATH needs a
    // capability); without /proc, the named temp file it is.
    static PROC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*PROC.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
        return None;
    }
    // 0666 less the umask, as a named file gets.
    std::fs::OpenOptions::new().write(true).mode(0o666).custom_flags(nix::libc::O_TMPFILE).open(dir).ok()
}

/// A file's permission bits, if it exists.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
pub fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

/// A file's bytes and permission bits, or `None` if it does not exist.
#[allow(clippy::disallowed_methods)] // blocking by design: tern-files only runs in spawn_blocking or outside the runtime
pub fn read_with_mode(path: &Path) -> Option<(Vec<u8>, u32)> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some((bytes, meta.permissions().mode()))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn keeps_mode_and_leaves_no_temp_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.sh");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        atomic_write(&p, b"new", None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o755);
        let q = d.path().join("sub/dir/new.txt");
        atomic_write(&q, b"n", Some(0o600)).unwrap();
        assert_eq!(std::fs::metadata(&q).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(atomic_write(d.path(), b"x", None).is_err());
    }
}
