//! The sandbox holds: one case per way out of it (issue 17, item 7).
//!
//! Every case is a bash script a sandboxed command might run: it prints
//! `ESCAPED` if the way out worked. Around the sandbox stands a [`World`]:
//! a directory outside every writable root with a file in it, a file name
//! in `/dev/shm`, TCP (IPv4 and IPv6), UDP and Unix listeners (a stand-in
//! for `docker.sock`, and abstract ones), and a process the command did
//! not start. A case passes when the command got an error naming the
//! refusal and the world is as it was: no file changed, no connection or
//! datagram arrived, the process is alive and untraced.
//!
//! The cases run through the helper directly (both `tern-sandbox` and
//! `tern __sandbox`), and through `tern exec` in `auto`, with the mock
//! model asking for each as an `exec_command` approved "always" (the way a
//! user lets a program run). The cases that get out on any machine are
//! also run unconfined, to prove the world notices when they do. Other
//! tests cover what commands keep, and the terminal case through the UI.
//! The last tests take Landlock and seccomp away (a seccomp filter
//! answering their syscalls as a kernel without them does) and check that
//! tern then runs nothing.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use tern_testkit::{MockServer, Step};

/// What the sandbox must leave alone, and how to tell it was reached.
struct World {
    /// A directory outside every writable root (not under /tmp, which
    /// tern makes writable as the temp dir).
    dir: PathBuf,
    victim: PathBuf,
    /// A name in /dev/shm, which is not the temp dir here.
    shm: PathBuf,
    tcp4: TcpListener,
    /// Absent where the machine has no IPv6 loopback (the socket is
    /// refused before any address is tried, so the case still runs).
    tcp6: Option<TcpListener>,
    udp: UdpSocket,
    /// A Unix socket outside, as `docker.sock` is.
    unix: UnixListener,
    /// A datagram socket outside, as journald's and syslog's are.
    journal: UnixDatagram,
    abstract_name: String,
    abstract_stream: UnixListener,
    abstract_dgram_name: String,
    abstract_dgram: UnixDatagram,
    /// A process the command did not start.
    sleeper: Child,
    /// The victim, open for appending: handed to commands as descriptor 9,
    /// as a parent that leaked one to tern would.
    leak: std::fs::File,
    before: BTreeMap<String, String>,
}

const VICTIM: &str = "the user's file\n";

impl World {
    fn new() -> World {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("tern-escape-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let dir = PathBuf::from("/var/tmp").join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, VICTIM).unwrap();
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp4.set_nonblocking(true).unwrap();
        let tcp6 = TcpListener::bind("[::1]:0").ok();
        if let Some(l) = &tcp6 {
            l.set_nonblocking(true).unwrap();
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let unix = UnixListener::bind(dir.join("docker.sock")).unwrap();
        unix.set_nonblocking(true).unwrap();
        let journal = UnixDatagram::bind(dir.join("journal.sock")).unwrap();
        journal.set_nonblocking(true).unwrap();
        let abstract_name = format!("{name}-stream");
        let abstract_stream =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap()).unwrap();
        abstract_stream.set_nonblocking(true).unwrap();
        let abstract_dgram_name = format!("{name}-dgram");
        let abstract_dgram =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(abstract_dgram_name.as_bytes()).unwrap()).unwrap();
        abstract_dgram.set_nonblocking(true).unwrap();
        let sleeper = Command::new("sleep").arg("600").stdin(Stdio::null()).spawn().unwrap();
        let leak = std::fs::OpenOptions::new().append(true).open(&victim).unwrap();
        let mut w = World {
            shm: PathBuf::from("/dev/shm").join(&name),
            dir,
            victim,
            tcp4,
            tcp6,
            udp,
            unix,
            journal,
            abstract_name,
            abstract_stream,
            abstract_dgram_name,
            abstract_dgram,
            sleeper,
            leak,
            before: BTreeMap::new(),
        };
        w.before = w.snapshot();
        w
    }

    /// The outside directory: each entry's name and content (sockets by
    /// kind).
    fn snapshot(&self) -> BTreeMap<String, String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let content = if e.file_type().unwrap().is_socket() {
                    "(socket)".to_string()
                } else {
                    std::fs::read_to_string(e.path()).unwrap_or_else(|e| format!("({e})"))
                };
                (name, content)
            })
            .collect()
    }

    /// What reached the world since it was made (empty: nothing).
    fn reached(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        let now = self.snapshot();
        if now != self.before {
            seen.push(format!("{} changed: {:?} -> {now:?}", self.dir.display(), self.before));
        }
        if self.shm.exists() {
            seen.push(format!("{} was written", self.shm.display()));
        }
        let mut buf = [0u8; 64];
        let mut arrived = |what: &str, r: std::io::Result<()>| match r {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => seen.push(format!("{what}: {other:?}")),
        };
        arrived("a TCP connection arrived", self.tcp4.accept().map(drop));
        if let Some(l) = &self.tcp6 {
            arrived("an IPv6 connection arrived", l.accept().map(drop));
        }
        arrived("a UDP datagram arrived", self.udp.recv_from(&mut buf).map(drop));
        arrived("a connection to the Unix socket arrived", self.unix.accept().map(drop));
        arrived("a datagram to the Unix socket arrived", self.journal.recv(&mut buf).map(drop));
        arrived("a connection to the abstract socket arrived", self.abstract_stream.accept().map(drop));
        arrived("a datagram to the abstract socket arrived", self.abstract_dgram.recv(&mut buf).map(drop));
        match self.sleeper.try_wait() {
            Ok(None) => {
                let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.sleeper.id())).unwrap_or_default();
                let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
                if matches!(state, Some('t' | 'T')) {
                    seen.push(format!("the outside process was stopped or traced: {stat}"));
                }
                let tracer = std::fs::read_to_string(format!("/proc/{}/status", self.sleeper.id()))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("TracerPid:").map(|p| p.trim().to_string()));
                if tracer.as_deref().is_some_and(|p| p != "0") {
                    seen.push(format!("the outside process is traced by {tracer:?}"));
                }
            }
            other => seen.push(format!("the outside process died: {other:?}")),
        }
        if !seen.is_empty() {
            // Re-armed, so the next case is judged on its own.
            self.before = now;
            let _ = std::fs::remove_file(&self.shm);
            let pid = nix::unistd::Pid::from_raw(self.sleeper.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        }
        seen
    }

    /// A case's script with this world's names filled in, for a command
    /// running in `work`.
    fn script(&self, template: &str, work: &Path) -> String {
        // From work/sub up to / and down to the outside directory.
        let up = "../".repeat(work.join("sub").components().count() - 1);
        let rel = format!("{up}{}", self.dir.strip_prefix("/").unwrap().display());
        template
            .replace("{O}", &self.dir.display().to_string())
            .replace("{REL}", &rel)
            .replace("{VICTIM}", &self.victim.display().to_string())
            .replace("{SHM}", &self.shm.display().to_string())
            .replace("{TCP4}", &self.tcp4.local_addr().unwrap().port().to_string())
            .replace("{TCP6}", &self.tcp6.as_ref().map_or(9, |l| l.local_addr().unwrap().port()).to_string())
            .replace("{UDP}", &self.udp.local_addr().unwrap().port().to_string())
            .replace("{UNIX}", &self.dir.join("docker.sock").display().to_string())
            .replace("{JOURNAL}", &self.dir.join("journal.sock").display().to_string())
            .replace("{ABSTRACT}", &self.abstract_name)
            .replace("{ABSTRACT_DGRAM}", &self.abstract_dgram_name)
            .replace("{PID}", &self.sleeper.id().to_string())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.shm);
    }
}

/// Which part of the sandbox refuses a case (documentation: the errors
/// tell them apart where they differ).
#[derive(Debug, Clone, Copy)]
enum By {
    Landlock,
    Seccomp,
    /// The helper, which leaves inherited descriptors behind.
    Helper,
}

struct Case {
    name: &'static str,
    by: By,
    /// The script (see [`World::script`] for the names it may use).
    script: &'static str,
    /// The command's output names the refusal with one of these.
    refusal: &'static [&'static str],
    /// The Landlock ABI the kernel needs for this case to be refused
    /// (older kernels: not refused, as `docs/sandbox.md` says).
    landlock_abi: i64,
    /// Whether, run unconfined as an ordinary user on an ordinary
    /// machine, the case gets out (its proof that the world notices).
    live: bool,
    x86_64_only: bool,
}

const DENIED: &[&str] = &["Permission denied"];
const EPERM: &[&str] = &["Operation not permitted"];

const fn case(name: &'static str, by: By, script: &'static str, refusal: &'static [&'static str]) -> Case {
    Case { name, by, script, refusal, landlock_abi: 1, live: true, x86_64_only: false }
}

/// Every way out, in the order the issue lists them, then the rest.
const CASES: &[Case] = &[
    // Writes outside the workspace.
    case("write by absolute path", By::Landlock, "echo x > {O}/by-path && echo ESCAPED", DENIED),
    case("overwrite an outside file", By::Landlock, "echo x > {VICTIM} && echo ESCAPED", DENIED),
    case(
        "write through a symlink to an outside directory",
        By::Landlock,
        "ln -sfn {O} link && echo x > link/by-symlink && echo ESCAPED",
        DENIED,
    ),
    case(
        "write through a symlink to an outside file",
        By::Landlock,
        "ln -sf {VICTIM} vlink && echo x > vlink && echo ESCAPED",
        DENIED,
    ),
    case(
        "hard link to an outside file, written through",
        By::Landlock,
        "ln -f {VICTIM} hard && echo x > hard && echo ESCAPED",
        &["Invalid cross-device link"],
    ),
    case("/proc/self/root", By::Landlock, "echo x > /proc/self/root{O}/by-proc && echo ESCAPED", DENIED),
    case("`..` after `cd`", By::Landlock, "mkdir -p sub && cd sub && echo x > {REL}/by-dotdot && echo ESCAPED", DENIED),
    case("rename out", By::Landlock, "echo x > moved && mv moved {O}/ && echo ESCAPED", DENIED),
    case("rename in (takes the outside file)", By::Landlock, "mv {VICTIM} stolen && echo ESCAPED", DENIED),
    case("delete an outside file", By::Landlock, "rm -f {VICTIM} && echo ESCAPED", DENIED),
    case(
        "truncate(2) by path",
        By::Landlock,
        r#"python3 -c 'import os; os.truncate("{VICTIM}", 0)' && echo ESCAPED"#,
        DENIED,
    ),
    case("/dev/shm", By::Landlock, "echo x > {SHM} && echo ESCAPED", DENIED),
    // The network.
    case("TCP (IPv4 loopback)", By::Seccomp, "exec 3<>/dev/tcp/127.0.0.1/{TCP4} && echo ESCAPED", EPERM),
    case("UDP (IPv4 loopback)", By::Seccomp, "echo hi > /dev/udp/127.0.0.1/{UDP} && echo ESCAPED", EPERM),
    Case {
        // Live where IPv6 loopback exists; the socket is refused first.
        live: false,
        ..case("TCP (IPv6 loopback)", By::Seccomp, "exec 3<>/dev/tcp/::1/{TCP6} && echo ESCAPED", EPERM)
    },
    Case {
        live: false, // needs CAP_NET_RAW
        ..case(
            "raw IPv4 socket",
            By::Seccomp,
            "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)' \
             && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // needs CAP_NET_RAW
        ..case(
            "packet socket (AF_PACKET)",
            By::Seccomp,
            "python3 -c 'import socket; socket.socket(17, socket.SOCK_RAW, 0)' && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // needs a VM with vsock
        ..case(
            "vsock (a VM's host)",
            By::Seccomp,
            "python3 -c 'import socket; socket.socket(40, socket.SOCK_STREAM)' && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // nothing the world can see
        ..case(
            "netlink (root reconfigures the network)",
            By::Seccomp,
            "python3 -c 'import socket; socket.socket(16, socket.SOCK_RAW, 0)' && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // may be disabled by sysctl
        ..case(
            "io_uring (sockets behind the filter's back)",
            By::Seccomp,
            "python3 -c 'import ctypes, os; l = ctypes.CDLL(None, use_errno=True); \
             assert l.syscall(425, 8, ctypes.create_string_buffer(120)) >= 0, os.strerror(ctypes.get_errno())' \
             && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // needs IA32 emulation
        x86_64_only: true,
        // 32-bit syscalls (int 0x80) use another table: seccompiler's
        // architecture check kills the process.
        ..case(
            "32-bit syscall (int 0x80 socket)",
            By::Seccomp,
            "python3 -c 'import ctypes, mmap; \
             code = bytes.fromhex(\"53b867010000bb02000000b90100000031d2cd805bc3\"); \
             m = mmap.mmap(-1, len(code), prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC); m.write(code); \
             fd = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))(); \
             assert fd >= 0, fd' && echo ESCAPED",
            &["Bad system call"],
        )
    },
    Case {
        live: false, // needs a kernel with x32
        x86_64_only: true,
        ..case(
            "x32 syscall (socket)",
            By::Seccomp,
            "python3 -c 'import ctypes, os; l = ctypes.CDLL(None, use_errno=True); \
             assert l.syscall(0x40000000 | 41, 2, 1, 0) >= 0, os.strerror(ctypes.get_errno())' && echo ESCAPED",
            EPERM,
        )
    },
    // Unix sockets outside.
    case(
        "Unix socket outside (docker.sock)",
        By::Seccomp,
        r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("{UNIX}")' && echo ESCAPED"#,
        EPERM,
    ),
    case(
        "abstract Unix socket",
        By::Seccomp,
        r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("\0{ABSTRACT}")' && echo ESCAPED"#,
        EPERM,
    ),
    Case {
        landlock_abi: 6,
        ..case(
            "abstract Unix datagram (sendto, no connect)",
            By::Landlock,
            r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", "\0{ABSTRACT_DGRAM}")' && echo ESCAPED"#,
            EPERM,
        )
    },
    Case {
        landlock_abi: 9,
        ..case(
            "Unix datagram outside (sendto, no connect)",
            By::Landlock,
            r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", "{JOURNAL}")' && echo ESCAPED"#,
            &["Permission denied", "Operation not permitted"],
        )
    },
    case(
        "a descriptor inherited open on an outside file",
        By::Helper,
        "echo x >&9 && echo ESCAPED",
        &["Bad file descriptor"],
    ),
    // Other processes and the terminal.
    Case {
        landlock_abi: 6,
        // A stop is delivered when the target next runs: wait (bounded)
        // until it shows, so the world's check is not a race.
        ..case(
            "signal a process outside",
            By::Landlock,
            "kill -STOP {PID} && { for _ in $(seq 500); do grep -q '^State:.*T' /proc/{PID}/status && break; \
             sleep 0.01; done; echo ESCAPED; }",
            EPERM,
        )
    },
    Case {
        live: false, // Yama may refuse it anyway
        ..case(
            "ptrace a process outside",
            By::Landlock,
            "python3 -c 'import ctypes, os; l = ctypes.CDLL(None, use_errno=True); \
             assert l.ptrace(16, {PID}, 0, 0) == 0, os.strerror(ctypes.get_errno())' && echo ESCAPED",
            EPERM,
        )
    },
    Case {
        live: false, // kernels may refuse TIOCSTI (dev.tty.legacy_tiocsti = 0)
        // Into the command's own terminal here; into tern's (and the
        // user's shell) where the command shares it.
        ..case(
            "fake terminal input (TIOCSTI)",
            By::Seccomp,
            r#"python3 -c '
import fcntl, os, pty, sys, termios
pid, fd = pty.fork()
if pid == 0:
    try:
        fcntl.ioctl(os.open("/dev/tty", os.O_RDWR), termios.TIOCSTI, b"x")
        print("ESCAPED")
    except OSError as e:
        print("TIOCSTI:", e)
    sys.stdout.flush()
    os._exit(0)
out = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode())
sys.exit(0 if b"ESCAPED" in out else 1)
' && echo ESCAPED"#,
            EPERM,
        )
    },
];

/// The kernel's Landlock ABI (0: none).
#[allow(unsafe_code)]
fn landlock_abi() -> i64 {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION the call only returns
    // the ABI version; it reads no memory.
    let v = unsafe { nix::libc::syscall(nix::libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0, 1) };
    v.max(0)
}

/// The cases this machine can run, with a note for those it cannot.
fn cases() -> Vec<&'static Case> {
    let abi = landlock_abi();
    CASES
        .iter()
        .filter(|c| {
            let arch = !c.x86_64_only || cfg!(target_arch = "x86_64");
            if abi < c.landlock_abi {
                eprintln!("skipped {:?}: needs Landlock ABI {} (the kernel has {abi})", c.name, c.landlock_abi);
            }
            arch && abi >= c.landlock_abi
        })
        .collect()
}

/// Whether a command's result shows the case refused; the problems if not.
fn refused(c: &Case, exit_code: Option<i64>, output: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    if output.contains("ESCAPED") {
        problems.push("it got out".to_string());
    }
    if exit_code == Some(0) {
        problems.push("the command did not fail".to_string());
    }
    if !c.refusal.iter().any(|r| output.contains(r)) {
        problems.push(format!("no {:?} in the output", c.refusal));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} ({:?}): {}; output: {output}", c.name, c.by, problems.join(", ")))
    }
}

/// The two programs that confine commands.
const HELPERS: [&str; 2] = [env!("CARGO_BIN_EXE_tern-sandbox"), env!("CARGO_BIN_EXE_tern")];

/// Makes the child inherit `file` as descriptor 9 (not close-on-exec).
#[allow(unsafe_code)]
fn leak_fd9(cmd: &mut Command, file: &std::fs::File) {
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = file.as_raw_fd();
    // SAFETY: between fork and exec the closure makes two syscalls
    // (async-signal-safe) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::dup2(raw, 9) < 0 || nix::libc::fcntl(9, nix::libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn run_sandboxed(world: &World, helper: &str, work: &Path, network: bool, script: &str) -> Output {
    let mut c = Command::new(helper);
    leak_fd9(&mut c, &world.leak);
    c.arg("__sandbox").arg("--write").arg(work);
    if network {
        c.arg("--network");
    }
    c.args(["--", "bash", "-c", script]).current_dir(work).stdin(Stdio::null()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every case, through both helpers: refused, and nothing outside reached.
#[test]
fn escapes_are_refused_by_the_helper() {
    let mut failures = Vec::new();
    for helper in HELPERS {
        let env = Env::new();
        let mut world = World::new();
        for c in cases() {
            let out = run_sandboxed(&world, helper, &env.work(), false, &world.script(c.script, &env.work()));
            if let Err(e) = refused(c, out.status.code().map(i64::from), &text(&out)) {
                failures.push(format!("{helper}: {e}"));
            }
            let reached = world.reached();
            if !reached.is_empty() {
                failures.push(format!("{helper}: {}: reached the world: {reached:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The cases are real: unconfined, each that can get out on any machine
/// does, and the world notices.
#[test]
fn unconfined_the_cases_get_out() {
    let mut failures = Vec::new();
    for c in cases().into_iter().filter(|c| c.live) {
        let env = Env::new();
        let mut world = World::new();
        let mut bash = Command::new("bash");
        leak_fd9(&mut bash, &world.leak);
        let out = bash
            .args(["-c", &world.script(c.script, &env.work())])
            .current_dir(env.work())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let reached = world.reached();
        if !text(&out).contains("ESCAPED") || reached.is_empty() {
            failures.push(format!("{}: printed {:?}, reached {reached:?}", c.name, text(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same cases through the whole of tern: `tern exec` in `auto`, the
/// model asking for each as a command the user approved "always".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_are_refused_through_tern_exec() {
    let env = Env::new();
    let mut world = World::new();
    let cases = cases();
    let rules = env.data().join("approvals");
    std::fs::create_dir_all(&rules).unwrap();
    let ws = env.work().display().to_string();
    std::fs::write(
        rules.join(format!("{}.json", ws.replace('/', "%"))),
        json!({"workspace": ws, "prefixes": [["bash"]]}).to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(env.work().join("cases")).unwrap();
    let mut steps = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        std::fs::write(env.work().join(format!("cases/{i}.sh")), world.script(c.script, &env.work())).unwrap();
        steps.push(Step::call("exec_command", json!({"cmd": format!("bash cases/{i}.sh")})));
    }
    steps.push(Step::text("done"));
    let server = MockServer::start(steps).await.unwrap();
    let mut cmd = env.asking(Some(&server));
    cmd.args(["exec", "--json", "go"]);
    leak_fd9(cmd.as_std_mut(), &world.leak);
    let r = common::finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("approval needed"), "the saved rule approves: {}", r.stderr);
    let items = r.completed("command_execution");
    assert_eq!(items.len(), cases.len(), "{items:?}");
    let mut failures = Vec::new();
    for (c, item) in cases.iter().zip(&items) {
        if item["sandboxed"] != true {
            failures.push(format!("{}: not sandboxed: {item}", c.name));
        }
        if let Err(e) = refused(c, item["exit_code"].as_i64(), item["aggregated_output"].as_str().unwrap_or_default()) {
            failures.push(e);
        }
    }
    let reached = world.reached();
    assert!(reached.is_empty(), "reached the world: {reached:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the sandbox still allows without network access: writes in the
/// workspace, pipes, socket pairs, a Unix server it binds itself, and
/// signals to its own processes. What it refuses that a command might
/// have wanted (`docs/sandbox.md`): connecting to any socket, its own
/// included. With network access, connections go through.
#[test]
fn what_commands_keep_and_what_network_access_gives() {
    let env = Env::new();
    let mut world = World::new();
    let helper = HELPERS[0];
    let work = env.work();
    let ok = |network: bool, script: &str| {
        let out = run_sandboxed(&world, helper, &work, network, script);
        assert!(text(&out).contains("WORKS") && out.status.success(), "{script}: {}", text(&out));
    };
    ok(false, "echo ok > inside.txt && mkdir -p d && mv inside.txt d/ && rm -r d && echo WORKS");
    ok(false, "echo hi | cat | grep -q hi && echo WORKS");
    ok(
        false,
        r#"python3 -c 'import socket; a, b = socket.socketpair(); a.send(b"x"); assert b.recv(1) == b"x"' && echo WORKS"#,
    );
    ok(false, "sleep 60 & kill $! && wait; echo WORKS");
    ok(
        false,
        r#"python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind("own.sock"); s.listen()' && echo WORKS"#,
    );
    // Refused: connecting even to its own socket in the workspace.
    let own = run_sandboxed(
        &world,
        helper,
        &work,
        false,
        r#"rm -f own.sock; python3 -c 'import socket
s = socket.socket(socket.AF_UNIX); s.bind("own.sock"); s.listen()
socket.socket(socket.AF_UNIX).connect("own.sock")' && echo WORKS"#,
    );
    assert!(!text(&own).contains("WORKS") && text(&own).contains("Operation not permitted"), "{}", text(&own));

    // With network access: TCP, and the Unix sockets outside.
    let w = |t: &str| world.script(t, &work);
    ok(true, &w("exec 3<>/dev/tcp/127.0.0.1/{TCP4} && echo WORKS"));
    ok(true, &w(r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("{UNIX}")' && echo WORKS"#));
    ok(true, &w(r#"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("\0{ABSTRACT}")' && echo WORKS"#));
    let reached = world.reached();
    assert_eq!(reached.len(), 3, "the three connections arrived: {reached:?}");
}

/// A seccomp filter that answers the given syscalls with an error, as a
/// kernel without the feature does; `prctl(PR_SET_SECCOMP)` may be
/// answered too.
fn missing(syscalls: &[i64], errno: i32, prctl_seccomp: bool) -> Vec<nix::libc::sock_filter> {
    use nix::libc::*;
    let stmt = |code: u32, jt: u8, jf: u8, k: u32| sock_filter { code: code as u16, jt, jf, k };
    let fail = SECCOMP_RET_ERRNO | errno as u32;
    let mut p = vec![stmt(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0)];
    for &nr in syscalls {
        p.push(stmt(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, nr as u32));
        p.push(stmt(BPF_RET | BPF_K, 0, 0, fail));
    }
    if prctl_seccomp {
        // A kernel without seccomp answers PR_SET_SECCOMP with EINVAL.
        p.push(stmt(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, SYS_prctl as u32));
        p.push(stmt(BPF_LD | BPF_W | BPF_ABS, 0, 0, 16)); // args[0]
        p.push(stmt(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, PR_SET_SECCOMP as u32));
        p.push(stmt(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | EINVAL as u32));
    }
    p.push(stmt(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW));
    p
}

/// Makes `cmd` start under `filter`.
#[allow(unsafe_code)]
fn without(cmd: &mut tokio::process::Command, filter: Vec<nix::libc::sock_filter>) {
    use nix::libc::*;
    // SAFETY: between fork and exec the closure makes only two syscalls
    // (async-signal-safe) on memory it owns, allocating nothing.
    unsafe {
        cmd.pre_exec(move || {
            let prog = sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut sock_filter };
            if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog as *const sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Runs the helper under `filter`; asserts the command did not run and
/// the error names the cause (all of `cause`).
async fn helper_refuses(filter: &[nix::libc::sock_filter], cause: &[&str]) {
    for helper in HELPERS {
        let env = Env::new();
        let mut c = tokio::process::Command::new(helper);
        c.arg("__sandbox").arg("--write").arg(env.work()).args(["--", "touch", "marker"]).current_dir(env.work());
        without(&mut c, filter.to_vec());
        let out = c.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(126), "{helper}: {stderr}");
        assert!(!env.work().join("marker").exists(), "{helper} ran the command unconfined");
        for needle in cause.iter().chain(&["was not run", "--no-sandbox"]) {
            assert!(stderr.contains(needle), "{helper}: no {needle:?} in {stderr}");
        }
    }
}

/// Runs `tern exec` under `filter` with a model that asks for a command;
/// asserts tern refused to start and named the cause and the way out.
async fn tern_refuses(filter: &[nix::libc::sock_filter], cause: &[&str]) {
    for flags in [&["--full-auto"][..], &[][..]] {
        let env = Env::new();
        let server =
            MockServer::start(vec![Step::call("exec_command", json!({"cmd": "touch marker"})), Step::text("done")])
                .await
                .unwrap();
        let mut c = env.asking(Some(&server));
        c.arg("exec").args(flags).arg("go");
        without(&mut c, filter.to_vec());
        let r = common::finish(c.spawn().unwrap()).await;
        assert_ne!(r.code, 0, "{flags:?}: {}", r.stderr);
        assert!(!env.work().join("marker").exists(), "{flags:?}: the command ran unconfined");
        for needle in cause.iter().chain(&["--no-sandbox"]) {
            assert!(r.stderr.contains(needle), "{flags:?}: no {needle:?} in {}", r.stderr);
        }
    }
}

/// Without Landlock (not built in: ENOSYS; built in but off: EOPNOTSUPP),
/// nothing runs, and the error says why and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_landlock_nothing_runs() {
    use nix::libc::*;
    let landlock = [SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self];
    for (errno, why) in [(ENOSYS, "built without it"), (EOPNOTSUPP, "add `landlock` to the `lsm=`")] {
        let filter = missing(&landlock, errno, false);
        helper_refuses(&filter, &["Landlock is not available", why]).await;
        tern_refuses(&filter, &["Landlock is not available", why]).await;
    }
}

/// Without seccomp, nothing runs either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_seccomp_nothing_runs() {
    let filter = missing(&[nix::libc::SYS_seccomp], nix::libc::ENOSYS, true);
    helper_refuses(&filter, &["seccomp filters are not available"]).await;
    tern_refuses(&filter, &["seccomp filters are not available"]).await;
}

/// The terminal case where it matters: a command shares tern's terminal
/// and, with `TIOCSTI`, could type into tern's own input line (or answer
/// an approval). It is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_cannot_type_into_terns_terminal() {
    let env = Env::new();
    // Split, so the command line tern shows is not what it would type.
    let inject = r#"python3 -c 'import fcntl, os, termios
t = os.open("/dev/tty", os.O_RDWR)
for c in "typed" + "-by-the-command": fcntl.ioctl(t, termios.TIOCSTI, c.encode())'; echo "python exited $?""#;
    let server = MockServer::start(vec![Step::call("exec_command", json!({"cmd": inject})), Step::text("all done")])
        .await
        .unwrap();
    let tui = common::pty::Tui::start(&env, Some(&server), &["-c", "approval_policy=\"full-auto\"", "go"], &[]);
    tui.wait_for("all done", 30).await;
    // Typed input would be drawn as soon as tern reads it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let screen = tui.screen();
    assert!(!screen.contains("typed-by-the-command"), "the command typed into tern:\n{screen}");
    assert!(screen.contains("python exited 1"), "the ioctl failed:\n{screen}");
}
