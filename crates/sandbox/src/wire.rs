//! What tern and the spawner ([`crate::serve`]) say to each other over
//! their two Unix stream sockets: on the first, a [`Request`] (with the
//! command's stdin, stdout and stderr passed as descriptors) answered by
//! a [`Reply`]; on the second, an [`Ended`] for each command as it exits.
//!
//! A frame is a little-endian `u32` length, then that many bytes; byte
//! strings inside are a `u32` length and the bytes. Both ends are built
//! from this one file, so the format needs no version.

use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::Policy;

/// The descriptors a request carries: the command's stdin, stdout, stderr.
pub const FDS: usize = 3;
/// The largest frame either end accepts (a script is at most 128 KB, the
/// kernel's limit for one argument; the environment is the rest).
const MAX_FRAME: usize = 16 << 20;

/// Start a command confined to `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Chosen by tern, unique per spawner; [`Ended`] names it.
    pub id: u64,
    pub policy: Policy,
    /// The descriptors are a terminal, to become the command's controlling one.
    pub tty: bool,
    pub cwd: PathBuf,
    /// The program (looked up in the `PATH` of `env`) and its arguments.
    pub argv: Vec<OsString>,
    /// The whole environment, as `NAME=value`.
    pub env: Vec<OsString>,
}

/// Why a command could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An OS error: changing to the directory, exec, fork.
    Os(i32),
    /// The kernel could not enforce the sandbox; nothing ran.
    Sandbox,
}

/// The spawner's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The command runs (it has exec'd) as `pid`, leading its own session.
    Started {
        id: u64,
        pid: i32,
    },
    Failed {
        id: u64,
        failure: Failure,
        message: String,
    },
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

/// A command of a [`Request`] exited, and was reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub id: u64,
    pub status: Status,
}

/// A frame that does not decode: a bug on one side, never user input.
#[derive(Debug, thiserror::Error)]
#[error("malformed spawner message")]
pub struct Malformed;

struct Writer(Vec<u8>);

impl Writer {
    fn new() -> Self {
        Writer(vec![0; 4])
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn list<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.u32(items.len() as u32);
        for i in items {
            self.bytes(i);
        }
    }
    /// The frame: its length, then the body.
    fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Malformed)?))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Malformed)?))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Malformed)?))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn list(&mut self) -> Result<Vec<OsString>, Malformed> {
        let n = self.u32()? as usize;
        // Each item takes at least its 4-byte length: a count past that is a lie.
        if n > self.0.len() / 4 {
            return Err(Malformed);
        }
        (0..n).map(|_| self.bytes().map(OsString::from_vec)).collect()
    }
    fn end(&self) -> Result<(), Malformed> {
        if self.0.is_empty() { Ok(()) } else { Err(Malformed) }
    }
}

const TTY: u8 = 1;
const NETWORK: u8 = 2;

impl Request {
    /// The frame to send.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.id);
        w.u8(if self.tty { TTY } else { 0 } | if self.policy.network { NETWORK } else { 0 });
        w.bytes(self.cwd.as_os_str().as_bytes());
        w.list(self.policy.writable.iter().map(|p| p.as_os_str().as_bytes()));
        w.list(self.argv.iter().map(|a| a.as_bytes()));
        w.list(self.env.iter().map(|a| a.as_bytes()));
        w.finish()
    }

    pub fn decode(body: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader(body);
        let id = r.u64()?;
        let flags = r.u8()?;
        let cwd = PathBuf::from(OsString::from_vec(r.bytes()?));
        let writable = r.list()?.into_iter().map(PathBuf::from).collect();
        let argv = r.list()?;
        let env = r.list()?;
        r.end()?;
        if argv.is_empty() {
            return Err(Malformed);
        }
        let policy = Policy { writable, network: flags & NETWORK != 0 };
        Ok(Request { id, policy, tty: flags & TTY != 0, cwd, argv, env })
    }
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Reply::Started { id, pid } => {
                w.u64(*id);
                w.u8(0);
                w.i32(*pid);
                w.bytes(b"");
            }
            Reply::Failed { id, failure, message } => {
                w.u64(*id);
                match failure {
                    Failure::Os(errno) => {
                        w.u8(1);
                        w.i32(*errno);
                    }
                    Failure::Sandbox => {
                        w.u8(2);
                        w.i32(0);
                    }
                }
                w.bytes(message.as_bytes());
            }
        }
        w.finish()
    }

    pub fn decode(body: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader(body);
        let (id, kind, value) = (r.u64()?, r.u8()?, r.i32()?);
        let message = String::from_utf8_lossy(&r.bytes()?).into_owned();
        r.end()?;
        match kind {
            0 => Ok(Reply::Started { id, pid: value }),
            1 => Ok(Reply::Failed { id, failure: Failure::Os(value), message }),
            2 => Ok(Reply::Failed { id, failure: Failure::Sandbox, message }),
            _ => Err(Malformed),
        }
    }
}

impl Ended {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.id);
        let (kind, value) = match self.status {
            Status::Exited(c) => (0, c),
            Status::Signaled(s) => (1, s),
        };
        w.u8(kind);
        w.i32(value);
        w.finish()
    }

    pub fn decode(body: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader(body);
        let (id, kind, value) = (r.u64()?, r.u8()?, r.i32()?);
        r.end()?;
        let status = match kind {
            0 => Status::Exited(value),
            1 => Status::Signaled(value),
            _ => return Err(Malformed),
        };
        Ok(Ended { id, status })
    }
}

/// Sends `frame` on a stream socket, with `fds` attached to its first byte.
pub fn send(socket: BorrowedFd<'_>, frame: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
    let sent = loop {
        match sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(frame)], cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(std::io::Error::from)?,
        }
    };
    // A large frame may go in pieces; the descriptors went with the first.
    if sent < frame.len() {
        let mut rest = std::fs::File::from(socket.try_clone_to_owned()?);
        rest.write_all(&frame[sent..])?;
    }
    Ok(())
}

/// Receives one frame's body and the descriptors sent with it (at most
/// [`FDS`], close-on-exec); `None` at the end of the stream.
pub fn recv(socket: BorrowedFd<'_>) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    let mut fds = Vec::new();
    let mut space = nix::cmsg_space!([RawFd; FDS]);
    while got < len.len() {
        let mut iov = [IoSliceMut::new(&mut len[got..])];
        let msg = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.map_err(std::io::Error::from)?,
        };
        for c in msg.cmsgs().map_err(std::io::Error::from)? {
            if let ControlMessageOwned::ScmRights(received) = c {
                // SAFETY: the kernel just installed these descriptors in
                // this process for us; nothing else owns them.
                #[allow(unsafe_code)]
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        if msg.bytes == 0 {
            return if got == 0 { Ok(None) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) };
        }
        got += msg.bytes;
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME || fds.len() > FDS {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, Malformed));
    }
    let mut body = vec![0u8; n];
    std::fs::File::from(socket.try_clone_to_owned()?).read_exact(&mut body)?;
    Ok(Some((body, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn request() -> Request {
        Request {
            id: 7,
            policy: Policy { writable: vec!["/w".into(), "/tmp".into()], network: true },
            tty: false,
            cwd: "/w/sub".into(),
            argv: ["bash", "-c", "echo hi"].map(OsString::from).to_vec(),
            env: ["A=1", "PATH=/bin"].map(OsString::from).to_vec(),
        }
    }

    #[test]
    fn messages_round_trip() {
        let r = request();
        assert_eq!(Request::decode(&r.encode()[4..]).unwrap(), r);
        for reply in [
            Reply::Started { id: 1, pid: 42 },
            Reply::Failed { id: 2, failure: Failure::Os(libc::ENOENT), message: "no dir".into() },
            Reply::Failed { id: 3, failure: Failure::Sandbox, message: "no landlock".into() },
        ] {
            assert_eq!(Reply::decode(&reply.encode()[4..]).unwrap(), reply);
        }
        for status in [Status::Exited(3), Status::Signaled(9)] {
            let e = Ended { id: 9, status };
            assert_eq!(Ended::decode(&e.encode()[4..]).unwrap(), e);
        }
    }

    #[test]
    fn truncated_or_padded_frames_are_refused() {
        let body = request().encode()[4..].to_vec();
        for cut in 0..body.len() {
            assert!(Request::decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = body.clone();
        padded.push(0);
        assert!(Request::decode(&padded).is_err());
        // A list count far past the bytes that follow.
        let mut w = Writer::new();
        w.u64(1);
        w.u8(0);
        w.bytes(b"/");
        w.u32(u32::MAX);
        assert!(Request::decode(&w.finish()[4..]).is_err());
    }

    #[test]
    fn frames_and_descriptors_cross_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        // Larger than a socket buffer: sent in pieces, read whole.
        let mut big = request();
        big.env.push(OsString::from(format!("BIG={}", "x".repeat(1 << 20))));
        let frame = big.encode();
        let writer = std::thread::spawn(move || {
            send(a.as_fd(), &frame, &[file.as_fd(), file.as_fd(), file.as_fd()]).unwrap();
            send(a.as_fd(), &Reply::Started { id: 1, pid: 2 }.encode(), &[]).unwrap();
        });
        let (body, fds) = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(Request::decode(&body).unwrap(), big);
        assert_eq!(fds.len(), 3);
        let (body, fds) = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(Reply::decode(&body).unwrap(), Reply::Started { id: 1, pid: 2 });
        assert!(fds.is_empty());
        writer.join().unwrap();
        assert!(recv(b.as_fd()).unwrap().is_none(), "the end of the stream");
    }
}
