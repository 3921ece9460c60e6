//! bash's `$'..'` strings: C-style escapes, some of which build bytes rather than characters
//! (`$'\xc3\xa9'` is one `é`), so the result is bytes and the caller checks it is UTF-8.

/// Reads the `$'..'` string whose `$` is at `chars[start]`. Returns its bytes and the index
/// after the closing quote, or `None` when it is never closed.
pub(crate) fn read(chars: &[char], start: usize) -> Option<(Vec<u8>, usize)> {
    let mut r = Reader {
        chars,
        i: start.saturating_add(2),
    };
    let mut out = Vec::new();
    // bash drops the rest of the string after a NUL byte.
    let mut cut = false;
    loop {
        let c = r.next()?;
        // Room for a backslash and a 4-byte character.
        let mut buf = [0u8; 8];
        let piece: &[u8] = match c {
            '\'' => return Some((out, r.i)),
            '\\' => match r.escape()? {
                Escape::Byte(b) => {
                    buf[0] = b;
                    &buf[..1]
                }
                Escape::Char(ch) => ch.encode_utf8(&mut buf).as_bytes(),
                Escape::Literal(ch) => {
                    // bash keeps an unknown escape as written, backslash included.
                    buf[0] = b'\\';
                    let len = 1 + ch.encode_utf8(&mut buf[1..]).len();
                    &buf[..len]
                }
            },
            c => c.encode_utf8(&mut buf).as_bytes(),
        };
        cut |= piece.contains(&0);
        if !cut {
            out.extend_from_slice(piece);
        }
    }
}

enum Escape {
    Byte(u8),
    Char(char),
    Literal(char),
}

struct Reader<'a> {
    chars: &'a [char],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    /// The escape after a `\`; `None` at the end of the input.
    fn escape(&mut self) -> Option<Escape> {
        let c = self.next()?;
        let byte = Escape::Byte;
        Some(match c {
            'a' => byte(7),
            'b' => byte(8),
            'e' | 'E' => byte(0x1B),
            'f' => byte(0x0C),
            'n' => byte(b'\n'),
            'r' => byte(b'\r'),
            't' => byte(b'\t'),
            'v' => byte(0x0B),
            '\\' | '\'' | '"' | '?' => Escape::Char(c),
            '0'..='7' => {
                let first = c.to_digit(8).unwrap_or(0);
                let v = self.digits(8, 2, first);
                byte((v & 0xFF) as u8)
            }
            'x' => match self.peek().and_then(|d| d.to_digit(16)) {
                Some(_) => byte((self.digits(16, 2, 0) & 0xFF) as u8),
                None => Escape::Literal('x'),
            },
            'u' | 'U' => {
                let max = if c == 'u' { 4 } else { 8 };
                let start = self.i;
                let has_digit = self.peek().is_some_and(|d| d.is_ascii_hexdigit());
                match char::from_u32(self.digits(16, max, 0)) {
                    Some(ch) if has_digit => Escape::Char(ch),
                    // No digits, or not a Unicode scalar value: keep it as written.
                    _ => {
                        self.i = start;
                        Escape::Literal(c)
                    }
                }
            }
            'c' => match self.peek() {
                Some(k) if k.is_ascii() => {
                    self.i += 1;
                    byte((k as u8) & 0x1F)
                }
                _ => Escape::Literal('c'),
            },
            other => Escape::Literal(other),
        })
    }

    /// Up to `max` more digits in `radix`, continuing from `value`.
    fn digits(&mut self, radix: u32, max: usize, mut value: u32) -> u32 {
        for _ in 0..max {
            let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) else {
                break;
            };
            value = value.wrapping_mul(radix).wrapping_add(d);
            self.i += 1;
        }
        value
    }
}
