//! The Linux sandbox for commands.
//!
//! Landlock confines writes to the workspace, the temp dir and declared
//! roots (read-only mode: nowhere); a seccomp filter refuses network
//! sockets unless network access is on. Both are applied by a fresh
//! helper process ([`helper`]: `tern-sandbox …`, or `tern __sandbox …`)
//! just before it execs the command:
//! the helper is single-threaded, so building the rules is safe there, and
//! the restrictions are inherited by everything the command starts.

pub mod helper;

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a sandboxed command may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Directories (and files) it may write; everything else is read-only.
    pub writable: Vec<PathBuf>,
    /// Whether it may open network sockets.
    pub network: bool,
}

/// Why the sandbox cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Landlock is not available on this kernel ({0})")]
    Landlock(#[source] landlock::RulesetError),
    #[error("Landlock is not available on this kernel (the ruleset was not enforced)")]
    NotEnforced,
    #[error("the seccomp filter could not be installed ({0})")]
    Seccomp(#[source] seccompiler::Error),
    #[error("the seccomp filter could not be built ({0})")]
    SeccompBackend(#[source] seccompiler::BackendError),
}

/// Device files every command may write (output sinks and terminals).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx"];

/// Checks, without restricting this process, that the kernel can enforce
/// the sandbox.
pub fn probe() -> Result<(), SandboxError> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .map(drop)
        .map_err(SandboxError::Landlock)
}

/// Restricts this process (and what it will exec) to `policy`. Call in a
/// single-threaded helper right before exec.
pub fn enter(policy: &Policy) -> Result<(), SandboxError> {
    landlock(policy)?;
    if !policy.network {
        seccomp()?;
    }
    Ok(())
}

#[allow(clippy::disallowed_methods)] // runs in the single-threaded helper, before exec
fn landlock(policy: &Policy) -> Result<(), SandboxError> {
    let err = SandboxError::Landlock;
    // Everything V1 knows must be enforced; newer rights (truncate, …) are
    // added where the kernel has them.
    let abi = ABI::V5;
    let mut writable: Vec<PathBuf> = policy.writable.clone();
    writable.extend(DEVICES.iter().map(PathBuf::from).filter(|p| p.exists()));
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .map_err(err)?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(&writable, AccessFs::from_all(abi)))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::NotEnforced => Err(SandboxError::NotEnforced),
        _ => Ok(()),
    }
}

/// Refuses sockets of network families (IPv4, IPv6, raw packets) and
/// io_uring (which could open them behind the filter's back).
fn seccomp() -> Result<(), SandboxError> {
    let family = |f: libc::c_int| -> Result<SeccompRule, SandboxError> {
        let cond = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, f as u64)
            .map_err(SandboxError::SeccompBackend)?;
        SeccompRule::new(vec![cond]).map_err(SandboxError::SeccompBackend)
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let network = vec![family(libc::AF_INET)?, family(libc::AF_INET6)?, family(libc::AF_PACKET)?];
    rules.insert(libc::SYS_socket, network.clone());
    rules.insert(libc::SYS_socketpair, network);
    rules.insert(libc::SYS_io_uring_setup, vec![]);
    let arch = std::env::consts::ARCH.try_into().map_err(SandboxError::SeccompBackend)?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(SandboxError::SeccompBackend)?;
    let program: BpfProgram = filter.try_into().map_err(SandboxError::SeccompBackend)?;
    seccompiler::apply_filter(&program).map_err(SandboxError::Seccomp)
}
