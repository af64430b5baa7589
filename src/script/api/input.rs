//! Input verbs: `ask`, one prompt-and-collect operation on the switch (never one operation per
//! digit: that is how Adhearsion 2 dropped digits under load).

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::{error, prompts, Options};
use super::{context, map_of, CallContext};
use crate::call::{AskOptions, Command, DtmfKeys, Outcome, Pattern, Prompt};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) const ASK_OPTIONS: &[&str] = &[
    "max_digits",
    "min_digits",
    "timeout",
    "inter_digit_timeout",
    "terminator",
    "tries",
    "invalid",
    "regex",
    "sensitive",
];

/// Play `prompt` (a string, an array of prompts, or `()` for none) and collect DTMF digits.
/// Keys pressed during the prompt interrupt it.
///
/// Options (all optional; times in milliseconds):
/// - `max_digits` (1): collection stops at this many digits;
/// - `min_digits` (1): fewer digits is a `nomatch`;
/// - `timeout` (5000): wait for the first digit after the prompt;
/// - `inter_digit_timeout` (3000): wait between digits;
/// - `terminator` (`"#"`): keys that end input early (`""` for none);
/// - `tries` (1): prompts before giving up;
/// - `invalid`: prompt played after a wrong or missing answer, before the next try;
/// - `regex`: the digits must match it;
/// - `sensitive` (false): the digits are personal data (a PIN, an account number): a call trace
///   keeps only how many were pressed and when, never the digits.
///
/// Returns `#{status, digits, terminator}` with status `"match"`, `"nomatch"` or `"noinput"`.
/// A hangup stops the script instead (and runs `on_hangup`).
///
/// ```rhai
/// let pin = ask("ivr/enter-pin.wav", #{min_digits: 4, max_digits: 4, tries: 3,
///                                     invalid: "ivr/invalid-pin.wav"});
/// if pin.status == "match" { say_digits(pin.digits); }
/// ```
pub fn ask(
    ctx: &CallContext,
    nctx: &NativeCallContext,
    prompt: Dynamic,
    options: Dynamic,
) -> Result<rhai::Map> {
    let pos = nctx.call_position();
    let prompts = prompts("ask", prompt, pos)?;
    let mut opts = Options::new("ask", options, ASK_OPTIONS, pos)?;
    let defaults = AskOptions::default();
    let max_digits = opts.count("max_digits", 1..=128)?.unwrap_or(defaults.max_digits);
    let min_digits = opts.count("min_digits", 0..=128)?.unwrap_or(defaults.min_digits.min(max_digits));
    if min_digits > max_digits {
        return Err(error(
            format!("ask: min_digits ({min_digits}) is more than max_digits ({max_digits})"),
            pos,
        ));
    }
    let terminators = match opts.string("terminator")? {
        Some(keys) => DtmfKeys::parse(&keys)
            .map_err(|e| error(format!("ask: option `terminator`: {e}; use keys such as \"#\""), pos))?,
        None => defaults.terminators,
    };
    let regex = match opts.string("regex")? {
        Some(pattern) => Some(
            Pattern::new(&pattern)
                .map_err(|e| error(format!("ask: option `regex` is not a valid pattern: {e}"), pos))?,
        ),
        None => None,
    };
    let invalid_prompt = match opts.value("invalid") {
        None => None,
        Some(value) if value.is_string() => Some(Prompt::parse(&value.to_string())),
        Some(value) => {
            return Err(error(
                format!("ask: option `invalid` must be a prompt string, not {}", value.type_name()),
                pos,
            ))
        }
    };
    let options = AskOptions {
        prompts,
        min_digits,
        max_digits,
        timeout: opts.millis("timeout")?.unwrap_or(defaults.timeout),
        inter_digit_timeout: opts.millis("inter_digit_timeout")?.unwrap_or(defaults.inter_digit_timeout),
        terminators,
        tries: opts.count("tries", 1..=20)?.unwrap_or(defaults.tries),
        invalid_prompt,
        regex,
        sensitive: opts.flag("sensitive")?.unwrap_or(false),
    };
    match ctx.run(nctx, Command::Ask(options))? {
        Outcome::Ask(outcome) => Ok(map_of([
            ("status", Dynamic::from(outcome.status.as_str())),
            ("digits", Dynamic::from(outcome.digits)),
            ("terminator", Dynamic::from(outcome.terminator.map(String::from).unwrap_or_default())),
        ])),
        other => Err(error(format!("ask: the switch answered with {other:?}"), pos)),
    }
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("ask").set_into_module(module, |nctx: NativeCallContext, prompt: Dynamic| {
        ask(&*context(&nctx)?, &nctx, prompt, Dynamic::UNIT)
    });
    FuncRegistration::new("ask").set_into_module(
        module,
        |nctx: NativeCallContext, prompt: Dynamic, options: Dynamic| {
            ask(&*context(&nctx)?, &nctx, prompt, options)
        },
    );
}
