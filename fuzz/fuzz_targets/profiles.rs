//! `~/.aws` files: the first byte picks the file kind (config, credentials, or both with the
//! two texts split at the first NUL), the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The daemon reads the files with read_to_string: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode % 3 {
        0 => credvend::fuzzing::profiles(Some(text), None),
        1 => credvend::fuzzing::profiles(None, Some(text)),
        _ => {
            let (config, credentials) = text.split_once('\0').unwrap_or((text, ""));
            credvend::fuzzing::profiles(Some(config), Some(credentials));
        }
    }
});
