//! Base64 handling for key text and salts, lenient on input and wiping what it decodes.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use zeroize::Zeroizing;

// Keys get pasted from many tools; whether they pad or pick the URL-safe alphabet
// says nothing about the key, so accept both rather than fail on a formality.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes standard or URL-safe base64, padded or not. `None` if it is neither.
///
/// The output buffer is sized up front and wiped on every path, so no partial
/// copy of a key is left behind when decoding fails half way.
pub(crate) fn decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let capacity = text.len() / 4 * 3 + 3;
    for engine in [&STANDARD_LENIENT, &URL_SAFE_LENIENT] {
        let mut out = Zeroizing::new(vec![0u8; capacity]);
        if let Ok(len) = engine.decode_slice(text, &mut out[..]) {
            out.truncate(len);
            return Some(out);
        }
    }
    None
}

/// Appends the standard padded base64 of `bytes` to `out`, going through a wiped
/// buffer rather than the encoder's own stack chunk.
pub(crate) fn encode_into(bytes: &[u8; 32], out: &mut String) {
    let mut buf = Zeroizing::new([0u8; 44]);
    match STANDARD.encode_slice(bytes, &mut buf[..]) {
        Ok(len) => out.extend(buf[..len].iter().copied().map(char::from)),
        // 44 bytes always fit 32 encoded bytes; this arm only keeps the function total.
        Err(_) => STANDARD.encode_string(bytes, out),
    }
}

/// Standard padded base64 for non-secret values such as salts.
pub(crate) fn encode_plain(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_alphabets_with_or_without_padding() {
        let bytes = [0xfbu8, 0xff, 0xfe, 0x01];
        for text in ["+//+AQ==", "+//+AQ", "-__-AQ==", "-__-AQ"] {
            let decoded = decode(text).map(|d| d.to_vec());
            assert_eq!(decoded.as_deref(), Some(&bytes[..]), "{text}");
        }
    }

    #[test]
    fn rejects_mixed_alphabets_and_junk() {
        assert!(decode("+__+AQ==").is_none());
        assert!(decode("not base64!").is_none());
    }

    #[test]
    fn encode_into_matches_the_standard_engine() {
        let key = [7u8; 32];
        let mut out = String::from("id:");
        encode_into(&key, &mut out);
        assert_eq!(out, format!("id:{}", STANDARD.encode(key)));
    }
}
