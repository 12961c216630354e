//! The city list's top-level JSON array, walked over a `BufRead` one element at a time: each
//! element is delimited here and handed, as bytes, to a decoder (serde_json) of the caller's;
//! what refuses the list as a whole ([`ListError`]).

use std::io::{self, BufRead};

/// Why a city list could not be read at all. The caller adds which source it was.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("it is empty")]
    Empty,
    #[error("it ends too early, at line {line} column {column} (a truncated file?)")]
    Truncated { line: u64, column: u64 },
    #[error("it is not JSON: {0}")]
    NotJson(String),
    #[error("it is not a JSON array of cities: {0}")]
    NotAnArray(String),
    #[error(transparent)]
    Read(io::Error),
}

/// The most bytes one element may take: a city entry is about 150. A larger one is skipped
/// as it streams past, never held, so no input can make the reader's memory grow.
pub(crate) const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// Where the reader is in the text, for messages.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// 1-based line.
    line: u64,
    /// Bytes read so far.
    offset: u64,
    /// `offset` just after the last newline, to compute columns.
    line_start: u64,
}

impl Default for Position {
    fn default() -> Self {
        Self {
            line: 1,
            offset: 0,
            line_start: 0,
        }
    }
}

impl Position {
    fn advance(&mut self, bytes: &[u8]) {
        if let Some(last) = bytes.iter().rposition(|&b| b == b'\n') {
            self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.line_start = self.offset + last as u64 + 1;
        }
        self.offset += bytes.len() as u64;
    }

    /// 1-based column of the next byte.
    fn column(&self) -> u64 {
        self.offset - self.line_start + 1
    }
}

/// The top-level array, read without copying except for the elements that straddle two
/// buffer fills. Neither the text nor the list is ever held whole.
pub(super) struct ArrayReader<R> {
    reader: R,
    at: Position,
    /// The element being read, when it straddles buffer fills.
    pending: Vec<u8>,
    /// Elements read so far.
    elements: u64,
    /// The closing bracket was read.
    closed: bool,
}

impl<R: BufRead> ArrayReader<R> {
    /// Reads up to the opening bracket (after an optional byte order mark); when the text is
    /// something else, says what it is.
    pub(super) fn open(reader: R) -> Result<Self, ListError> {
        let mut list = Self {
            reader,
            at: Position::default(),
            pending: Vec::new(),
            elements: 0,
            closed: false,
        };
        list.skip_byte_order_mark()?;
        match list.skip_whitespace()? {
            None => Err(ListError::Empty),
            Some(b'[') => {
                list.bump();
                Ok(list)
            }
            Some(other) => match kind_of(other) {
                Some(kind) => Err(ListError::NotAnArray(format!("it is {kind}"))),
                None => Err(list.unexpected(other, "")),
            },
        }
    }

    /// The next element: the line it starts on and what `decode` made of its bytes (or
    /// `too_large` of its size, over [`MAX_ENTRY_BYTES`]); `None` once the array is closed and
    /// nothing but whitespace follows it. Reading to the end also makes a gzip decoder below
    /// check its trailer, so a bad checksum is caught here.
    pub(super) fn next<T>(
        &mut self,
        decode: impl Fn(&[u8]) -> serde_json::Result<T>,
        too_large: impl Fn(usize) -> T,
    ) -> Result<Option<(u64, T)>, ListError> {
        if self.closed {
            return Ok(None);
        }
        if self.elements > 0 {
            match self.skip_whitespace()? {
                None => return Err(self.truncated()),
                Some(b',') => self.bump(),
                Some(b']') => return self.close(),
                Some(other) => {
                    let after = format!(" after entry {}", self.elements);
                    return Err(self.unexpected(other, &after));
                }
            }
        }
        match self.skip_whitespace()? {
            None => return Err(self.truncated()),
            Some(b']') if self.elements == 0 => return self.close(),
            Some(other @ (b']' | b'}' | b',')) => {
                return Err(self.unexpected(other, " where an entry should be"));
            }
            Some(_) => {}
        }
        let line = self.at.line;
        let value = self.element(decode, too_large)?;
        self.elements += 1;
        Ok(Some((line, value)))
    }

    /// After the closing bracket (peeked): only whitespace may follow.
    fn close<T>(&mut self) -> Result<Option<T>, ListError> {
        self.bump();
        self.closed = true;
        match self.skip_whitespace()? {
            None => Ok(None),
            Some(other) => Err(self.unexpected(other, " after the end of the array")),
        }
    }

    fn skip_byte_order_mark(&mut self) -> Result<(), ListError> {
        if fill(&mut self.reader)?.starts_with(b"\xEF\xBB\xBF") {
            self.reader.consume(3);
            self.at.offset += 3;
            self.at.line_start = 3;
        }
        Ok(())
    }

    /// Skips whitespace and peeks at the next byte; `None` at the end of the text.
    fn skip_whitespace(&mut self) -> Result<Option<u8>, ListError> {
        loop {
            let buf = fill(&mut self.reader)?;
            if buf.is_empty() {
                return Ok(None);
            }
            let pos = buf.iter().position(|b| !b.is_ascii_whitespace());
            let skipped = pos.unwrap_or(buf.len());
            let next = pos.map(|pos| buf[pos]);
            self.at.advance(&buf[..skipped]);
            self.reader.consume(skipped);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Consumes one byte already peeked (never a newline).
    fn bump(&mut self) {
        self.reader.consume(1);
        self.at.offset += 1;
    }

    /// Reads one element, from its first byte (already peeked) to its last, and decodes it:
    /// in place when the buffer holds it whole, the common case.
    fn element<T>(
        &mut self,
        decode: impl Fn(&[u8]) -> serde_json::Result<T>,
        too_large: impl Fn(usize) -> T,
    ) -> Result<T, ListError> {
        let start = self.at;
        let mut scan = ElementScan::default();
        let mut size = 0;
        self.pending.clear();
        loop {
            let buf = fill(&mut self.reader)?;
            if buf.is_empty() {
                return Err(self.truncated());
            }
            let end = scan.feed(buf);
            let taken = end.unwrap_or(buf.len());
            size += taken;
            let decoded = match end {
                Some(_) if size > MAX_ENTRY_BYTES => Some(Ok(too_large(size))),
                Some(end) if self.pending.is_empty() => Some(decode(&buf[..end])),
                Some(end) => {
                    self.pending.extend_from_slice(&buf[..end]);
                    Some(decode(&self.pending))
                }
                // Over the bound: scanned to its end, but no longer kept.
                None if size > MAX_ENTRY_BYTES => {
                    self.pending = Vec::new();
                    None
                }
                None => {
                    self.pending.extend_from_slice(buf);
                    None
                }
            };
            self.at.advance(&buf[..taken]);
            self.reader.consume(taken);
            if let Some(decoded) = decoded {
                return decoded.map_err(|err| syntax_error(&err, start));
            }
        }
    }

    fn truncated(&self) -> ListError {
        ListError::Truncated {
            line: self.at.line,
            column: self.at.column(),
        }
    }

    /// `context` is empty or starts with a space: " after entry 3".
    fn unexpected(&self, byte: u8, context: &str) -> ListError {
        ListError::NotJson(format!(
            "unexpected character {:?}{context} at line {} column {}",
            char::from(byte),
            self.at.line,
            self.at.column()
        ))
    }
}

/// What a JSON value is, told by its first byte; `None` when no value starts so.
fn kind_of(first: u8) -> Option<&'static str> {
    match first {
        b'{' => Some("an object"),
        b'"' => Some("a string"),
        b'-' | b'0'..=b'9' => Some("a number"),
        b't' | b'f' => Some("a boolean"),
        b'n' => Some("null"),
        _ => None,
    }
}

/// The reader's buffer, refilled when empty; empty only at the end of the text.
fn fill<R: BufRead>(reader: &mut R) -> Result<&[u8], ListError> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(ListError::Read(err)),
        }
    }
    reader.fill_buf().map_err(ListError::Read)
}

/// serde_json's message without its position, which is relative to the element.
pub(super) fn message_of(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

/// A syntax error inside an element, with serde's position (relative to the element) made
/// relative to the whole text.
fn syntax_error(err: &serde_json::Error, start: Position) -> ListError {
    let line = start.line + err.line() as u64 - 1;
    let column = if err.line() == 1 {
        start.column() + err.column() as u64 - 1
    } else {
        err.column() as u64
    };
    ListError::NotJson(format!(
        "{} at line {line} column {column}",
        message_of(err)
    ))
}

/// Finds where one array element ends, fed one buffer at a time: a container ends at its
/// matching bracket (brackets inside strings do not count), a string at its closing quote,
/// anything else (a number, a literal, garbage) before the next delimiter. It only delimits;
/// serde_json checks the syntax of what it delimited.
#[derive(Debug, Default)]
struct ElementScan {
    kind: Option<ElementKind>,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElementKind {
    Container,
    String,
    Scalar,
}

impl ElementScan {
    /// The end (exclusive) of the element in `chunk`, or `None` when it goes on past it.
    fn feed(&mut self, chunk: &[u8]) -> Option<usize> {
        let mut i = 0;
        if self.kind.is_none() {
            let first = *chunk.first()?;
            self.kind = Some(match first {
                b'{' | b'[' => {
                    self.depth = 1;
                    ElementKind::Container
                }
                b'"' => {
                    self.in_string = true;
                    ElementKind::String
                }
                _ => ElementKind::Scalar,
            });
            i = 1;
        }
        if self.kind == Some(ElementKind::Scalar) {
            return chunk[i..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b',' | b']' | b'}'))
                .map(|pos| i + pos);
        }
        while i < chunk.len() {
            if self.in_string {
                if self.escaped {
                    // The byte after a backslash, maybe at the start of the next buffer.
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                // Jump to the next quote or backslash: strings are most of the bytes.
                let pos = chunk[i..].iter().position(|&b| b == b'"' || b == b'\\')?;
                i += pos;
                if chunk[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if self.kind == Some(ElementKind::String) {
                        return Some(i + 1);
                    }
                }
                i += 1;
                continue;
            }
            match chunk[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element as its bytes and its line, whatever it is: the tokenizer alone.
    fn elements(text: &str, capacity: usize) -> Result<Vec<(u64, String)>, ListError> {
        let reader = io::BufReader::with_capacity(capacity, text.as_bytes());
        let mut list = ArrayReader::open(reader)?;
        let mut found = Vec::new();
        while let Some((line, bytes)) = list.next(
            |bytes| Ok(bytes.to_vec()),
            |size| format!("<{size} bytes>").into_bytes(),
        )? {
            found.push((line, String::from_utf8(bytes).unwrap()));
        }
        Ok(found)
    }

    #[test]
    fn elements_are_delimited_whole_with_their_line_whatever_the_buffer() {
        let text = "[ {\"a\": [1, \"]\"]},\n\"x\\\"]\" ,\n  -1.5e3\n,null]  \n";
        let expected = vec![
            (1, "{\"a\": [1, \"]\"]}".to_string()),
            (2, "\"x\\\"]\"".to_string()),
            (3, "-1.5e3".to_string()),
            (4, "null".to_string()),
        ];
        for capacity in 1..=text.len() {
            assert_eq!(elements(text, capacity).unwrap(), expected, "{capacity}");
        }
    }

    #[test]
    fn a_decoder_error_is_placed_in_the_whole_text() {
        let reader = "[\n  1,\n  {\"a\": x}]".as_bytes();
        let mut list = ArrayReader::open(reader).unwrap();
        let decode = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes);
        assert!(list.next(decode, |_| unreachable!()).unwrap().is_some());
        let err = list.next(decode, |_| unreachable!()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: expected value at line 3 column 9"
        );
    }

    #[test]
    fn what_is_not_an_array_is_named_by_its_first_byte() {
        for (text, kind) in [
            ("{}", "an object"),
            ("\"[\"", "a string"),
            ("-1", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            let err = elements(text, 8).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("it is not a JSON array of cities: it is {kind}")
            );
        }
        assert!(matches!(elements(" \n ", 8), Err(ListError::Empty)));
    }

    #[test]
    fn an_element_over_the_bound_is_skipped_without_being_held() {
        let huge = "x".repeat(MAX_ENTRY_BYTES * 3);
        let text = format!("[{{\"name\": \"{huge}\"}},\n {{\"id\": 1}}]");
        for capacity in [1024, 1 << 20] {
            let found = elements(&text, capacity).unwrap();
            assert_eq!(found.len(), 2);
            assert_eq!(found[0].1, format!("<{} bytes>", huge.len() + 12));
            assert_eq!(found[1], (2, "{\"id\": 1}".to_string()));
        }
    }
}
