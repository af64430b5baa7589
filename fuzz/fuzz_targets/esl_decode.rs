//! Arbitrary bytes into the ESL frame decoder (whole, byte by byte and in input-derived
//! chunks, with default and tiny limits), the plain and JSON event parsers and the percent
//! decoder. The checks live in `rivr::switch::freeswitch::fuzz::fuzz_decode` so the property
//! tests run them too.
//!
//! Run on stable: `cargo fuzz run esl_decode --sanitizer none -- -runs=10000000`
//! (seed corpus: `python3 fuzz/make-seeds.py` cuts the captures into `fuzz/corpus/esl_decode/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rivr::switch::freeswitch::fuzz::fuzz_decode(data);
});
