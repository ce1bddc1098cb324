//! Commit is all or nothing, stamps catch stale reads, undo restores.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use tern_files::{Change, FileState, FilesError, checkpoint};

#[test]
fn a_failed_write_rolls_back_the_earlier_ones() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.txt");
    std::fs::write(&a, "a").unwrap();
    std::fs::write(d.path().join("blocker"), "not a dir").unwrap();
    let fs = FileState::new(Some(d.path().join("ck")));
    fs.begin_turn("t1");
    let ops = [
        Change::Write { path: a.clone(), bytes: b"A".to_vec(), mode: None },
        Change::Write { path: d.path().join("new.txt"), bytes: b"n".to_vec(), mode: None },
        Change::Write { path: d.path().join("blocker/x.txt"), bytes: b"x".to_vec(), mode: None },
    ];
    assert!(matches!(fs.commit(&ops), Err(FilesError::Write { .. })));
    assert_eq!(std::fs::read(&a).unwrap(), b"a");
    assert!(!d.path().join("new.txt").exists());
    // The checkpoint was written before the files: every file is its
    // original, so undo goes through without --force (as after a crash
    // between the checkpoint and the write) and changes nothing.
    checkpoint::undo(&d.path().join("ck"), 1, false).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), b"a");
    assert!(!d.path().join("new.txt").exists());
}

/// A crash after the checkpoint and part of the writes: each file is its
/// original or its new bytes, and undo restores them all.
#[test]
fn undo_after_a_crash_between_writes() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a.txt"), d.path().join("b.txt"));
    std::fs::write(&a, "a").unwrap();
    std::fs::write(&b, "b").unwrap();
    let fs = FileState::new(Some(d.path().join("ck")));
    fs.begin_turn("t1");
    fs.commit(&[
        Change::Write { path: a.clone(), bytes: b"A".to_vec(), mode: None },
        Change::Write { path: b.clone(), bytes: b"B".to_vec(), mode: None },
    ])
    .unwrap();
    // As if the process died after writing a.txt but before b.txt.
    std::fs::write(&b, "b").unwrap();
    checkpoint::undo(&d.path().join("ck"), 1, false).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), b"a");
    assert_eq!(std::fs::read(&b).unwrap(), b"b");
}

#[test]
fn stamps_and_undo_across_turns() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f.txt");
    std::fs::write(&f, "1").unwrap();
    let ck = d.path().join("ck");
    let fs = FileState::new(Some(ck.clone()));
    fs.stamp_read(&f);
    assert!(fs.check_fresh(&f, "f.txt").is_ok());
    std::fs::write(&f, "12").unwrap();
    assert!(matches!(fs.check_fresh(&f, "f.txt"), Err(FilesError::Stale(_))));
    fs.stamp_read(&f);
    for (turn, text) in [("t1", "2"), ("t2", "3")] {
        fs.begin_turn(turn);
        fs.commit(&[Change::Write { path: f.clone(), bytes: text.as_bytes().to_vec(), mode: None }]).unwrap();
        assert!(fs.check_fresh(&f, "f.txt").is_ok(), "our own write keeps the stamp current");
    }
    assert_eq!(checkpoint::undo(&ck, 1, false).unwrap(), [checkpoint::Restored::Restored(f.clone())]);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "2");
    assert_eq!(checkpoint::undo(&ck, 1, false).unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "12");
    assert!(checkpoint::undo(&ck, 1, false).is_err());
}

/// A file nobody may write is refused, and nothing of the change happens.
#[test]
fn read_only_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let (a, ro) = (d.path().join("a.txt"), d.path().join("ro.txt"));
    std::fs::write(&a, "a").unwrap();
    std::fs::write(&ro, "keep").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let fs = FileState::new(Some(d.path().join("ck")));
    fs.begin_turn("t1");
    for ops in [
        vec![
            Change::Write { path: a.clone(), bytes: b"A".to_vec(), mode: None },
            Change::Write { path: ro.clone(), bytes: b"x".to_vec(), mode: None },
        ],
        vec![Change::Delete { path: ro.clone() }],
    ] {
        let err = fs.commit(&ops).unwrap_err();
        assert!(matches!(err, FilesError::ReadOnly(_)), "{err}");
        assert!(err.to_string().contains("chmod u+w"), "{err}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), b"a");
    assert_eq!(std::fs::read(&ro).unwrap(), b"keep");
}
