//! `[storage]`: how much of its own data tern keeps, and for how long.

use serde::Deserialize;
use std::time::Duration;

/// `[storage]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFile {
    /// Sessions (with their checkpoints and saved output) untouched this
    /// many days are removed; 0 keeps them however old.
    pub keep_days: Option<u64>,
    /// Sessions, checkpoints and saved output together stay under this;
    /// the least recently used sessions go first.
    pub max_mb: Option<u64>,
    /// A file larger than this is not copied into a checkpoint (its change
    /// then cannot be undone, and undo says so).
    pub checkpoint_max_file_mb: Option<u64>,
    /// Saved command output of a session untouched this many days is removed.
    pub spool_keep_days: Option<u64>,
}

/// `[storage]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// `None`: sessions are kept however old.
    pub keep: Option<Duration>,
    pub max_bytes: u64,
    pub checkpoint_max_file_bytes: u64,
    pub spool_keep: Duration,
}

const DAY: u64 = 24 * 3600;
const MB: u64 = 1 << 20;

impl StorageConfig {
    pub(crate) fn resolve(f: Option<&StorageFile>) -> StorageConfig {
        let f = f
            .map_or((None, None, None, None), |f| (f.keep_days, f.max_mb, f.checkpoint_max_file_mb, f.spool_keep_days));
        StorageConfig {
            keep: Some(f.0.unwrap_or(90)).filter(|d| *d > 0).map(|d| Duration::from_secs(d * DAY)),
            max_bytes: f.1.unwrap_or(4096).saturating_mul(MB),
            checkpoint_max_file_bytes: f.2.unwrap_or(16).saturating_mul(MB),
            spool_keep: Duration::from_secs(f.3.unwrap_or(7) * DAY),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::resolve(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_zero_days() {
        let d = StorageConfig::default();
        assert_eq!(d.keep, Some(Duration::from_secs(90 * DAY)));
        assert_eq!(d.max_bytes, 4096 * MB);
        assert_eq!(d.checkpoint_max_file_bytes, 16 * MB);
        let f = StorageFile { keep_days: Some(0), max_mb: Some(1), ..Default::default() };
        let c = StorageConfig::resolve(Some(&f));
        assert_eq!((c.keep, c.max_bytes), (None, MB));
    }
}
