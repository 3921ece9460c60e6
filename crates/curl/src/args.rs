//! Walks curl's arguments with curl's own rules (short clusters, attached values, `--`),
//! collecting what the supported options ask for and which unsupported options were given.

use crate::build::Draft;
use crate::options::{self, Opt};
use crate::shell::Word;
use crate::values;
use crate::CurlError;
use std::collections::HashSet;

#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub draft: Draft,
    /// Unsupported options as written, in order, without repeats.
    pub unsupported: Vec<String>,
    seen: HashSet<String>,
}

impl Walked {
    fn note(&mut self, option: String) {
        if self.seen.insert(option.clone()) {
            self.unsupported.push(option);
        }
    }
}

/// The arguments after `curl`.
pub(crate) fn walk(words: &[Word]) -> Result<Walked, CurlError> {
    let mut out = Walked::default();
    let mut rest = words.iter();
    let mut options_ended = false;
    while let Some(word) = rest.next() {
        let text = word.text.as_str();
        // curl: a lone `-` is a URL, and `--` makes every later argument one.
        if options_ended || !text.starts_with('-') || text == "-" {
            out.draft.urls.push((text.to_owned(), word.pos));
        } else if text == "--" {
            options_ended = true;
        } else if let Some(name) = text.strip_prefix("--") {
            if name.contains('=') {
                return Err(CurlError::invalid(
                    word.pos,
                    format!(
                        "the option at position {} is written --option=value, which curl does \
                         not accept; write --option value",
                        word.pos
                    ),
                ));
            }
            let opt = options::long(name);
            let value = if opt.takes_arg() {
                Some(next_value(&mut rest, text, word.pos)?)
            } else {
                None
            };
            if let Opt::Unsupported { .. } = opt {
                out.note(text.to_owned());
            } else {
                apply(&mut out.draft, opt, text, value)?;
            }
        } else {
            cluster(&mut out, word, &mut rest)?;
        }
    }
    Ok(out)
}

/// `-sSL`, `-XPOST`, `-sX POST`: letters in turn; one that takes an argument takes the rest of
/// the word, or the next word when it is the last letter.
fn cluster<'a>(
    out: &mut Walked,
    word: &'a Word,
    rest: &mut impl Iterator<Item = &'a Word>,
) -> Result<(), CurlError> {
    let letters = word.text.get(1..).unwrap_or_default();
    let mut unsupported = String::from("-");
    for (at, letter) in letters.char_indices() {
        let opt = options::short(letter);
        let written = format!("-{letter}");
        let value = if opt.takes_arg() {
            let attached = letters.get(at + letter.len_utf8()..).unwrap_or_default();
            if attached.is_empty() {
                Some(next_value(rest, &written, word.pos)?)
            } else {
                Some(Value {
                    text: attached,
                    pos: word.pos,
                })
            }
        } else {
            None
        };
        if let Opt::Unsupported { .. } = opt {
            unsupported.push(letter);
        } else {
            apply(&mut out.draft, opt, &written, value)?;
        }
        if opt.takes_arg() {
            break;
        }
    }
    if unsupported.len() > 1 {
        out.note(unsupported);
    }
    Ok(())
}

struct Value<'a> {
    text: &'a str,
    pos: usize,
}

fn next_value<'a>(
    rest: &mut impl Iterator<Item = &'a Word>,
    opt: &str,
    pos: usize,
) -> Result<Value<'a>, CurlError> {
    let word = rest.next().ok_or_else(|| {
        CurlError::invalid(
            pos,
            format!("{opt} at position {pos} needs a value, but the command ends there"),
        )
    })?;
    Ok(Value {
        text: &word.text,
        pos: word.pos,
    })
}

fn apply(
    draft: &mut Draft,
    opt: Opt,
    written: &str,
    value: Option<Value<'_>>,
) -> Result<(), CurlError> {
    let Some(Value { text, pos }) = value else {
        if opt == Opt::Get {
            draft.get = true;
        }
        return Ok(());
    };
    match opt {
        Opt::Url => draft.urls.push((text.to_owned(), pos)),
        Opt::Request => draft.method = Some(values::method(text, written, pos)?),
        Opt::Header => {
            let line = values::header(text, written, pos)?;
            draft.headers.push((line, pos));
        }
        Opt::User => draft.user = Some((values::basic(text, written, pos)?, written.to_owned())),
        Opt::Data
        | Opt::DataAscii
        | Opt::DataRaw
        | Opt::DataBinary
        | Opt::DataUrlencode
        | Opt::Json => {
            let piece = values::data(opt, text, written, pos)?;
            let json = opt == Opt::Json;
            let data = draft.data.get_or_insert_with(String::new);
            // curl joins data with `&`, except that --json pieces are concatenated.
            if !data.is_empty() && !json {
                data.push('&');
            }
            data.push_str(&piece);
            draft.json |= json;
        }
        Opt::Get | Opt::Unsupported { .. } => {}
    }
    Ok(())
}
