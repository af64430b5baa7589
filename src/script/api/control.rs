//! Call control verbs: `answer`, `pre_answer`, `ring`, `reject`, `hangup`, `transfer`, `sleep`,
//! `send_dtmf`, `execute`, and script composition with `pass` and `invoke`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::error;
use super::{context, CallContext, Stop};
use crate::call::{fiber, Command, DtmfTones, HangupCause, Outcome, TransferOptions};
use crate::config::Limits;
use crate::script::engine::MAX_INVOKE_DEPTH;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn cause(verb: &str, text: &str, nctx: &NativeCallContext) -> Result<HangupCause> {
    HangupCause::parse(text).ok_or_else(|| {
        error(
            format!(
                "{verb}: unknown hangup cause `{text}`; use a Q.850 name such as NORMAL_CLEARING, \
                 USER_BUSY or CALL_REJECTED, or one of: normal, busy, rejected, unavailable, no_answer, not_found"
            ),
            nctx.call_position(),
        )
    })
}

/// Answer the call.
///
/// ```rhai
/// answer();
/// ```
pub fn answer(ctx: &CallContext, nctx: &NativeCallContext) -> Result<()> {
    ctx.run(nctx, Command::Answer).map(drop)
}

/// Open early media: the caller hears prompts before the call is answered (and billed).
///
/// ```rhai
/// pre_answer();
/// play("ivr/please-hold.wav");
/// ```
pub fn pre_answer(ctx: &CallContext, nctx: &NativeCallContext) -> Result<()> {
    ctx.run(nctx, Command::PreAnswer).map(drop)
}

/// Tell the caller's phone it is ringing.
///
/// ```rhai
/// ring();
/// ```
pub fn ring(ctx: &CallContext, nctx: &NativeCallContext) -> Result<()> {
    ctx.run(nctx, Command::Ring).map(drop)
}

/// Refuse an unanswered call: `reject()` (CALL_REJECTED) or `reject(cause)` with a Q.850 name or
/// one of `normal`, `busy`, `rejected`, `unavailable`, `no_answer`, `not_found`.
///
/// ```rhai
/// if call_info().caller_id == "" { reject("rejected"); }
/// ```
pub fn reject(ctx: &CallContext, nctx: &NativeCallContext, why: &str) -> Result<()> {
    let cause = cause("reject", why, nctx)?;
    ctx.run(nctx, Command::Reject(cause)).map(drop)
}

/// End the call: `hangup()` (NORMAL_CLEARING) or `hangup(cause)`. The script goes on running
/// afterwards, but a media verb then stops it; `on_hangup` runs when the script is done.
///
/// ```rhai
/// say("Goodbye");
/// hangup();
/// ```
pub fn hangup(ctx: &CallContext, nctx: &NativeCallContext, why: &str) -> Result<()> {
    let cause = cause("hangup", why, nctx)?;
    ctx.run(nctx, Command::Hangup(cause)).map(drop)
}

/// Hand the call back to the switch's dialplan at `extension` (in `context`, or the call's own).
/// The call is no longer the script's afterwards.
///
/// ```rhai
/// transfer("1000");
/// transfer("operator", "internal");
/// ```
pub fn transfer(
    ctx: &CallContext,
    nctx: &NativeCallContext,
    extension: &str,
    context: Option<&str>,
) -> Result<()> {
    if extension.trim().is_empty() || extension.contains(char::is_whitespace) {
        return Err(error(
            format!("transfer: `{extension}` is not an extension (no spaces, not empty)"),
            nctx.call_position(),
        ));
    }
    let options = TransferOptions { extension: extension.to_string(), context: context.map(str::to_string) };
    ctx.run(nctx, Command::Transfer(options)).map(drop)
}

/// Keep the call up for `ms` milliseconds.
///
/// ```rhai
/// sleep(500);
/// ```
pub fn sleep(ctx: &CallContext, nctx: &NativeCallContext, ms: i64) -> Result<()> {
    if !(0..=3_600_000).contains(&ms) {
        return Err(error(format!("sleep: {ms} ms is out of range (0 to 3600000)"), nctx.call_position()));
    }
    ctx.run(nctx, Command::Sleep(Duration::from_millis(ms as u64))).map(drop)
}

/// Send DTMF digits (`0-9*#A-D`, `w` for a 500 ms pause) towards the caller.
///
/// ```rhai
/// send_dtmf("1234#");
/// ```
pub fn send_dtmf(ctx: &CallContext, nctx: &NativeCallContext, digits: &str) -> Result<()> {
    let tones =
        DtmfTones::parse(digits).map_err(|e| error(format!("send_dtmf: {e}"), nctx.call_position()))?;
    ctx.run(nctx, Command::SendDtmf(tones)).map(drop)
}

/// Run any switch application, the escape hatch: `execute(app)` or `execute(app, args)`.
/// Returns the switch's response text.
///
/// ```rhai
/// execute("set", "hangup_after_bridge=true");
/// let response = execute("info");
/// ```
pub fn execute(ctx: &CallContext, nctx: &NativeCallContext, app: &str, args: &str) -> Result<String> {
    if app.is_empty() || !app.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(error(format!("execute: `{app}` is not an application name"), nctx.call_position()));
    }
    match ctx.run(nctx, Command::Execute { app: app.to_string(), args: args.to_string() })? {
        Outcome::Response(text) => Ok(text),
        _ => Ok(String::new()),
    }
}

/// Continue the call in another script; this one stops here (Adhearsion's `pass`).
///
/// ```rhai
/// if call_info().destination == "2000" { pass("support.rhai"); }
/// ```
pub fn pass(ctx: &CallContext, nctx: &NativeCallContext, name: &str) -> Result<()> {
    lookup(ctx, name, "pass", nctx)?;
    ctx.hand_to("pass", nctx.call_source().unwrap_or_default(), name, nctx.call_position())?;
    *fiber::lock(&ctx.pass_to) = Some(name.to_string());
    Err(Stop::Pass.error(nctx.call_position()))
}

/// Run another script on this call and come back with its result (Adhearsion's `invoke`).
/// Invocations nest at most `MAX_INVOKE_DEPTH` deep.
///
/// ```rhai
/// let verified = invoke("verify_pin.rhai");
/// if verified { say("Welcome back"); }
/// ```
pub fn invoke(ctx: &Arc<CallContext>, nctx: &NativeCallContext, name: &str) -> Result<Dynamic> {
    let script = lookup(ctx, name, "invoke", nctx)?;
    ctx.hand_to("invoke", nctx.call_source().unwrap_or_default(), name, nctx.call_position())?;
    // The invoked script gets only the call depth its caller has left: Rhai counts levels per
    // evaluation, and the native stack must hold them all (engine::STACK_SIZE).
    let left = ctx.settings.limits.max_call_depth.saturating_sub(nctx.call_level() + 1);
    let depth = ctx.invoke_depth.fetch_add(1, Ordering::AcqRel);
    let result = if depth >= MAX_INVOKE_DEPTH || left < 2 {
        Err(error(
            format!(
                "invoke: `{name}` nests too deep ({} invokes, {left} call levels left); use pass instead",
                depth + 1
            ),
            nctx.call_position(),
        ))
    } else {
        let limits = Limits { max_call_depth: left, ..ctx.settings.limits.clone() };
        let mut engine = crate::script::engine::sandboxed(&limits);
        super::install(&mut engine, ctx);
        crate::script::stdlib::register_globals(&mut engine);
        engine.eval_ast::<Dynamic>(&script.ast)
    };
    ctx.invoke_depth.fetch_sub(1, Ordering::AcqRel);
    result
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("answer")
        .set_into_module(module, |n: NativeCallContext| answer(&*context(&n)?, &n));
    FuncRegistration::new("pre_answer")
        .set_into_module(module, |n: NativeCallContext| pre_answer(&*context(&n)?, &n));
    FuncRegistration::new("ring").set_into_module(module, |n: NativeCallContext| ring(&*context(&n)?, &n));
    FuncRegistration::new("reject")
        .set_into_module(module, |n: NativeCallContext| reject(&*context(&n)?, &n, "CALL_REJECTED"));
    FuncRegistration::new("reject")
        .set_into_module(module, |n: NativeCallContext, why: &str| reject(&*context(&n)?, &n, why));
    FuncRegistration::new("hangup")
        .set_into_module(module, |n: NativeCallContext| hangup(&*context(&n)?, &n, "NORMAL_CLEARING"));
    FuncRegistration::new("hangup")
        .set_into_module(module, |n: NativeCallContext, why: &str| hangup(&*context(&n)?, &n, why));
    FuncRegistration::new("transfer")
        .set_into_module(module, |n: NativeCallContext, ext: &str| transfer(&*context(&n)?, &n, ext, None));
    FuncRegistration::new("transfer").set_into_module(
        module,
        |n: NativeCallContext, ext: &str, dialplan_context: &str| {
            transfer(&*context(&n)?, &n, ext, Some(dialplan_context))
        },
    );
    FuncRegistration::new("sleep")
        .set_into_module(module, |n: NativeCallContext, ms: i64| sleep(&*context(&n)?, &n, ms));
    FuncRegistration::new("send_dtmf")
        .set_into_module(module, |n: NativeCallContext, digits: &str| send_dtmf(&*context(&n)?, &n, digits));
    FuncRegistration::new("execute")
        .set_into_module(module, |n: NativeCallContext, app: &str| execute(&*context(&n)?, &n, app, ""));
    FuncRegistration::new("execute")
        .set_into_module(module, |n: NativeCallContext, app: &str, args: &str| {
            execute(&*context(&n)?, &n, app, args)
        });
    FuncRegistration::new("pass")
        .set_into_module(module, |n: NativeCallContext, name: &str| pass(&*context(&n)?, &n, name));
    FuncRegistration::new("invoke")
        .set_into_module(module, |n: NativeCallContext, name: &str| invoke(&context(&n)?, &n, name));
}

fn lookup(
    ctx: &CallContext,
    name: &str,
    verb: &str,
    nctx: &NativeCallContext,
) -> Result<Arc<crate::script::Script>> {
    let found = ctx.scripts.as_ref().and_then(|scripts| scripts.script(name));
    found.ok_or_else(|| {
        error(
            format!("{verb}: no script `{name}` in the scripts directory (or it does not compile)"),
            nctx.call_position(),
        )
    })
}
