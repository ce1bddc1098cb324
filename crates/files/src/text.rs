//! Files as text: UTF-8 only, with a byte-order mark kept aside.

use crate::FilesError;

const BOM: &str = "\u{feff}";

/// A file's text, and whether it started with a BOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub bom: bool,
    pub body: String,
}

impl Text {
    /// Decodes bytes, refusing anything that is not UTF-8 text: a NUL byte
    /// is valid UTF-8 but means binary data or UTF-16 without a BOM.
    pub fn decode(bytes: &[u8], shown: &str) -> Result<Text, FilesError> {
        let not_text = || FilesError::NotText(shown.to_string());
        if bytes.contains(&0) {
            return Err(not_text());
        }
        let s = std::str::from_utf8(bytes).map_err(|_| not_text())?;
        Ok(match s.strip_prefix(BOM) {
            Some(rest) => Text { bom: true, body: rest.to_string() },
            None => Text { bom: false, body: s.to_string() },
        })
    }

    /// Encodes `body` the way the original was: with its BOM if it had one.
    pub fn encode(&self, body: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 3);
        if self.bom {
            out.extend_from_slice(BOM.as_bytes());
        }
        out.extend_from_slice(body.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_round_trip_and_refusal() {
        let t = Text::decode("\u{feff}hi\r\n".as_bytes(), "f").unwrap();
        assert!(t.bom);
        assert_eq!(t.body, "hi\r\n");
        assert_eq!(t.encode("yo\r\n"), "\u{feff}yo\r\n".as_bytes());
        assert!(matches!(Text::decode(&[0x66, 0xff, 0x0a], "f"), Err(FilesError::NotText(_))));
        // UTF-16, with and without its BOM (ASCII in UTF-16 is valid UTF-8 with NULs).
        for utf16 in [&b"\xff\xfeh\0i\0\n\0"[..], b"h\0i\0\n\0", b"\xfe\xff\0h\0i"] {
            assert!(matches!(Text::decode(utf16, "f"), Err(FilesError::NotText(_))), "{utf16:?}");
        }
    }
}
