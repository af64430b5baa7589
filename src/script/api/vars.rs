//! Channel data and logging: `get_var`, `set_var`, `call_info`, `log`.

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};

use super::options::error;
use super::{context, map_of, variables_map, CallContext};
use crate::call::{Command, LogLevel, Origin, Outcome, Pattern};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn check_name(verb: &str, name: &str, nctx: &NativeCallContext) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(error(
            format!("{verb}: `{name}` is not a variable name (letters, digits, _ and -)"),
            nctx.call_position(),
        ));
    }
    Ok(())
}

/// Read a channel variable; `()` when unset. In `on_hangup` it reads the last known value.
///
/// ```rhai
/// let account = get_var("account_id");
/// if account == () { account = "unknown"; }
/// ```
pub fn get_var(ctx: &CallContext, nctx: &NativeCallContext, name: &str) -> Result<Dynamic> {
    check_name("get_var", name, nctx)?;
    match ctx.run(nctx, Command::GetVar(name.to_string()))? {
        Outcome::Value(Some(value)) => Ok(Dynamic::from(value)),
        _ => Ok(Dynamic::UNIT),
    }
}

/// Set a channel variable (any value is stored as text). An empty value unsets it, as
/// FreeSWITCH's `set` does.
///
/// ```rhai
/// set_var("language", "fr");
/// ```
pub fn set_var(ctx: &CallContext, nctx: &NativeCallContext, name: &str, value: Dynamic) -> Result<()> {
    check_name("set_var", name, nctx)?;
    let value = value.to_string();
    if value.contains(['\n', '\r']) {
        return Err(error(format!("set_var: the value of `{name}` must be one line"), nctx.call_position()));
    }
    ctx.run(nctx, Command::SetVar { name: name.to_string(), value }).map(drop)
}

/// The call's data as a map: `uuid`, `caller_id`, `caller_name`, `destination`, `context`,
/// `route` and `variables` (channel variables plus the route's variables).
///
/// ```rhai
/// let call = call_info();
/// log("info", `call from ${call.caller_id} to ${call.destination}`);
/// ```
pub fn call_info(ctx: &CallContext) -> rhai::Map {
    let info = ctx.info();
    map_of([
        ("uuid", Dynamic::from(info.uuid)),
        ("caller_id", Dynamic::from(info.caller_id_number)),
        ("caller_name", Dynamic::from(info.caller_id_name)),
        ("destination", Dynamic::from(info.destination)),
        ("context", Dynamic::from(info.context)),
        ("route", Dynamic::from(info.route.unwrap_or_default())),
        ("variables", Dynamic::from(variables_map(&info.variables))),
    ])
}

/// Write a line to the call's log: `log(msg)` at info, or `log(level, msg)` with level `error`,
/// `warn`, `info`, `debug` or `trace`.
///
/// ```rhai
/// log("warn", "caller failed PIN check");
/// ```
pub fn log(ctx: &CallContext, nctx: &NativeCallContext, level: &str, message: &str) -> Result<()> {
    let pos = nctx.call_position();
    let Some(level) = LogLevel::parse(level) else {
        return Err(error(format!("log: unknown level `{level}` (error, warn, info, debug, trace)"), pos));
    };
    let origin = Origin {
        source: nctx.call_source().unwrap_or("").to_string(),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
        within: None,
    };
    ctx.write_log(level, message, Some(origin));
    Ok(())
}

/// Whether `text` matches the regular expression `pattern` (linear-time regex syntax).
///
/// ```rhai
/// if matches(account, "^[0-9]{8}$") { say("Thank you"); }
/// ```
pub fn matches(nctx: &NativeCallContext, text: &str, pattern: &str) -> Result<bool> {
    let regex = Pattern::new(pattern).map_err(|e| {
        error(format!("matches: `{pattern}` is not a valid pattern: {e}"), nctx.call_position())
    })?;
    Ok(regex.is_match(text))
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("matches")
        .set_into_module(module, |nctx: NativeCallContext, text: &str, pattern: &str| {
            matches(&nctx, text, pattern)
        });
    FuncRegistration::new("get_var").set_into_module(module, |nctx: NativeCallContext, name: &str| {
        get_var(&*context(&nctx)?, &nctx, name)
    });
    FuncRegistration::new("set_var")
        .set_into_module(module, |nctx: NativeCallContext, name: &str, value: Dynamic| {
            set_var(&*context(&nctx)?, &nctx, name, value)
        });
    FuncRegistration::new("call_info").set_into_module(module, |n: NativeCallContext| -> Result<rhai::Map> {
        Ok(call_info(&*context(&n)?))
    });
    FuncRegistration::new("log").set_into_module(module, |nctx: NativeCallContext, message: Dynamic| {
        log(&*context(&nctx)?, &nctx, "info", &message.to_string())
    });
    FuncRegistration::new("log").set_into_module(
        module,
        |nctx: NativeCallContext, level: &str, message: Dynamic| {
            log(&*context(&nctx)?, &nctx, level, &message.to_string())
        },
    );
}
