//! STS response bodies: the first byte picks the HTTP status, the rest is the body, fed to
//! every parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 400, 403, 404, 500, 502, 503, 200];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    // The client refuses a body that is not UTF-8 before parsing.
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    credvend::fuzzing::sts_xml(STATUSES[usize::from(pick % 8)], body);
});
