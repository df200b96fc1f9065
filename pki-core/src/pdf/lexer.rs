//! Tokens and direct objects from bytes: ISO 32000-2 §7.2 (lexical conventions) and §7.3
//! (objects), with limits so that hostile input fails fast instead of exhausting the stack or
//! memory.
//!
//! The parser works on a window of the file. When it runs out of bytes before an object ends it
//! says so ([`ParseErrorKind::UnexpectedEnd`]) and the reader retries with a larger window, unless
//! the window already reaches the end of the file.

use super::object::{Dictionary, Name, ObjRef, Object, PdfString};

/// Deepest nesting of arrays and dictionaries accepted (ISO 32000-2 Annex C suggests far less is
/// ever needed; pdf.js and PDFium use similar bounds).
pub const MAX_DEPTH: usize = 64;
/// Most objects (of any kind, counted recursively) that one parse may produce.
pub const MAX_ELEMENTS: usize = 1 << 18;

/// Why bytes could not be read as an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The bytes ended inside a token or object.
    UnexpectedEnd,
    /// Something that cannot appear here.
    Unexpected(&'static str),
    /// Arrays/dictionaries nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_ELEMENTS`] objects in one parse.
    TooManyElements,
    /// A number that does not fit.
    NumberOutOfRange,
}

/// A parse error at an offset relative to the start of the parsed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Offset within the buffer.
    pub offset: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ParseErrorKind::UnexpectedEnd => f.write_str("the data ends inside an object"),
            ParseErrorKind::Unexpected(what) => write!(f, "unexpected {what}"),
            ParseErrorKind::TooDeep => {
                write!(f, "arrays/dictionaries nested deeper than {MAX_DEPTH}")
            }
            ParseErrorKind::TooManyElements => {
                write!(f, "more than {MAX_ELEMENTS} objects in one object")
            }
            ParseErrorKind::NumberOutOfRange => f.write_str("number out of range"),
        }
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token<'a> {
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A name, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A literal or hexadecimal string, decoded.
    Str(Vec<u8>),
    /// `[`
    ArrayOpen,
    /// `]`
    ArrayClose,
    /// `<<`
    DictOpen,
    /// `>>`
    DictClose,
    /// Any other run of regular characters (`obj`, `R`, `true`, `stream`, operators ...).
    Keyword(&'a [u8]),
}

/// PDF white-space characters (§7.2.3, Table 1).
pub fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

/// PDF delimiter characters (§7.2.3, Table 2).
pub fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// The value of each hex digit; 255 for anything else.
pub(crate) const HEX_VALUE: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes 32 hex digits (either case) into 16 bytes; false when any of the 32 is not a hex
/// digit. Arithmetic rather than a table, so the compiler can vectorise it (a signature's
/// `/Contents` is kilobytes of digits, decoded by the lexer and compared with the file's gap).
pub(crate) fn hex_block(src: &[u8], dst: &mut [u8; 16]) -> bool {
    let mut bad = 0u8;
    let mut val = [0u8; 32];
    for (v, &c) in val.iter_mut().zip(src.iter().take(32)) {
        let digit = c.wrapping_sub(b'0') < 10;
        let letter = (c | 0x20).wrapping_sub(b'a') < 6;
        bad |= u8::from(!(digit | letter));
        *v = (c & 0x0f) + 9 * (c >> 6);
    }
    for (k, d) in dst.iter_mut().enumerate() {
        *d = val[2 * k] << 4 | (val[2 * k + 1] & 0x0f);
    }
    src.len() >= 32 && bad == 0
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

/// A tokenizer and direct-object parser over a byte slice.
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Whether `buf` ends where the data ends (a token touching the end is then complete).
    complete: bool,
    elements: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer over `buf`. `complete` says whether `buf` reaches the end of the data (the file).
    pub fn new(buf: &'a [u8], complete: bool) -> Self {
        Self {
            buf,
            pos: 0,
            complete,
            elements: 0,
        }
    }

    /// Current offset in the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to `pos`.
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// Whether the buffer reaches the end of the data.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The underlying buffer.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    fn err(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { offset, kind }
    }

    fn end(&self) -> ParseError {
        self.err(self.buf.len(), ParseErrorKind::UnexpectedEnd)
    }

    /// Skips white space and comments.
    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.buf.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads the next token; `Ok(None)` at the end of a complete buffer.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let Some(&b) = self.buf.get(start) else {
            return if self.complete {
                Ok(None)
            } else {
                Err(self.end())
            };
        };
        match b {
            b'[' => {
                self.pos += 1;
                Ok(Some(Token::ArrayOpen))
            }
            b']' => {
                self.pos += 1;
                Ok(Some(Token::ArrayClose))
            }
            b'<' => {
                if self.buf.get(start + 1) == Some(&b'<') {
                    self.pos += 2;
                    Ok(Some(Token::DictOpen))
                } else if start + 1 >= self.buf.len() && !self.complete {
                    Err(self.end())
                } else {
                    self.hex_string().map(|s| Some(Token::Str(s)))
                }
            }
            b'>' => {
                if self.buf.get(start + 1) == Some(&b'>') {
                    self.pos += 2;
                    Ok(Some(Token::DictClose))
                } else if start + 1 >= self.buf.len() && !self.complete {
                    Err(self.end())
                } else {
                    Err(self.err(start, ParseErrorKind::Unexpected("'>'")))
                }
            }
            b'(' => self.literal_string().map(|s| Some(Token::Str(s))),
            b'/' => self.name().map(|n| Some(Token::Name(n))),
            b')' | b'{' | b'}' => Err(self.err(start, ParseErrorKind::Unexpected("delimiter"))),
            _ => {
                let mut end = start;
                while end < self.buf.len() && is_regular(self.buf[end]) {
                    end += 1;
                }
                if end == self.buf.len() && !self.complete {
                    return Err(self.end());
                }
                self.pos = end;
                let word = &self.buf[start..end];
                if matches!(word[0], b'0'..=b'9' | b'+' | b'-' | b'.') {
                    if let Some(t) = number(word) {
                        return Ok(Some(t));
                    }
                    if word.iter().all(|c| matches!(c, b'0'..=b'9' | b'+' | b'-')) {
                        return Err(self.err(start, ParseErrorKind::NumberOutOfRange));
                    }
                }
                Ok(Some(Token::Keyword(word)))
            }
        }
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, ParseError> {
        let rest = self.buf.get(self.pos + 1..).unwrap_or_default();
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        let mut i = self.pos + 1;
        // Fast path for the common run of digit pairs (a signature's /Contents is kilobytes
        // of them); anything else falls through to the byte-by-byte loop below.
        // Blocks of 16 pairs are decoded on the stack and checked once; the block holding
        // the first other character, and the last few pairs, go pair by pair.
        let pairs = |out: &mut Vec<u8>, bytes: &[u8]| -> bool {
            for p in bytes.chunks_exact(2) {
                let (h, l) = (HEX_VALUE[usize::from(p[0])], HEX_VALUE[usize::from(p[1])]);
                if (h | l) > 15 {
                    return false;
                }
                out.push(h << 4 | l);
            }
            true
        };
        let mut blocks = rest.chunks_exact(32);
        let mut all_digits = true;
        for c in &mut blocks {
            let mut block = [0u8; 16];
            if !hex_block(c, &mut block) {
                pairs(&mut out, c);
                all_digits = false;
                break;
            }
            out.extend_from_slice(&block);
        }
        if all_digits {
            pairs(&mut out, blocks.remainder());
        }
        i += 2 * out.len();
        loop {
            let Some(&c) = self.buf.get(i) else {
                return Err(self.end());
            };
            i += 1;
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                b'>' => break,
                c if is_whitespace(c) => continue,
                _ => {
                    return Err(self.err(i - 1, ParseErrorKind::Unexpected("hex string character")))
                }
            };
            match hi.take() {
                None => hi = Some(v),
                Some(h) => out.push(h << 4 | v),
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        self.pos = i;
        Ok(out)
    }

    fn literal_string(&mut self) -> Result<Vec<u8>, ParseError> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut i = self.pos + 1;
        loop {
            let Some(&c) = self.buf.get(i) else {
                return Err(self.end());
            };
            i += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                    out.push(c);
                }
                b'\r' => {
                    // An unescaped end-of-line is read as a single LF (§7.3.4.2).
                    if self.buf.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                    out.push(b'\n');
                }
                b'\\' => {
                    let Some(&e) = self.buf.get(i) else {
                        return Err(self.end());
                    };
                    i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.buf.get(i) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if self.buf.get(i) == Some(&b'\n') {
                                i += 1;
                            }
                        }
                        b'\n' => {}
                        // `\(`, `\)`, `\\`, and any other escaped character stands for itself.
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        self.pos = i;
        Ok(out)
    }

    fn name(&mut self) -> Result<Vec<u8>, ParseError> {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        while let Some(&c) = self.buf.get(i) {
            if !is_regular(c) {
                break;
            }
            if c == b'#' {
                let h = self.buf.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                });
                if let Some(v) = h {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(c);
            i += 1;
        }
        if i == self.buf.len() && !self.complete {
            return Err(self.end());
        }
        self.pos = i;
        Ok(out)
    }

    fn count(&mut self) -> Result<(), ParseError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.err(self.pos, ParseErrorKind::TooManyElements));
        }
        Ok(())
    }

    /// Parses one direct object (references `n g R` included). Streams are not handled here:
    /// the reader sees the `stream` keyword after a dictionary.
    pub fn parse_object(&mut self) -> Result<Object, ParseError> {
        self.parse_depth(0)
    }

    fn parse_depth(&mut self, depth: usize) -> Result<Object, ParseError> {
        self.count()?;
        self.skip_ws();
        let start = self.pos;
        let tok = self.next_token()?.ok_or_else(|| self.end())?;
        Ok(match tok {
            Token::Int(n) => {
                // `n g R`: look ahead for a generation number and `R`.
                let save = self.pos;
                if let Some(r) = self.reference_tail(n, start)? {
                    return Ok(Object::Reference(r));
                }
                self.pos = save;
                Object::Integer(n)
            }
            Token::Real(r) => Object::Real(r),
            Token::Name(n) => Object::Name(Name(n)),
            Token::Str(s) => Object::String(PdfString(s)),
            Token::ArrayOpen => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(start, ParseErrorKind::TooDeep));
                }
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.buf.get(self.pos) {
                        None => return Err(self.end()),
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => items.push(self.parse_depth(depth + 1)?),
                    }
                }
                Object::Array(items)
            }
            Token::DictOpen => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(start, ParseErrorKind::TooDeep));
                }
                Object::Dictionary(self.dict_body(depth)?)
            }
            Token::Keyword(b"true") => Object::Bool(true),
            Token::Keyword(b"false") => Object::Bool(false),
            Token::Keyword(b"null") => Object::Null,
            Token::Keyword(_) => return Err(self.err(start, ParseErrorKind::Unexpected("keyword"))),
            Token::ArrayClose | Token::DictClose => {
                return Err(self.err(start, ParseErrorKind::Unexpected("closing bracket")))
            }
        })
    }

    /// After an integer `n`: `g R` makes a reference. Running out of bytes is an error (the
    /// window must grow); anything else means "not a reference".
    fn reference_tail(&mut self, n: i64, start: usize) -> Result<Option<ObjRef>, ParseError> {
        let gen = match self.next_token() {
            Ok(Some(Token::Int(g))) => g,
            Err(e) if e.kind == ParseErrorKind::UnexpectedEnd => return Err(e),
            _ => return Ok(None),
        };
        match self.next_token() {
            Ok(Some(Token::Keyword(b"R"))) => {}
            Err(e) if e.kind == ParseErrorKind::UnexpectedEnd => return Err(e),
            _ => return Ok(None),
        }
        match (u32::try_from(n), u16::try_from(gen)) {
            (Ok(num), Ok(gen)) => Ok(Some(ObjRef { num, gen })),
            _ => Err(self.err(start, ParseErrorKind::NumberOutOfRange)),
        }
    }

    fn dict_body(&mut self, depth: usize) -> Result<Dictionary, ParseError> {
        let mut d = Dictionary::new();
        loop {
            self.skip_ws();
            let at = self.pos;
            match self.next_token()?.ok_or_else(|| self.end())? {
                Token::DictClose => break,
                Token::Name(key) => {
                    self.skip_ws();
                    if self.buf.get(self.pos..self.pos + 2) == Some(b">>") {
                        // `/Key >>`: a key without value; readers treat it as null.
                        continue;
                    }
                    let v = self.parse_depth(depth + 1)?;
                    d.push(Name(key), v);
                }
                _ => {
                    return Err(self.err(at, ParseErrorKind::Unexpected("non-name dictionary key")))
                }
            }
        }
        Ok(d)
    }

    /// Parses `n g obj` and returns the reference.
    pub fn parse_obj_header(&mut self) -> Result<ObjRef, ParseError> {
        self.skip_ws();
        let at = self.pos;
        let bad = |s: &Self| {
            s.err(
                at,
                ParseErrorKind::Unexpected("text where `n g obj` was expected"),
            )
        };
        let num = match self.next_token()? {
            Some(Token::Int(n)) => u32::try_from(n).map_err(|_| bad(self))?,
            _ => return Err(bad(self)),
        };
        let gen = match self.next_token()? {
            Some(Token::Int(g)) => u16::try_from(g).map_err(|_| bad(self))?,
            _ => return Err(bad(self)),
        };
        match self.next_token()? {
            Some(Token::Keyword(b"obj")) => Ok(ObjRef { num, gen }),
            _ => Err(bad(self)),
        }
    }
}

/// Parses a number token (§7.3.3): `+17`, `-98`, `34.5`, `4.`, `-.002`.
fn number(word: &[u8]) -> Option<Token<'static>> {
    let s = std::str::from_utf8(word).ok()?;
    if !s.contains('.') {
        return s.parse::<i64>().ok().map(Token::Int);
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty()
        || body == "."
        || !body.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        || body.bytes().filter(|&c| c == b'.').count() != 1
    {
        return None;
    }
    s.parse::<f64>().ok().map(Token::Real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Object {
        Lexer::new(s, true).parse_object().unwrap()
    }

    #[test]
    fn scalars() {
        assert_eq!(parse(b"  % comment\n 42"), Object::Integer(42));
        assert_eq!(parse(b"-.5"), Object::Real(-0.5));
        assert_eq!(parse(b"4."), Object::Real(4.0));
        assert_eq!(parse(b"true"), Object::Bool(true));
        assert_eq!(parse(b"null"), Object::Null);
        assert_eq!(
            parse(b"12 0 R"),
            Object::Reference(ObjRef { num: 12, gen: 0 })
        );
        assert_eq!(parse(b"/A#20B"), Object::Name(Name(b"A B".to_vec())));
        assert_eq!(
            parse(b"(a\\(b\\)\\n\\101\\\n(c))"),
            Object::String(PdfString(b"a(b)\nA(c)".to_vec()))
        );
        assert_eq!(
            parse(b"<48 65 6c7>"),
            Object::String(PdfString(b"Hel\x70".to_vec()))
        );
        assert_eq!(
            parse(b"(x\r\ny)"),
            Object::String(PdfString(b"x\ny".to_vec()))
        );
    }

    #[test]
    fn containers() {
        let o = parse(b"<</Type/Page/Kids[1 0 R 2 0 R 3]/N<</X 1.5>>/Empty>>");
        let d = o.as_dict().unwrap();
        assert_eq!(d.get("Type"), Some(&Object::Name(Name(b"Page".to_vec()))));
        assert_eq!(d.get("Kids").unwrap().as_array().unwrap().len(), 3);
        assert_eq!(d.get("Empty"), None);
    }

    #[test]
    fn incomplete_buffers_ask_for_more() {
        for s in [&b"<</A [1 2"[..], b"(abc", b"12", b"<</A 1 0", b"/Nam"] {
            let e = Lexer::new(s, false).parse_object().unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::UnexpectedEnd, "{s:?}");
        }
        // The same at the end of the file: a number or name is complete.
        assert_eq!(
            Lexer::new(b"12", true).parse_object().unwrap(),
            Object::Integer(12)
        );
    }

    #[test]
    fn limits() {
        let deep = vec![b'['; 10_000];
        let e = Lexer::new(&deep, true).parse_object().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooDeep);
        let mut many = b"[".to_vec();
        for _ in 0..(MAX_ELEMENTS + 1) {
            many.extend_from_slice(b"1 ");
        }
        many.push(b']');
        let e = Lexer::new(&many, true).parse_object().unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooManyElements);
        let e = Lexer::new(b"99999999999999999999999", true)
            .parse_object()
            .unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NumberOutOfRange);
        for bad in [&b")"[..], b"<zz>", b"<</A>", b"<<1 2>>", b"]", b"{"] {
            assert!(Lexer::new(bad, true).parse_object().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn obj_header() {
        let mut l = Lexer::new(b"\n 7 0 obj <</A 1>> endobj", true);
        assert_eq!(l.parse_obj_header().unwrap(), ObjRef { num: 7, gen: 0 });
        assert!(l.parse_object().unwrap().as_dict().is_some());
        assert!(Lexer::new(b"7 0 R", true).parse_obj_header().is_err());
    }
}
