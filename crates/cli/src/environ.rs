//! Keeps tern's environment (its API keys) out of `/proc/<pid>/environ`.
//!
//! tern leaves the providers' keys out of the commands it runs, but the
//! kernel shows any process's initial environment block to processes of
//! the same user, and a sandboxed command may read it (Landlock refuses
//! tracing tern, not this read). So, first thing, tern moves every
//! variable to the heap (`setenv`, which is where later lookups then go)
//! and overwrites the block it was started with: `/proc/<pid>/environ`
//! then reads as zeros, while `std::env` sees every variable unchanged.
//! Children get the heap copies, as before.

use std::collections::HashSet;
use std::ffi::{CStr, c_char};

#[allow(unsafe_code)] // libc's own variable, read in `current` only
unsafe extern "C" {
    /// libc's environment: a null-terminated array of `NAME=value` strings.
    static mut environ: *const *mut c_char;
}

/// The strings `environ` points to now.
#[allow(unsafe_code)]
fn current() -> Vec<*mut c_char> {
    let mut out = Vec::new();
    // SAFETY: single-threaded (see `hide`); `environ` is null or a valid
    // null-terminated array, as libc keeps it.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            out.push(*p);
            p = p.add(1);
        }
    }
    out
}

/// Moves the environment to the heap and wipes the block tern started
/// with. Call first in `main`, before any thread exists: changing the
/// environment while another thread reads it is undefined behaviour.
#[allow(unsafe_code)]
pub(crate) fn hide() {
    let started = current();
    let vars: Vec<_> = std::env::vars_os().collect();
    for (name, value) in &vars {
        // `set_var` panics on these (a name may start with `=` in a
        // hand-made environment); they stay where they are.
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
        if bytes.is_empty() || bytes.contains(&b'=') {
            continue;
        }
        // SAFETY: no other thread exists yet (the caller's contract).
        unsafe { std::env::set_var(name, value) };
    }
    // Only strings libc no longer points to are wiped: a variable that
    // could not be moved (a name `set_var` refuses) stays as it was.
    let now: HashSet<*mut c_char> = current().into_iter().collect();
    for s in started.into_iter().filter(|s| !now.contains(s)) {
        // SAFETY: `s` is one of the NUL-terminated strings of the initial
        // block (writable stack memory of this process); nothing refers
        // to it any more, and the NUL itself is left in place.
        unsafe {
            let len = CStr::from_ptr(s).count_bytes();
            std::ptr::write_bytes(s, 0, len);
        }
    }
}
