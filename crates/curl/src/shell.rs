//! Splits a pasted command into words as a POSIX shell would, without expanding anything.
//!
//! Handles what API docs and web pages paste: single and double quotes, `$'..'` and `$".."`,
//! backslash escapes and continuations (also before CRLF), typographic quotes and non-breaking
//! spaces, a leading `$ ` prompt and `#` comments. Shell operators end the import with an error,
//! since what follows them is not part of the curl command.

use crate::ansi_c;
use crate::CurlError;

/// One shell word and the character offset where it starts in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub pos: usize,
}

#[derive(Debug)]
pub(crate) struct Split {
    pub words: Vec<Word>,
    /// Where the first `$NAME`, `${..}` or `$(..)` outside single quotes is, if any.
    pub variable_at: Option<usize>,
}

pub(crate) fn split(input: &str) -> Result<Split, CurlError> {
    let mut lexer = Lexer {
        chars: input.chars().collect(),
        i: 0,
        cur: Vec::new(),
        start: None,
        words: Vec::new(),
        variable_at: None,
    };
    lexer.skip_prompt();
    lexer.run()?;
    Ok(Split {
        words: lexer.words,
        variable_at: lexer.variable_at,
    })
}

const DOUBLE: [char; 3] = ['"', '\u{201C}', '\u{201D}'];
const SINGLE: [char; 3] = ['\'', '\u{2018}', '\u{2019}'];

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{A0}')
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    // Bytes, not chars: `$'\xc3\xa9'` builds one character from two escapes.
    cur: Vec<u8>,
    start: Option<usize>,
    words: Vec<Word>,
    variable_at: Option<usize>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i.saturating_add(ahead)).copied()
    }

    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.cur
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn begin(&mut self) {
        self.start.get_or_insert(self.i);
    }

    fn end_word(&mut self) -> Result<(), CurlError> {
        if let Some(pos) = self.start.take() {
            let text = String::from_utf8(std::mem::take(&mut self.cur)).map_err(|_| {
                CurlError::invalid(
                    pos,
                    format!(
                        "the argument at position {pos} is not valid UTF-8 after its $'..' escapes"
                    ),
                )
            })?;
            self.words.push(Word { text, pos });
        }
        Ok(())
    }

    fn skip_prompt(&mut self) {
        while self.peek(0).is_some_and(is_blank) {
            self.i += 1;
        }
        if self.peek(0) == Some('$') && self.peek(1).is_some_and(|c| c == ' ' || c == '\t') {
            self.i += 1;
        }
    }

    fn note_variable(&mut self) {
        let next = self.peek(1);
        if self.variable_at.is_none()
            && next.is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '{' | '('))
        {
            self.variable_at = Some(self.i);
        }
    }

    fn run(&mut self) -> Result<(), CurlError> {
        while let Some(c) = self.peek(0) {
            match c {
                c if is_blank(c) => {
                    self.end_word()?;
                    self.i += 1;
                }
                '#' if self.start.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                '|' | ';' | '&' | '<' | '>' | '(' | ')' => {
                    return Err(CurlError::invalid(
                        self.i,
                        format!(
                            "the command continues with a shell operator at position {}; \
                             paste only the curl command, and quote arguments containing {c}",
                            self.i
                        ),
                    ))
                }
                '\\' => self.backslash(),
                c if SINGLE.contains(&c) => self.single_quoted(c)?,
                c if DOUBLE.contains(&c) => {
                    self.begin();
                    self.double_quoted(c)?;
                }
                '$' if self.peek(1) == Some('\'') => self.ansi_c()?,
                '$' if self.peek(1) == Some('"') => {
                    self.begin();
                    self.i += 1;
                    self.double_quoted('"')?;
                }
                '$' => {
                    self.note_variable();
                    self.begin();
                    self.push('$');
                    self.i += 1;
                }
                c => {
                    self.begin();
                    self.push(c);
                    self.i += 1;
                }
            }
        }
        self.end_word()
    }

    /// Length of a line continuation at `i + ahead` (newline or CRLF), if there is one.
    fn newline_at(&self, ahead: usize) -> Option<usize> {
        match (self.peek(ahead), self.peek(ahead.saturating_add(1))) {
            (Some('\n'), _) => Some(1),
            (Some('\r'), Some('\n')) => Some(2),
            _ => None,
        }
    }

    fn backslash(&mut self) {
        if let Some(n) = self.newline_at(1) {
            self.i += 1 + n;
            return;
        }
        // `\` followed by trailing blanks and a newline is a continuation broken by copying; a
        // shell would end the command there, which is never what the paste meant.
        let mut k = 1;
        while self.peek(k).is_some_and(|c| c == ' ' || c == '\t') {
            k += 1;
        }
        if k > 1 {
            if let Some(n) = self.newline_at(k) {
                self.i += k + n;
                return;
            }
        }
        self.begin();
        match self.peek(1) {
            Some(c) => {
                self.push(c);
                self.i += 2;
            }
            None => {
                self.push('\\');
                self.i += 1;
            }
        }
    }

    fn unbalanced(&self, open: usize, what: &str) -> CurlError {
        CurlError::invalid(
            open,
            format!("the {what} opened at position {open} is never closed"),
        )
    }

    // A straight quote closes only at the same straight quote; a typographic one at any quote of
    // its kind, since pages that curl quotes do not always pair them.
    fn closes(open: char, c: char, kind: &[char; 3]) -> bool {
        if open == kind[0] {
            c == open
        } else {
            kind.contains(&c)
        }
    }

    fn single_quoted(&mut self, open: char) -> Result<(), CurlError> {
        let at = self.i;
        self.begin();
        self.i += 1;
        loop {
            let c = self
                .peek(0)
                .ok_or_else(|| self.unbalanced(at, "single quote"))?;
            self.i += 1;
            if Self::closes(open, c, &SINGLE) {
                return Ok(());
            }
            self.push(c);
        }
    }

    fn double_quoted(&mut self, open: char) -> Result<(), CurlError> {
        let at = self.i;
        self.i += 1;
        loop {
            let c = self
                .peek(0)
                .ok_or_else(|| self.unbalanced(at, "double quote"))?;
            if Self::closes(open, c, &DOUBLE) {
                self.i += 1;
                return Ok(());
            }
            match c {
                '\\' => {
                    if let Some(n) = self.newline_at(1) {
                        self.i += 1 + n;
                        continue;
                    }
                    match self.peek(1) {
                        Some(e) if matches!(e, '$' | '`' | '\\') || DOUBLE.contains(&e) => {
                            self.push(e);
                            self.i += 2;
                        }
                        _ => {
                            self.push('\\');
                            self.i += 1;
                        }
                    }
                }
                '$' => {
                    self.note_variable();
                    self.push('$');
                    self.i += 1;
                }
                c => {
                    self.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn ansi_c(&mut self) -> Result<(), CurlError> {
        self.begin();
        let (bytes, next) = ansi_c::read(&self.chars, self.i)
            .ok_or_else(|| self.unbalanced(self.i, "$'..' quote"))?;
        self.cur.extend_from_slice(&bytes);
        self.i = next;
        Ok(())
    }
}
