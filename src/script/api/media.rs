//! Output verbs: `play`, `say` and the `say_*` family.

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::{error, prompts, Options};
use super::{context, CallContext};
use crate::call::{Command, SayAs, SayKind, SayOptions};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) const SAY_OPTIONS: &[&str] = &["voice", "engine"];

/// Play a prompt or a list of prompts: sound files (relative to the switch's sound prefix),
/// `tone_stream://…`, `silence_stream://…`, URLs, or `say:<text>` for speech.
///
/// ```rhai
/// play("ivr/welcome.wav");
/// play(["ivr/you-have.wav", "digits/3.wav", "ivr/messages.wav"]);
/// ```
pub fn play(ctx: &CallContext, nctx: &NativeCallContext, what: Dynamic) -> Result<()> {
    let list = prompts("play", what, nctx.call_position())?;
    if list.is_empty() || list.iter().any(|p| p.text().trim().is_empty()) {
        return Err(error("play: nothing to play (empty prompt)".into(), nctx.call_position()));
    }
    ctx.run(nctx, Command::Play(list)).map(drop)
}

/// Say a whole number (an integer or a string of one): `say_number(42)` → "forty-two".
///
/// ```rhai
/// say_number(42);
/// ```
pub fn say_number(ctx: &CallContext, nctx: &NativeCallContext, value: Dynamic) -> Result<()> {
    let text = whole_number("say_number", &value, nctx)?;
    say_as(ctx, nctx, SayKind::Number, text)
}

/// Say digits one by one: `say_digits("1234")` → "one two three four".
///
/// ```rhai
/// say_digits("1234");
/// ```
pub fn say_digits(ctx: &CallContext, nctx: &NativeCallContext, value: Dynamic) -> Result<()> {
    let text =
        if value.is_int() { value.to_string() } else { value.clone().into_string().unwrap_or_default() };
    if text.is_empty() || !text.chars().all(|k| k.is_ascii_digit() || k == '*' || k == '#') {
        return Err(error(format!("say_digits: `{value}` is not a string of digits"), nctx.call_position()));
    }
    say_as(ctx, nctx, SayKind::Digits, text)
}

/// Say a time: seconds since the Unix epoch, or `"HH:MM"` / `"HH:MM:SS"`.
///
/// ```rhai
/// say_time("14:30");
/// ```
pub fn say_time(ctx: &CallContext, nctx: &NativeCallContext, value: Dynamic) -> Result<()> {
    let text = time("say_time", &value, nctx)?;
    say_as(ctx, nctx, SayKind::Time, text)
}

/// Say an amount of money (integer, float or numeric string), e.g. `say_money(12.5)` →
/// "twelve dollars and fifty cents".
///
/// ```rhai
/// say_money(1234.56);
/// ```
pub fn say_money(ctx: &CallContext, nctx: &NativeCallContext, value: Dynamic) -> Result<()> {
    let text = money("say_money", &value, nctx)?;
    say_as(ctx, nctx, SayKind::Money, text)
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("play")
        .set_into_module(module, |n: NativeCallContext, what: Dynamic| play(&*context(&n)?, &n, what));
    FuncRegistration::new("say").set_into_module(module, |n: NativeCallContext, text: &str| {
        say(&*context(&n)?, &n, text, Dynamic::UNIT)
    });
    FuncRegistration::new("say")
        .set_into_module(module, |n: NativeCallContext, text: &str, options: Dynamic| {
            say(&*context(&n)?, &n, text, options)
        });
    FuncRegistration::new("say_number").set_into_module(module, |n: NativeCallContext, value: Dynamic| {
        say_number(&*context(&n)?, &n, value)
    });
    FuncRegistration::new("say_digits").set_into_module(module, |n: NativeCallContext, value: Dynamic| {
        say_digits(&*context(&n)?, &n, value)
    });
    FuncRegistration::new("say_time")
        .set_into_module(module, |n: NativeCallContext, value: Dynamic| say_time(&*context(&n)?, &n, value));
    FuncRegistration::new("say_money")
        .set_into_module(module, |n: NativeCallContext, value: Dynamic| say_money(&*context(&n)?, &n, value));
}

/// Speak text with text to speech; `#{voice, engine}` override the configured defaults.
///
/// ```rhai
/// say("Welcome to Acme");
/// say("Bienvenue", #{voice: "fr"});
/// ```
pub fn say(ctx: &CallContext, nctx: &NativeCallContext, text: &str, options: Dynamic) -> Result<()> {
    let mut options = Options::new("say", options, SAY_OPTIONS, nctx.call_position())?;
    let voice = options.string("voice")?;
    let engine = options.string("engine")?;
    if text.trim().is_empty() {
        return Err(error("say: nothing to say (empty text)".into(), nctx.call_position()));
    }
    ctx.run(nctx, Command::Say(SayOptions { text: text.to_string(), voice, engine })).map(drop)
}

fn say_as(ctx: &CallContext, nctx: &NativeCallContext, kind: SayKind, value: String) -> Result<()> {
    let language = ctx.settings.language.clone();
    ctx.run(nctx, Command::SayAs(SayAs { kind, value, language })).map(drop)
}

fn whole_number(verb: &str, value: &Dynamic, nctx: &NativeCallContext) -> Result<String> {
    if let Ok(n) = value.as_int() {
        return Ok(n.to_string());
    }
    if let Some(text) = value.clone().into_string().ok().filter(|t| t.trim().parse::<i64>().is_ok()) {
        return Ok(text.trim().to_string());
    }
    Err(error(format!("{verb}: `{value}` is not a whole number"), nctx.call_position()))
}

fn money(verb: &str, value: &Dynamic, nctx: &NativeCallContext) -> Result<String> {
    let amount = if let Ok(n) = value.as_int() {
        Some(n as f64)
    } else if let Ok(x) = value.as_float() {
        Some(x)
    } else {
        value.clone().into_string().ok().and_then(|t| t.trim().parse::<f64>().ok())
    };
    match amount {
        Some(x) if x.is_finite() && x.abs() < 1e12 => Ok(format!("{x:.2}")),
        _ => Err(error(format!("{verb}: `{value}` is not an amount of money"), nctx.call_position())),
    }
}

fn time(verb: &str, value: &Dynamic, nctx: &NativeCallContext) -> Result<String> {
    if let Ok(seconds) = value.as_int() {
        if seconds >= 0 {
            return Ok(seconds.to_string());
        }
    }
    if let Ok(text) = value.clone().into_string() {
        let parts: Vec<&str> = text.split(':').collect();
        let valid = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit()))
            && parts[0] < "24"
            && parts[1..].iter().all(|p| *p < "60");
        if valid {
            return Ok(text);
        }
    }
    Err(error(
        format!("{verb}: `{value}` is not a time (seconds since 1970, or \"HH:MM\" / \"HH:MM:SS\")"),
        nctx.call_position(),
    ))
}
