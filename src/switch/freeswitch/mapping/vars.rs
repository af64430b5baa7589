//! Channel variables on FreeSWITCH: `get_var` and `set_var`.
//!
//! `set_var` is `set <name>=<value>`. `get_var` is `api uuid_getvar <uuid> <name>` on a `full`
//! socket, which tells unset (`_undef_`) from empty and carries any value in a body; without
//! `full` control only the outbound `getvar <name>` command is allowed, whose `Reply-Text` is
//! empty for an unset variable and cannot hold a line break.

use super::{set, Expect, MapContext, Plan, Step};
use crate::call::{CallError, Outcome};
use crate::switch::freeswitch::protocol::{REPLY_ERR, REPLY_USAGE};

/// `get_var name`.
pub(super) fn get(name: &str, ctx: &MapContext<'_>) -> Result<Plan, CallError> {
    check_variable_name("get_var", name)?;
    let step = if ctx.full_control {
        Step::Api(format!("{API_UUID_GETVAR} {} {name}", ctx.uuid))
    } else {
        Step::GetVar(name.to_string())
    };
    Ok(Plan::single(step, Expect::Value))
}

/// `set_var name value`.
pub(super) fn set_var(name: &str, value: &str) -> Result<Plan, CallError> {
    check_variable_name("set_var", name)?;
    Ok(Plan::single(set(name, value), Expect::Done))
}

/// `get_var`'s outcome from the `api uuid_getvar` reply body (`_undef_` when unset) or the
/// `getvar` reply text (empty when unset; FreeSWITCH cannot hold an empty variable anyway:
/// setting one to "" unsets it).
pub(super) fn value_outcome(verb: &'static str, body: &str) -> Result<Outcome, CallError> {
    if body.starts_with(REPLY_ERR) || body.starts_with(REPLY_USAGE) {
        return Err(CallError::Switch { verb, reason: body.trim_end().to_string() });
    }
    if body == UNDEFINED_VALUE || body.is_empty() {
        return Ok(Outcome::Value(None));
    }
    Ok(Outcome::Value(Some(body.to_string())))
}

fn check_variable_name(verb: &'static str, name: &str) -> Result<(), CallError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(CallError::Invalid {
            verb,
            reason: format!("`{name}` is not a variable name (letters, digits, _ and -)"),
        });
    }
    Ok(())
}

/// `mod_commands`' `uuid_getvar <uuid> <name>`: the value as the body, `_undef_` when unset.
const API_UUID_GETVAR: &str = "uuid_getvar";
/// What `uuid_getvar` answers for an unset variable.
const UNDEFINED_VALUE: &str = "_undef_";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::test_support::{apps, plan_of, settings};
    use super::super::{Finished, Observed};
    use super::*;
    use crate::call::Command;

    #[test]
    fn set_var_and_get_var_match_the_capture() {
        // outbound-errors: `set fslab_var=hello world`, then `api uuid_getvar <uuid> fslab_var`.
        assert_eq!(
            apps(&plan_of(Command::SetVar { name: "fslab_var".into(), value: "hello world".into() })),
            ["set fslab_var=hello world"]
        );
        assert_eq!(
            apps(&plan_of(Command::GetVar("fslab_var".into()))),
            ["api uuid_getvar 54a68d40-0ec8-4658-b126-577f3a9d53de fslab_var"]
        );
    }

    #[test]
    fn bad_variable_names_fail() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        assert!(super::super::plan(&Command::GetVar("a b".into()), &ctx).is_err());
        assert!(super::super::plan(&Command::SetVar { name: "a=b".into(), value: "x".into() }, &ctx).is_err());
    }

    #[test]
    fn get_var_uses_getvar_without_full_control() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: false };
        let plan = super::super::plan(&Command::GetVar("fslab_var".into()), &ctx).expect("maps");
        assert_eq!(apps(&plan), ["getvar fslab_var"]);
    }

    #[test]
    fn getvar_replies_become_values() {
        let expect = Expect::Value;
        let observed = Observed::default();
        // outbound-errors: the `api uuid_getvar` body is `hello world`.
        assert_eq!(
            expect.outcome("get_var", Finished::Api("hello world"), &observed),
            Ok(Outcome::Value(Some("hello world".into())))
        );
        assert_eq!(expect.outcome("get_var", Finished::Api("_undef_"), &observed), Ok(Outcome::Value(None)));
        assert!(expect.outcome("get_var", Finished::Api("-ERR No such channel!\n"), &observed).is_err());
        // outbound-errors: `getvar fslab_var` → `Reply-Text: hello world`; unset is empty.
        assert_eq!(expect.outcome("get_var", Finished::Api(""), &observed), Ok(Outcome::Value(None)));
    }
}
