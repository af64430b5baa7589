//! `dial`: bridge the caller to one or more targets.

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::{error, Options};
use super::{context, map_of, millis, CallContext};
use crate::call::{Command, DialOptions, Outcome, Prompt};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) const DIAL_OPTIONS: &[&str] =
    &["timeout", "caller_id", "caller_name", "sequential", "confirm", "ringback"];

/// Bridge the caller to `to`: a dial string (`"user/1000"`) or an array of them, rung all at once
/// (or one after another with `sequential: true`). The caller's leg survives a failed dial.
///
/// Options: `timeout` (ms each attempt may ring, 30000), `caller_id`, `caller_name`,
/// `sequential` (false), `confirm` (a prompt the answering party must accept with 1),
/// `ringback` (what the caller hears meanwhile).
///
/// Returns `#{status, cause, duration, answered_by}` with status `"answered"`, `"busy"`,
/// `"no_answer"` or `"failed"`, the switch's Q.850 cause, and the talk time in ms.
///
/// ```rhai
/// let result = dial(["user/1001", "user/1002"], #{timeout: 20000, caller_id: "5551234"});
/// if result.status != "answered" { play("ivr/nobody-available.wav"); }
/// ```
pub fn dial(ctx: &CallContext, nctx: &NativeCallContext, to: Dynamic, options: Dynamic) -> Result<rhai::Map> {
    let pos = nctx.call_position();
    let targets: Vec<String> = if to.is_string() {
        vec![to.to_string()]
    } else if to.is_array() {
        to.cast::<rhai::Array>().into_iter().map(|t| t.to_string()).collect()
    } else {
        return Err(error(
            format!("dial: the target must be a dial string or an array of them, not {}", to.type_name()),
            pos,
        ));
    };
    if targets.is_empty() {
        return Err(error("dial: no target to dial".into(), pos));
    }
    for target in &targets {
        if target.trim().is_empty() || target.contains([',', '|', '\n', '\r']) {
            return Err(error(
                format!("dial: `{target}` is not a single dial string; pass several targets as an array"),
                pos,
            ));
        }
    }
    let mut opts = Options::new("dial", options, DIAL_OPTIONS, pos)?;
    let defaults = DialOptions::default();
    let options = DialOptions {
        targets,
        sequential: opts.flag("sequential")?.unwrap_or(false),
        timeout: opts.millis("timeout")?.unwrap_or(defaults.timeout),
        caller_id_number: opts.string("caller_id")?,
        caller_id_name: opts.string("caller_name")?,
        confirm: opts.string("confirm")?.as_deref().map(Prompt::parse),
        ringback: opts.string("ringback")?,
    };
    match ctx.run(nctx, Command::Dial(options))? {
        Outcome::Dial(outcome) => Ok(map_of([
            ("status", Dynamic::from(outcome.status.as_str())),
            ("cause", Dynamic::from(outcome.cause.to_string())),
            ("duration", millis(outcome.duration)),
            ("answered_by", Dynamic::from(outcome.answered_by.unwrap_or_default())),
        ])),
        other => Err(error(format!("dial: the switch answered with {other:?}"), pos)),
    }
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("dial").set_into_module(module, |nctx: NativeCallContext, to: Dynamic| {
        dial(&*context(&nctx)?, &nctx, to, Dynamic::UNIT)
    });
    FuncRegistration::new("dial")
        .set_into_module(module, |nctx: NativeCallContext, to: Dynamic, options: Dynamic| {
            dial(&*context(&nctx)?, &nctx, to, options)
        });
}
