//! What the flow analyses know about each verb: whether it needs the call's media, whether it
//! ends the call or the script, what its result is, which argument is its option map (and
//! where the keys it takes are listed), which arguments and options are prompts, and which
//! options are times in milliseconds with the least a person would plausibly mean.
//!
//! The option keys are not repeated here: the API's verbs publish theirs
//! ([`crate::script::api::option_keys`]) and the stdlib's `menu` and `collect` list theirs in
//! their own source (`menu_option_names()`, `collect_option_names()`), read from there.

use std::collections::HashMap;
use std::sync::OnceLock;

use rhai::{FnCallExpr, Stmt};

use super::syntax::{self, Function, Parsed};

/// What running a verb does to the call and the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Needs the call's media: once the call has ended, it stops the script instead of running.
    Media,
    /// Ends the call (`hangup`, `reject`, `transfer`): verbs that need media never run after it.
    EndsCall,
    /// Hands the call to another script (`pass`): nothing after it runs.
    Leaves,
    /// Runs without the call's media (`http_get`, `invoke`).
    Other,
}

/// What a verb returns that a flow should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to check.
    None,
    /// Caller input: `#{status}` with `match`, `nomatch` or `noinput` (`ask`, `menu`, `collect`).
    Input,
    /// A dial: `#{status}` with `answered`, `busy`, `no_answer` or `failed`.
    Dial,
}

/// Which argument a graph node shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shows {
    Nothing,
    /// A prompt or a list of prompts.
    Prompt(usize),
    /// Text to speech.
    Speech(usize),
    /// A dial target or a list of them.
    Targets(usize),
    /// A value as written (an extension, a URL, a number).
    Value(usize),
    /// A script name (`pass`, `invoke`).
    Script(usize),
}

/// Where the keys of a verb's option map are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// In the verb API (`script::api::option_keys`).
    Api(&'static str),
    /// Returned by a function of a stdlib module.
    Stdlib { module: &'static str, function: &'static str },
}

/// One verb.
#[derive(Debug)]
pub struct Verb {
    /// Its name as a script calls it (without a module alias).
    pub name: &'static str,
    pub effect: Effect,
    pub outcome: Outcome,
    pub shows: Shows,
    /// Which argument is the option map, and where its keys are listed.
    pub options: Option<(usize, Keys)>,
    /// Options whose value is a prompt.
    pub prompt_options: &'static [&'static str],
    /// Options that are times in milliseconds, with the least a person plausibly means.
    pub time_options: &'static [(&'static str, i64)],
    /// A positional argument that is a time in milliseconds, with its plausible least.
    pub time_argument: Option<(usize, i64)>,
}

impl Verb {
    const fn new(name: &'static str, effect: Effect, shows: Shows) -> Verb {
        Verb {
            name,
            effect,
            outcome: Outcome::None,
            shows,
            options: None,
            prompt_options: &[],
            time_options: &[],
            time_argument: None,
        }
    }

    /// The keys its option map takes.
    pub fn option_keys(&self) -> Option<Vec<String>> {
        match self.options?.1 {
            Keys::Api(verb) => {
                crate::script::api::option_keys(verb).map(|keys| keys.iter().map(|k| k.to_string()).collect())
            }
            Keys::Stdlib { module, function } => stdlib_list(module, function),
        }
    }
}

/// Waiting for a key: less than a second to start and half a second between keys is no time to
/// press anything.
const INPUT_TIMES: &[(&str, i64)] = &[("timeout", 1000), ("inter_digit_timeout", 500)];

use Effect::{EndsCall, Leaves, Media, Other};

const ANSWER: Verb = Verb::new("answer", Media, Shows::Nothing);
const PRE_ANSWER: Verb = Verb::new("pre_answer", Media, Shows::Nothing);
const RING: Verb = Verb::new("ring", Media, Shows::Nothing);
const REJECT: Verb = Verb::new("reject", EndsCall, Shows::Value(0));
const HANGUP: Verb = Verb::new("hangup", EndsCall, Shows::Value(0));
const TRANSFER: Verb = Verb::new("transfer", EndsCall, Shows::Value(0));
const PLAY: Verb = Verb::new("play", Media, Shows::Prompt(0));
const SAY: Verb = Verb { options: Some((1, Keys::Api("say"))), ..Verb::new("say", Media, Shows::Speech(0)) };
const SAY_NUMBER: Verb = Verb::new("say_number", Media, Shows::Value(0));
const SAY_DIGITS: Verb = Verb::new("say_digits", Media, Shows::Value(0));
const SAY_TIME: Verb = Verb::new("say_time", Media, Shows::Value(0));
const SAY_MONEY: Verb = Verb::new("say_money", Media, Shows::Value(0));
const ASK: Verb = Verb {
    outcome: Outcome::Input,
    options: Some((1, Keys::Api("ask"))),
    prompt_options: &["invalid"],
    time_options: INPUT_TIMES,
    ..Verb::new("ask", Media, Shows::Prompt(0))
};
const MENU: Verb = Verb {
    outcome: Outcome::Input,
    options: Some((2, Keys::Stdlib { module: "menu", function: "menu_option_names" })),
    prompt_options: &["invalid", "timeout_prompt"],
    time_options: INPUT_TIMES,
    ..Verb::new("menu", Media, Shows::Prompt(0))
};
const COLLECT_DIGITS: Verb = Verb {
    outcome: Outcome::Input,
    options: Some((1, Keys::Stdlib { module: "collect", function: "collect_option_names" })),
    prompt_options: &["invalid", "timeout_prompt", "confirm_prompt", "accept_prompt"],
    time_options: INPUT_TIMES,
    ..Verb::new("digits", Media, Shows::Prompt(0))
};
const COLLECT_PIN: Verb = Verb { name: "pin", ..COLLECT_DIGITS };
/// Anything shorter than a second does not ring a phone.
const DIAL: Verb = Verb {
    outcome: Outcome::Dial,
    options: Some((1, Keys::Api("dial"))),
    prompt_options: &["confirm"],
    time_options: &[("timeout", 1000)],
    ..Verb::new("dial", Media, Shows::Targets(0))
};
const RECORD: Verb = Verb {
    options: Some((0, Keys::Api("record"))),
    time_options: &[("max_duration", 1000), ("silence_timeout", 500)],
    ..Verb::new("record", Media, Shows::Nothing)
};
const PASS: Verb = Verb::new("pass", Leaves, Shows::Script(0));
const INVOKE: Verb = Verb::new("invoke", Other, Shows::Script(0));
const SEND_DTMF: Verb = Verb::new("send_dtmf", Media, Shows::Value(0));
const SLEEP: Verb = Verb { time_argument: Some((0, 100)), ..Verb::new("sleep", Media, Shows::Value(0)) };
const EXECUTE: Verb = Verb::new("execute", Media, Shows::Value(0));
/// A web service answering in under 100 ms is not a timeout anyone means.
const HTTP_GET: Verb = Verb {
    options: Some((1, Keys::Api("http_get"))),
    time_options: &[("timeout", 100)],
    ..Verb::new("http_get", Other, Shows::Value(0))
};
const HTTP_POST: Verb = Verb {
    options: Some((2, Keys::Api("http_post"))),
    time_options: &[("timeout", 100)],
    ..Verb::new("http_post", Other, Shows::Value(0))
};
/// An event for other systems (`publish("survey.completed", …)`): the graph shows its type.
const PUBLISH: Verb = Verb::new("publish", Other, Shows::Value(0));
/// Any function of `rivr/say`: speech.
const SAY_MODULE: Verb = Verb::new("say", Media, Shows::Nothing);

/// The verbs a script calls without a module.
const GLOBAL: &[&Verb] = &[
    &ANSWER,
    &PRE_ANSWER,
    &RING,
    &REJECT,
    &HANGUP,
    &TRANSFER,
    &PLAY,
    &SAY,
    &SAY_NUMBER,
    &SAY_DIGITS,
    &SAY_TIME,
    &SAY_MONEY,
    &ASK,
    &MENU,
    &DIAL,
    &RECORD,
    &PASS,
    &INVOKE,
    &PUBLISH,
    &SEND_DTMF,
    &SLEEP,
    &EXECUTE,
    &HTTP_GET,
    &HTTP_POST,
];

/// What a call calls.
pub enum Callee<'p> {
    /// A verb, with the name as written (`collect::digits`).
    Verb(&'static Verb, String),
    /// A function of the script.
    Function(&'p Function),
    /// A function of a module that is not a verb (`hours::status`, `h::greet`).
    Module { module: String, name: String },
    /// Anything else (`log`, `get_var`, an operator).
    Other,
}

/// What `call` calls in `parsed`.
pub fn callee<'p>(parsed: &'p Parsed, call: &FnCallExpr) -> Callee<'p> {
    let name = call.name.as_str();
    if call.op_token.is_some() {
        return Callee::Other;
    }
    if call.namespace.is_empty() {
        // A script's own function comes before a verb of the same name, as when Rhai runs it.
        if let Some(function) = parsed.function(name, call.args.len()) {
            return Callee::Function(function);
        }
        return match GLOBAL.iter().find(|verb| verb.name == name) {
            Some(verb) => Callee::Verb(verb, name.to_string()),
            None => Callee::Other,
        };
    }
    let alias = call.namespace.root();
    let Some(module) = parsed.module(alias) else {
        return Callee::Other;
    };
    let shown = format!("{alias}::{name}");
    let verb = match (module, name) {
        ("rivr/menu", "menu") => Some(&MENU),
        ("rivr/collect", "digits") => Some(&COLLECT_DIGITS),
        ("rivr/collect", "pin") => Some(&COLLECT_PIN),
        ("rivr/say", _) => Some(&SAY_MODULE),
        _ => None,
    };
    match verb {
        Some(verb) => Callee::Verb(verb, shown),
        None => Callee::Module { module: module.to_string(), name: name.to_string() },
    }
}

/// The verb a statement calls at its top, if it is a verb call statement.
pub fn verb_statement(parsed: &Parsed, stmt: &Stmt) -> Option<(&'static Verb, String)> {
    let (call, _) = syntax::call_statement(stmt)?;
    match callee(parsed, call) {
        Callee::Verb(verb, name) => Some((verb, name)),
        _ => None,
    }
}

/// Whether a function always ends the call or leaves the script: one of its own statements
/// is `hangup`, `reject`, `transfer` or `pass`, with no `return` before it (a helper such as
/// `fn to_agent() { say(…); transfer("operator"); }`). Its caller does not go on after it.
pub fn always_ends(parsed: &Parsed, function: &Function) -> bool {
    for stmt in &function.body {
        if verb_statement(parsed, stmt)
            .is_some_and(|(verb, _)| matches!(verb.effect, Effect::EndsCall | Effect::Leaves))
        {
            return true;
        }
        let mut returns = false;
        syntax::visit_stmt(stmt, &mut |child| {
            returns |= matches!(child, syntax::Child::Stmt(Stmt::Return(_, flags, _)) if !flags.contains(rhai::ASTFlags::BREAK));
        });
        if returns {
            return false;
        }
    }
    false
}

/// The list of strings a stdlib function returns (`menu_option_names()`), read from its source.
fn stdlib_list(module: &str, function: &str) -> Option<Vec<String>> {
    static LISTS: OnceLock<HashMap<(String, String), Vec<String>>> = OnceLock::new();
    let lists = LISTS.get_or_init(|| {
        let mut lists = HashMap::new();
        for (module, function) in [("menu", "menu_option_names"), ("collect", "collect_option_names")] {
            let Some(text) = crate::script::stdlib::source(module) else { continue };
            let Ok(parsed) = syntax::parse(module, &text) else { continue };
            let Some(Stmt::Expr(expr)) = parsed.function(function, 0).and_then(|f| f.body.last()) else {
                continue;
            };
            if let rhai::Expr::Array(items, _) = &**expr {
                let keys = items.iter().filter_map(syntax::string).map(str::to_string).collect();
                lists.insert((module.to_string(), function.to_string()), keys);
            }
        }
        lists
    });
    lists.get(&(module.to_string(), function.to_string())).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_and_collect_option_keys_are_read_from_the_stdlib_source() {
        let menu = MENU.option_keys().expect("menu keys");
        assert!(menu.contains(&"on_failure".to_string()) && menu.contains(&"tries".to_string()), "{menu:?}");
        let collect = COLLECT_DIGITS.option_keys().expect("collect keys");
        assert!(
            collect.contains(&"luhn".to_string()) && collect.contains(&"confirm".to_string()),
            "{collect:?}"
        );
    }

    #[test]
    fn every_verb_with_options_finds_its_keys_and_its_time_and_prompt_options_are_among_them() {
        for verb in GLOBAL.iter().copied().chain([&COLLECT_DIGITS, &COLLECT_PIN]) {
            if verb.options.is_none() {
                assert!(verb.time_options.is_empty() && verb.prompt_options.is_empty(), "{}", verb.name);
                continue;
            }
            let keys = verb.option_keys().unwrap_or_else(|| panic!("{} has no keys", verb.name));
            for (key, _) in verb.time_options {
                assert!(keys.iter().any(|k| k == key), "{}: {key} is not an option", verb.name);
            }
            for key in verb.prompt_options {
                assert!(keys.iter().any(|k| k == key), "{}: {key} is not an option", verb.name);
            }
        }
    }

    #[test]
    fn a_scripts_own_function_comes_before_a_verb_and_aliases_resolve_to_stdlib_verbs() {
        let parsed = syntax::parse(
            "t.rhai",
            "import \"rivr/collect\" as c;\nfn say(x) { x }\nsay(\"a\");\nc::pin(\"p\");\nplay(\"x\");",
        )
        .expect("parses");
        let names: Vec<String> = parsed.body[1..]
            .iter()
            .map(|stmt| match syntax::call_statement(stmt).map(|(call, _)| callee(&parsed, call)) {
                Some(Callee::Verb(_, name)) => format!("verb {name}"),
                Some(Callee::Function(f)) => format!("fn {}", f.name),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(names, ["fn say", "verb c::pin", "verb play"]);
    }
}
