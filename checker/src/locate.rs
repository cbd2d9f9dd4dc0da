//! Where a JSON path is in a file: a small JSON reader that keeps the
//! position of every key and value, so that an error found on the parsed
//! scenario (`patches.P1.objects.vmlinux.funcs.g`) is shown at its line and
//! column, like a parse error.

/// A position in the text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    /// Byte offset.
    pub offset: usize,
}

/// The position of the byte at `offset` in `text`.
pub fn pos_of(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..floor_char(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos {
        line,
        column: before[line_start..].chars().count() + 1,
        offset,
    }
}

/// The byte offset of 1-based `line` and `column` (characters).
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    text[start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| start + i)
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A value with the byte range it covers.
#[derive(Debug)]
enum Node {
    Object(Vec<(String, usize, Node)>, usize),
    Array(Vec<Node>, usize),
    Scalar(usize),
}

impl Node {
    fn start(&self) -> usize {
        match self {
            Node::Object(_, s) | Node::Array(_, s) | Node::Scalar(s) => *s,
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<String> {
        // At the opening quote.
        self.i += 1;
        let start = self.i;
        let mut out = String::new();
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    // Keys with escapes are rare; keep the escaped
                    // character as it is written.
                    self.i += 2;
                }
                _ => {
                    let ch_start = self.i;
                    self.i += 1;
                    while self.i < self.b.len() && (self.b[self.i] & 0xC0) == 0x80 {
                        self.i += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.b[ch_start..self.i]).ok()?);
                }
            }
        }
        let _ = start;
        None
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > 256 {
            return None;
        }
        self.ws();
        let start = self.i;
        match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.ws();
                    match *self.b.get(self.i)? {
                        b'}' => {
                            self.i += 1;
                            return Some(Node::Object(members, start));
                        }
                        b',' => self.i += 1,
                        b'"' => {
                            let key_at = self.i;
                            let key = self.string()?;
                            self.ws();
                            if self.b.get(self.i) != Some(&b':') {
                                return None;
                            }
                            self.i += 1;
                            let v = self.value(depth + 1)?;
                            members.push((key, key_at, v));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match *self.b.get(self.i)? {
                        b']' => {
                            self.i += 1;
                            return Some(Node::Array(items, start));
                        }
                        b',' => self.i += 1,
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            b'"' => {
                self.string()?;
                Some(Node::Scalar(start))
            }
            _ => {
                while self.i < self.b.len() && !b",]} \t\r\n".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                (self.i > start).then_some(Node::Scalar(start))
            }
        }
    }
}

/// One step of a JSON path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `a.b[3].c` into segments; dots inside a key (a profile name such
/// as `v5.4`) are resolved against the document when walking.
fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            match idx.trim_end_matches(']').parse() {
                Ok(n) => out.push(Seg::Index(n)),
                Err(_) => out.push(Seg::Key(idx.to_string())),
            }
        }
    }
    out
}

/// The byte offset that JSON `path` names in `text`: the key of an object
/// member, the start of an array element; as deep as the path can be
/// followed (a missing key points at the object that lacks it). `None` when
/// the text is not JSON or the path is empty (`.`).
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let root = Reader {
        b: text.as_bytes(),
        i: 0,
    }
    .value(0)?;
    let segs = segments(path.trim_start_matches('.'));
    let mut node = &root;
    let mut at = root.start();
    let mut k = 0;
    while k < segs.len() {
        match (&segs[k], node) {
            (Seg::Index(n), Node::Array(items, _)) => match items.get(*n) {
                Some(v) => {
                    at = v.start();
                    node = v;
                    k += 1;
                }
                None => break,
            },
            (Seg::Key(_), Node::Object(members, _)) => {
                // The longest run of segments that, joined by dots, is a key.
                let mut found = None;
                let mut joined = String::new();
                for (j, seg) in segs.iter().enumerate().skip(k) {
                    let Seg::Key(s) = seg else { break };
                    if j > k {
                        joined.push('.');
                    }
                    joined += s;
                    if let Some((_, key_at, v)) = members.iter().find(|(key, _, _)| *key == joined)
                    {
                        found = Some((j, *key_at, v));
                    }
                }
                match found {
                    Some((j, key_at, v)) => {
                        at = key_at;
                        node = v;
                        k = j + 1;
                    }
                    None => break,
                }
            }
            _ => break,
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"patches\": {\"P1\": {\"objects\": {\"vmlinux\": {\"funcs\": {\"g\": {}}}}}},\n  \"expect_by_profile\": {\"v5.4\": {\"x\": \"holds\"}},\n  \"script\": [1, {\"op\": \"é\"}, 3]\n}\n";

    #[test]
    fn keys_indices_and_dotted_keys() {
        let p = |path| pos_of(TEXT, locate(TEXT, path).unwrap());
        let g = p("patches.P1.objects.vmlinux.funcs.g");
        assert_eq!((g.line, g.column), (2, 56));
        let x = p("expect_by_profile.v5.4.x");
        assert_eq!((x.line, x.column), (3, 34));
        let s = p("script[1].op");
        assert_eq!((s.line, s.column), (4, 18));
        // A key that is missing: the object that lacks it.
        let m = p("patches.P2");
        assert_eq!((m.line, m.column), (2, 3));
    }

    #[test]
    fn offsets_and_positions_round_trip() {
        let o = offset_of(TEXT, 4, 18);
        assert_eq!(pos_of(TEXT, o).column, 18);
        assert_eq!(&TEXT[o..o + 4], "\"op\"");
    }
}
