//! `record`: record the caller.

use std::sync::atomic::Ordering;

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::{error, Options};
use super::{context, map_of, millis, CallContext};
use crate::call::{Command, DtmfKeys, Outcome, RecordOptions};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) const RECORD_OPTIONS: &[&str] =
    &["max_duration", "silence_timeout", "silence_threshold", "beep", "terminator", "name"];

/// Record the caller until they press the terminator, fall silent, or reach the maximum length.
///
/// Options (times in ms): `max_duration` (60000), `silence_timeout` (5000),
/// `silence_threshold` (energy, 200), `beep` (true), `terminator` (`"#"`), `name` (file name
/// without extension, relative to the recordings directory; default `<call uuid>-<n>`).
///
/// Returns `#{status, path, duration, terminator}` with status `"recorded"` or `"empty"`.
///
/// ```rhai
/// let message = record(#{max_duration: 120000, silence_timeout: 3000});
/// if message.status == "recorded" { play(message.path); }
/// ```
pub fn record(ctx: &CallContext, nctx: &NativeCallContext, options: Dynamic) -> Result<rhai::Map> {
    let pos = nctx.call_position();
    let mut opts = Options::new("record", options, RECORD_OPTIONS, pos)?;
    let name = match opts.string("name")? {
        Some(name) => {
            let safe = !name.is_empty()
                && !name.starts_with('/')
                && !name.split('/').any(|part| part.is_empty() || part == "." || part == "..")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !safe {
                return Err(error(
                    format!("record: name `{name}` must be a relative file name of letters, digits, -, _, . and /"),
                    pos,
                ));
            }
            name
        }
        None => {
            let n = ctx.recordings.fetch_add(1, Ordering::Relaxed) + 1;
            format!("{}-{n}", ctx.info().uuid)
        }
    };
    let defaults = RecordOptions::default();
    let terminators = match opts.string("terminator")? {
        Some(keys) => DtmfKeys::parse(&keys)
            .map_err(|e| error(format!("record: option `terminator`: {e}; use keys such as \"#\""), pos))?,
        None => defaults.terminators,
    };
    let options = RecordOptions {
        name,
        max_duration: opts.millis("max_duration")?.unwrap_or(defaults.max_duration),
        silence_timeout: opts.millis("silence_timeout")?.unwrap_or(defaults.silence_timeout),
        silence_threshold: opts.count("silence_threshold", 0..=10_000)?.unwrap_or(defaults.silence_threshold),
        beep: opts.flag("beep")?.unwrap_or(defaults.beep),
        terminators,
    };
    match ctx.run(nctx, Command::Record(options))? {
        Outcome::Record(outcome) => Ok(map_of([
            ("status", Dynamic::from(outcome.status.as_str())),
            ("path", Dynamic::from(outcome.path)),
            ("duration", millis(outcome.duration)),
            ("terminator", Dynamic::from(outcome.terminator.map(String::from).unwrap_or_default())),
        ])),
        other => Err(error(format!("record: the switch answered with {other:?}"), pos)),
    }
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("record")
        .set_into_module(module, |nctx: NativeCallContext| record(&*context(&nctx)?, &nctx, Dynamic::UNIT));
    FuncRegistration::new("record").set_into_module(module, |nctx: NativeCallContext, options: Dynamic| {
        record(&*context(&nctx)?, &nctx, options)
    });
}
