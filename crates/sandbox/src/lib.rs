//! The Linux sandbox for commands.
//!
//! Landlock confines writes to the workspace, the temp dir and declared
//! roots (read-only mode: nowhere) and keeps commands from signalling or
//! tracing processes they did not start; a seccomp filter refuses what
//! Landlock cannot see: without network access, every socket but a Unix
//! one, and `connect` (Unix sockets outside the sandbox include
//! `docker.sock` and the user's session bus, which run anything); always,
//! faking terminal input (`TIOCSTI`). Both are applied in a
//! single-threaded process just before it execs the command, so building
//! the rules is safe there, and the restrictions are inherited by
//! everything the command starts: a child of the long-lived spawner
//! ([`serve`], speaking [`wire`]), or a helper started for the one command
//! ([`helper`]: `tern-sandbox …`, or `tern __sandbox …`). Descriptors tern
//! inherited stay behind.
//! Where the kernel cannot enforce all this, nothing runs (see
//! `docs/sandbox.md`).

pub mod helper;
pub mod serve;
pub mod wire;

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, LandlockStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, path_beneath_rules,
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
    /// Whether it may open network sockets and connect to sockets at all
    /// (Unix ones included).
    pub network: bool,
}

/// Why the sandbox cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Landlock is not available: {0}")]
    NoLandlock(&'static str),
    #[error("Landlock is not available on this kernel ({0})")]
    Landlock(#[source] landlock::RulesetError),
    #[error("Landlock is not available on this kernel (the ruleset was not enforced)")]
    NotEnforced,
    #[error("seccomp filters are not available on this kernel ({0}; Linux 4.14 or later has them)")]
    SeccompUnavailable(#[source] std::io::Error),
    #[error("the seccomp filter could not be installed ({0})")]
    Seccomp(#[source] seccompiler::Error),
    #[error("the seccomp filter could not be built ({0})")]
    SeccompBackend(#[source] seccompiler::BackendError),
    #[error("the file descriptors it would inherit could not be closed ({0})")]
    Descriptors(#[source] std::io::Error),
}

/// Device files every command may write (output sinks and terminals).
/// Not `/dev/shm`: it is shared with every process on the machine.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx"];

/// The Landlock file rights tern asks for where the kernel has them.
const FS_ABI: ABI = ABI::V5;

/// Checks, without restricting this process, that the kernel can enforce
/// the sandbox: Landlock and seccomp filters.
pub fn probe() -> Result<(), SandboxError> {
    landlock_abi()?;
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .map(drop)
        .map_err(SandboxError::Landlock)?;
    seccomp_available()
}

/// Restricts this process (and what it will exec) to `policy`. Call in a
/// single-threaded helper right before exec.
pub fn enter(policy: &Policy) -> Result<(), SandboxError> {
    landlock_abi()?;
    seccomp_available()?;
    close_inherited()?;
    let abi = landlock(policy)?;
    let program = seccomp_program(policy, abi)?;
    seccompiler::apply_filter(&program).map_err(SandboxError::Seccomp)
}

/// Applies the Landlock ruleset; returns the ABI the kernel enforced it at.
#[allow(clippy::disallowed_methods)] // runs in the single-threaded helper, before exec
fn landlock(policy: &Policy) -> Result<ABI, SandboxError> {
    let err = SandboxError::Landlock;
    // Everything V1 knows must be enforced; newer rights (truncate, …) and
    // scopes are added where the kernel has them.
    let mut handled = AccessFs::from_all(FS_ABI);
    let mut scopes: BitFlags<Scope> = Scope::Signal.into();
    if !policy.network {
        // Where the kernel has them (7.1 / 6.12), Landlock also refuses
        // datagrams sent to Unix sockets outside (the seccomp filter
        // refuses `connect`, not `sendmsg`): no path is granted this right.
        handled |= AccessFs::ResolveUnix;
        scopes |= Scope::AbstractUnixSocket;
    }
    let mut writable: Vec<PathBuf> = policy.writable.clone();
    writable.extend(DEVICES.iter().map(PathBuf::from).filter(|p| p.exists()));
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .map_err(err)?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled)
        .map_err(err)?
        .scope(scopes)
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(FS_ABI)))
        .map_err(err)?
        .add_rules(path_beneath_rules(&writable, AccessFs::from_all(FS_ABI)))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match (status.ruleset, status.landlock) {
        (RulesetStatus::NotEnforced, _) => Err(SandboxError::NotEnforced),
        (_, LandlockStatus::Available { effective_abi, .. }) => Ok(effective_abi),
        _ => Err(SandboxError::NotEnforced),
    }
}

/// `TIOCSTI` pushes bytes into a terminal's input as if typed: a command
/// sharing tern's terminal could type into tern (an approval) or into the
/// shell tern returns to. `TIOCLINUX` can paste on a virtual console.
#[allow(clippy::unnecessary_cast)] // an `Ioctl` is not a u64 in every libc
const TERMINAL_INPUT: [u64; 2] = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

/// The seccomp rules for `policy` on a kernel enforcing Landlock `abi`:
/// the syscalls refused (EPERM) and, for each, the argument conditions
/// under which (none: always).
fn seccomp_rules(policy: &Policy, abi: ABI) -> Result<BTreeMap<i64, Vec<SeccompRule>>, SandboxError> {
    let rule = |arg: u8, op: SeccompCmpOp, value: u64| -> Result<SeccompRule, SandboxError> {
        // Dword: the kernel reads these arguments as 32-bit ints, so only
        // their low half counts (an ioctl number with high bits set is the
        // same ioctl).
        let cond =
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(SandboxError::SeccompBackend)?;
        SeccompRule::new(vec![cond]).map_err(SandboxError::SeccompBackend)
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(
        libc::SYS_ioctl,
        TERMINAL_INPUT.iter().map(|&op| rule(1, SeccompCmpOp::Eq, op)).collect::<Result<_, _>>()?,
    );
    if !policy.network {
        // Only Unix sockets: no IPv4/IPv6 (TCP, UDP, ICMP, raw), packet,
        // vsock (a VM's host), netlink (root reconfigures the network)…
        let not_unix = rule(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?;
        rules.insert(libc::SYS_socket, vec![not_unix.clone()]);
        rules.insert(libc::SYS_socketpair, vec![not_unix]);
        // …and no connecting them to anything: seccomp cannot read the
        // address, and a socket outside (docker.sock, the session bus,
        // tmux, ssh-agent) is a way out. Pairs and pipes still work.
        rules.insert(libc::SYS_connect, vec![]);
        // io_uring could open and connect sockets behind the filter's back.
        rules.insert(libc::SYS_io_uring_setup, vec![]);
    }
    if abi < ABI::V3 {
        // Landlock refuses truncating by path only from ABI 3 (Linux
        // 6.2); before, `truncate(2)` of a file outside would go through.
        rules.insert(libc::SYS_truncate, vec![]);
    }
    Ok(rules)
}

/// On x86_64, the x32 ABI numbers its syscalls from this bit; a filter
/// that names only the x86_64 numbers would let them through.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The seccomp program: seccompiler's (which kills a process making
/// syscalls of another architecture, such as 32-bit `int 0x80`), with
/// x32 syscalls refused right after that check.
fn seccomp_program(policy: &Policy, abi: ABI) -> Result<BpfProgram, SandboxError> {
    let arch = std::env::consts::ARCH.try_into().map_err(SandboxError::SeccompBackend)?;
    let refuse = SeccompAction::Errno(libc::EPERM as u32);
    let filter = SeccompFilter::new(seccomp_rules(policy, abi)?, SeccompAction::Allow, refuse.clone(), arch)
        .map_err(SandboxError::SeccompBackend)?;
    #[allow(unused_mut)] // changed on x86_64 only
    let mut program: BpfProgram = filter.try_into().map_err(SandboxError::SeccompBackend)?;
    #[cfg(target_arch = "x86_64")]
    {
        // seccompiler's program starts with the architecture check (load,
        // compare, kill) and jumps only forward within its own blocks, so
        // instructions placed after those three change no jump.
        use seccompiler::sock_filter;
        const ARCH_CHECK: usize = 3;
        let stmt = |code: u32, jt: u8, jf: u8, k: u32| sock_filter { code: code as u16, jt, jf, k };
        let guard = [
            stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0), // the syscall number
            stmt(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, 0, 1, X32_SYSCALL_BIT),
            stmt(libc::BPF_RET | libc::BPF_K, 0, 0, u32::from(refuse)),
        ];
        program.splice(ARCH_CHECK..ARCH_CHECK, guard);
    }
    Ok(program)
}

/// Marks every descriptor but stdin, stdout and stderr close-on-exec: one
/// tern inherited open (say, writable, on a file outside) would let the
/// command write where Landlock, which checks at open, never looks.
#[allow(unsafe_code)]
fn close_inherited() -> Result<(), SandboxError> {
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC
    // it closes nothing now, so no descriptor this process uses goes away.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        return Err(SandboxError::Descriptors(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The kernel's Landlock ABI version, or why it has none.
#[allow(unsafe_code)]
fn landlock_abi() -> Result<i64, SandboxError> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION (and no attributes)
    // the call only returns the version; it reads no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v >= 1 {
        return Ok(v);
    }
    Err(SandboxError::NoLandlock(match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            "the kernel has it but it is not enabled (add `landlock` to the `lsm=` kernel boot parameter)"
        }
        _ => "the kernel is built without it (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK=y has it)",
    }))
}

/// Whether this kernel installs seccomp filters with the actions the
/// sandbox uses, asked without installing one.
#[allow(unsafe_code)]
fn seccomp_available() -> Result<(), SandboxError> {
    for action in [libc::SECCOMP_RET_ERRNO, libc::SECCOMP_RET_KILL_PROCESS] {
        // SAFETY: SECCOMP_GET_ACTION_AVAIL only reads the u32 it is given,
        // which lives until the call returns; it changes nothing.
        let rc = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL, 0, &action as *const libc::c_uint)
        };
        if rc != 0 {
            return Err(SandboxError::SeccompUnavailable(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(network: bool) -> Policy {
        Policy { writable: vec!["/w".into()], network }
    }

    #[test]
    fn without_network_only_unix_sockets_and_no_connect() {
        let rules = seccomp_rules(&policy(false), ABI::V5).unwrap();
        for nr in [libc::SYS_socket, libc::SYS_socketpair, libc::SYS_connect, libc::SYS_io_uring_setup, libc::SYS_ioctl]
        {
            assert!(rules.contains_key(&nr), "{nr}");
        }
        assert!(rules[&libc::SYS_connect].is_empty(), "connect is refused whatever its arguments");
        assert!(!rules.contains_key(&libc::SYS_truncate), "Landlock handles truncate from ABI 3");
    }

    #[test]
    fn with_network_only_terminal_input_is_refused() {
        let rules = seccomp_rules(&policy(true), ABI::V5).unwrap();
        assert_eq!(rules.keys().copied().collect::<Vec<_>>(), vec![libc::SYS_ioctl]);
        assert_eq!(rules[&libc::SYS_ioctl].len(), 2);
    }

    #[test]
    fn old_landlock_gets_truncate_from_seccomp() {
        for abi in [ABI::V1, ABI::V2] {
            assert!(seccomp_rules(&policy(true), abi).unwrap()[&libc::SYS_truncate].is_empty());
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_guard_follows_the_architecture_check() {
        let p = seccomp_program(&policy(false), ABI::V5).unwrap();
        // Load arch, jump if x86_64, kill; then the guard.
        assert_eq!(p[2].k, libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(p[1].k, 0xC000_003E, "AUDIT_ARCH_X86_64");
        assert_eq!((p[3].code as u32, p[3].k), (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0));
        assert_eq!((p[4].jt, p[4].jf, p[4].k), (0, 1, X32_SYSCALL_BIT));
        assert_eq!(p[5].k, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        // seccompiler's own program resumes by loading the syscall number.
        assert_eq!((p[6].code as u32, p[6].k), (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0));
    }

    #[test]
    fn the_probe_passes_here() {
        probe().unwrap();
    }
}
