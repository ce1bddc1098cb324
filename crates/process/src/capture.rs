//! Capped output capture that keeps the beginning and the end.

use std::collections::VecDeque;

/// Keeps the first and last `cap / 2` bytes of a stream and counts the rest.
#[derive(Debug)]
pub struct HeadTail {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    half: usize,
    total: u64,
}

impl HeadTail {
    /// A buffer that keeps at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        let half = (cap / 2).max(1);
        HeadTail { head: Vec::new(), tail: VecDeque::new(), half, total: 0 }
    }

    /// Appends bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < self.half {
            let take = (self.half - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= self.half {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.half..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.half);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    /// Bytes seen so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Everything kept, head then tail (the whole output while nothing
    /// has been dropped).
    pub fn all_kept(&self) -> Vec<u8> {
        let mut v = self.head.clone();
        v.extend(self.tail.iter());
        v
    }

    /// Bytes dropped from the middle.
    pub fn omitted(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The kept text with a marker where bytes were dropped.
    pub fn render(&self) -> String {
        let omitted = self.omitted();
        if omitted == 0 {
            return String::from_utf8_lossy(&self.all_kept()).into_owned();
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        format!(
            "{}\n[… {omitted} bytes of output omitted; {} bytes in total …]\n{}",
            String::from_utf8_lossy(&self.head),
            self.total,
            String::from_utf8_lossy(&tail)
        )
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut h = HeadTail::new(100);
        h.push(b"hello ");
        h.push(b"world");
        assert_eq!(h.render(), "hello world");
        assert_eq!(h.omitted(), 0);
    }

    #[test]
    fn large_output_keeps_head_and_tail() {
        let mut h = HeadTail::new(10);
        for i in 0..100u8 {
            h.push(&[b'a' + (i % 26)]);
        }
        assert_eq!(h.total(), 100);
        assert_eq!(h.omitted(), 90);
        let r = h.render();
        assert!(r.starts_with("abcde\n[… 90 bytes"), "{r}");
        assert!(r.ends_with("\nrstuv"), "{r}");
        let mut big = HeadTail::new(10);
        big.push(&[b'x'; 1000]);
        big.push(b"12");
        assert!(big.render().ends_with("xxx12"));
    }
}
