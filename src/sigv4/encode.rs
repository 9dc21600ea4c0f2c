//! Percent-encoding as SigV4 wants it (RFC 3986, uppercase hex), and the lenient decoding used
//! to turn a wire query string back into names and values.

/// Whether `b` is an RFC 3986 unreserved character, the only bytes SigV4 leaves as they are.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Encodes every byte except the unreserved ones (and `/` when `keep_slash`), so a space
/// becomes `%20` (never `+`) and `%` becomes `%25`.
#[must_use]
pub fn percent_encode(input: &[u8], keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Decodes `%XX` escapes; anything else, including `+` and a malformed `%`, stays literal so
/// that re-encoding it is lossless.
#[must_use]
pub fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&c| hex_value(c)),
                bytes.get(i + 2).and_then(|&c| hex_value(c)),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_are_left_alone() {
        assert_eq!(percent_encode(b"AZaz09-_.~", false), "AZaz09-_.~");
    }

    #[test]
    fn reserved_characters_space_and_utf8_are_encoded_in_uppercase_hex() {
        assert_eq!(
            percent_encode("a b+c=/$ሴ".as_bytes(), false),
            "a%20b%2Bc%3D%2F%24%E1%88%B4"
        );
    }

    #[test]
    fn slashes_survive_only_when_asked() {
        assert_eq!(percent_encode(b"/a/b", true), "/a/b");
        assert_eq!(percent_encode(b"/a/b", false), "%2Fa%2Fb");
    }

    #[test]
    fn a_percent_sign_is_encoded_again() {
        assert_eq!(percent_encode(b"%3D", true), "%253D");
    }

    #[test]
    fn decoding_reverses_escapes_in_either_case_and_keeps_plus_and_bad_escapes() {
        assert_eq!(percent_decode("%e1%88%B4"), "ሴ".as_bytes());
        assert_eq!(percent_decode("a+b%2"), b"a+b%2");
        assert_eq!(percent_decode("%zz%"), b"%zz%");
    }
}
