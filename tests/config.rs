//! Whole configuration files from `tests/fixtures/config/`: defaults, a full file, each kind of
//! error at its exact `line:column`, several errors in one report, `${ENV}` and redaction.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use rivr::call::CallInfo;
use rivr::config::{Config, ConfigError, Diagnostic, DiagnosticKind, Fallback, LogFormat, Severity};
use rivr::router::Router;

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config").join(name)
}

fn fixture(name: &str) -> String {
    fs::read_to_string(fixture_path(name)).unwrap()
}

/// The environment the fixtures are parsed with.
fn test_env(name: &str) -> Option<String> {
    let env: HashMap<&str, &str> =
        [("FS1_PASSWORD", "s3cret-fs1"), ("CRM_TOKEN", "tok-123")].into_iter().collect();
    env.get(name).map(|v| v.to_string())
}

/// Parses a fixture by name (so diagnostics name the fixture, not a full path).
fn parse(name: &str) -> Result<Config, ConfigError> {
    Config::parse_with_env(&fixture(name), name, &test_env)
}

/// Copies a fixture into a fresh directory with a `scripts/` directory holding `scripts`, and
/// loads it from there (parse and filesystem checks).
fn load_with_scripts(name: &str, scripts: &[&str]) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let scripts_dir = dir.path().join("scripts");
    fs::create_dir(&scripts_dir).unwrap();
    for script in scripts {
        let path = scripts_dir.join(script);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "fn main() {}\n").unwrap();
    }
    let config = dir.path().join("rivr.yaml");
    fs::write(&config, fixture(name)).unwrap();
    let result = Config::load(&config);
    (dir, result)
}

/// The one diagnostic of a failed parse.
fn only_diagnostic(result: Result<Config, ConfigError>) -> Diagnostic {
    let err = result.unwrap_err();
    let diagnostics = err.diagnostics();
    assert_eq!(diagnostics.len(), 1, "expected one diagnostic, got:\n{err}");
    diagnostics[0].clone()
}

/// `(line, column, kind)` of every diagnostic, in order.
fn positions(err: &ConfigError) -> Vec<(usize, usize, DiagnosticKind)> {
    err.diagnostics().iter().map(|d| (d.line, d.column, d.kind)).collect()
}

#[test]
fn no_file_means_the_default_configuration_which_is_valid() {
    let config = Config::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8084");
    assert_eq!(config.default_script(), Some("main.rhai"));
    let router = Router::new(&config);
    let call = CallInfo::new("u", "100", "200");
    assert_eq!(router.route(&call).unwrap().script(), "main.rhai");
}

#[test]
fn the_default_configuration_warns_only_when_main_rhai_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    fs::create_dir(empty.path().join("scripts")).unwrap();
    fs::write(empty.path().join("rivr.yaml"), "").unwrap();
    let config = Config::load(empty.path().join("rivr.yaml")).unwrap();
    let diagnostics = config.check();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].severity, Severity::Warning);
    assert_eq!(diagnostics[0].kind, DiagnosticKind::MissingScript);
    fs::write(empty.path().join("scripts/main.rhai"), "fn main() {}\n").unwrap();
    assert!(config.check().is_empty());
}

#[test]
fn a_full_file_sets_every_key() {
    let c = parse("full.yaml").unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:9084");

    assert_eq!(c.freeswitch.len(), 2);
    assert_eq!(c.freeswitch[0].name(), "primary");
    assert_eq!(c.freeswitch[0].host.as_str(), "fs1.example.net");
    assert_eq!(c.freeswitch[0].port, 8022);
    assert_eq!(c.freeswitch[0].password.expose(), "s3cret-fs1");
    assert_eq!(c.freeswitch[1].name(), "fs2.example.net:8021");
    assert_eq!(c.freeswitch[1].password.expose(), "ClueCon");

    assert_eq!(c.scripts.as_path(), Path::new("flows"));
    assert_eq!(c.routes.len(), 2);
    let support = &c.routes[0];
    assert_eq!(support.name.as_str(), "support");
    assert_eq!(support.destination.as_ref().unwrap().to_string(), "1000");
    assert!(support.caller_name.as_ref().unwrap().matches("ACME Corp"));
    assert_eq!(support.script.as_str(), "support.rhai");
    assert_eq!(&*support.set["token"], "tok-123");
    assert_eq!(support.limits.compute_budget_ms, Some(2000));
    let freephone = &c.routes[1];
    assert_eq!(freephone.destination.as_ref().unwrap().to_string(), "[0800*, 0808]");
    assert!(freephone.enabled);
    assert_eq!(c.default_route.as_deref().map(String::as_str), Some("welcome.rhai"));
    assert_eq!(c.no_route.cause.as_str(), "UNALLOCATED_NUMBER");
    assert_eq!(c.limits.max_operations, 2_000_000);
    assert_eq!(c.limits.compute_budget_ms, 250);
    assert_eq!(c.max_calls.get(), 500);
    assert_eq!(c.busy_cause.as_str(), "USER_BUSY");
    assert_eq!(c.max_call_duration_s.get(), 3600);
    assert_eq!(c.drain_timeout_s, 0);
    assert_eq!((c.tts.engine.as_str(), c.tts.voice.as_str()), ("polly", "Joanna"));
    assert_eq!(c.sounds.prefix.as_deref(), Some("/opt/sounds"));
    assert_eq!(c.sounds.language, "de");
    assert!(c.http.allows("https://crm.example.com/api/x"));
    assert_eq!(c.http.timeout_ms.get(), 1500);
    assert_eq!(c.http.max_response_bytes.get(), 65536);
    assert_eq!(
        *c.fallback,
        Fallback::Transfer { extension: "operator".into(), context: Some("internal".into()) }
    );
    assert_eq!(c.recordings.as_deref(), Some(Path::new("/var/spool/rivr")));
    assert_eq!(c.log.level, "rivr=debug,info");
    assert_eq!(c.log.format, LogFormat::Json);
    assert!(c.check().iter().all(|d| d.kind == DiagnosticKind::MissingDirectory));
}

#[test]
fn a_full_file_routes_calls() {
    let router = Router::new(&parse("full.yaml").unwrap());
    let unnamed = router.route(&CallInfo::new("u", "1", "1000")).unwrap();
    assert_eq!(unnamed.name(), "default_route", "support also needs the caller name");
    let mut call = CallInfo::new("u", "1", "1000");
    call.caller_id_name = "Acme Ltd".into();
    let m = router.route(&call).unwrap();
    assert_eq!(m.name(), "support");
    assert_eq!(m.limits().compute_budget_ms, 2000);
    assert_eq!(m.limits().max_operations, 1_000_000);
    assert_eq!(m.limits().max_call_depth, 32);

    let mut call = CallInfo::new("u", "1", "0808");
    call.context = "public".into();
    call.variables.insert("sip_h_X-Tenant".into(), "acme".into());
    let m = router.route(&call).unwrap();
    assert_eq!(m.name(), "freephone");
    assert_eq!(m.script_path(), Path::new("flows/sales/freephone.rhai"));
    assert_eq!(m.limits().compute_budget_ms, 250);

    let m = router.route(&CallInfo::new("u", "1", "5")).unwrap();
    assert_eq!(m.to_string(), "route default_route (welcome.rhai)");
}

#[test]
fn the_commented_example_parses_and_only_lacks_its_scripts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rivr.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let config = Config::parse_with_env(&text, "examples/rivr.yaml", &|_| None).unwrap();
    assert_eq!(config.routes.len(), 5);
    assert_eq!(config.freeswitch[0].password.expose(), "ClueCon");
    assert_eq!(config.scripts.as_path(), Path::new("examples/../scripts"));
    assert!(config
        .check()
        .iter()
        .all(|d| matches!(d.kind, DiagnosticKind::MissingScript | DiagnosticKind::MissingDirectory)));
    let router = Router::new(&config);
    let mut call = CallInfo::new("u", "+4930123", "08001234");
    assert_eq!(router.route(&call).unwrap().name(), "freephone");
    call.caller_id_number = "+4420".into();
    assert_eq!(router.route(&call).unwrap().name(), "default_route");
}

#[test]
fn a_syntax_error_is_reported_where_the_parser_stops_with_a_hint() {
    // The `[` on line 4 is never closed, so the parser reads line 5 as part of the list and
    // stops at its `:`.
    let d = only_diagnostic(parse("syntax_error.yaml"));
    assert_eq!(d.kind, DiagnosticKind::Syntax);
    assert_eq!((d.line, d.column), (5, 11));
    assert_eq!(
        d.to_string(),
        "syntax_error.yaml:5:11: illegal placement of ':' indicator: check the indentation, \
         quotes and brackets here and on the lines above"
    );
}

#[test]
fn a_misspelt_key_is_reported_with_a_suggestion() {
    let d = only_diagnostic(parse("unknown_key.yaml"));
    assert_eq!((d.line, d.column, d.kind), (3, 5, DiagnosticKind::UnknownKey));
    assert!(d.message.starts_with("unknown key `destinaton`: did you mean `destination`?"), "{d}");
    assert!(d.to_string().starts_with("unknown_key.yaml:3:5: unknown key"), "{d}");
}

#[test]
fn a_wrong_type_points_at_the_value() {
    let d = only_diagnostic(parse("wrong_type.yaml"));
    assert_eq!((d.line, d.column, d.kind), (3, 11, DiagnosticKind::InvalidValue));
    assert_eq!(d.message, "this value is not a valid whole number (0 or more)");
}

#[test]
fn a_duplicate_key_points_at_the_second_one() {
    let d = only_diagnostic(parse("duplicate_key.yaml"));
    assert_eq!((d.line, d.column, d.kind), (4, 5, DiagnosticKind::DuplicateKey));
    assert!(d.message.contains("`script` appears twice"), "{d}");
}

#[test]
fn a_bad_regex_points_at_the_pattern_and_says_why() {
    let d = only_diagnostic(parse("bad_regex.yaml"));
    assert_eq!((d.line, d.column, d.kind), (3, 18, DiagnosticKind::BadPattern));
    assert!(
        d.to_string().starts_with(
            "bad_regex.yaml:3:18: regex `/^1[0-9{3}$/` does not compile: unclosed character class"
        ),
        "{d}"
    );
}

#[test]
fn an_unset_environment_variable_is_named_at_its_position() {
    let d = only_diagnostic(parse("unset_env.yaml"));
    assert_eq!((d.line, d.column, d.kind), (3, 15, DiagnosticKind::UnsetEnv));
    assert!(d.message.starts_with("environment variable `RIVR_TEST_UNSET_PASSWORD` is not set"), "{d}");
}

#[test]
fn missing_scripts_are_all_reported_at_their_script_keys() {
    let (_dir, result) = load_with_scripts("missing_script.yaml", &[]);
    let err = result.unwrap_err();
    assert_eq!(
        positions(&err),
        [(4, 13, DiagnosticKind::MissingScript), (7, 13, DiagnosticKind::MissingScript)]
    );
    assert!(err.diagnostics()[0].message.starts_with("script `support.rhai` does not exist in"));
    let (_dir, result) = load_with_scripts("missing_script.yaml", &["support.rhai", "sales.rhai"]);
    assert!(result.is_ok());
}

#[test]
fn a_missing_scripts_directory_is_one_error_not_one_per_route() {
    // A directory that does not exist: relative to the working directory, `scripts` would be
    // the crate's own example scripts.
    let config = Config::parse_with_env(
        &fixture("missing_script.yaml"),
        "/nonexistent-rivr-test/rivr.yaml",
        &test_env,
    )
    .unwrap();
    let diagnostics = config.check();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].kind, DiagnosticKind::MissingDirectory);
    assert!(!diagnostics[0].position().is_known());
}

#[test]
fn duplicate_route_names_point_at_the_second_and_name_the_first() {
    let d = only_diagnostic(parse("duplicate_routes.yaml"));
    assert_eq!((d.line, d.column, d.kind), (5, 11, DiagnosticKind::DuplicateName));
    assert!(d.message.contains("`support` is already defined (line 2)"), "{d}");
}

#[test]
fn one_load_reports_every_problem_in_file_order() {
    let (_dir, result) = load_with_scripts("many_errors.yaml", &["support.rhai"]);
    let err = result.unwrap_err();
    assert_eq!(
        positions(&err),
        [
            (3, 15, DiagnosticKind::UnsetEnv),
            (6, 18, DiagnosticKind::BadPattern),
            (8, 11, DiagnosticKind::DuplicateName),
            (9, 22, DiagnosticKind::BadPattern),
            (10, 13, DiagnosticKind::MissingScript),
            (13, 7, DiagnosticKind::BadUrl),
        ],
        "{err}"
    );
    assert_eq!(err.to_string().lines().count(), 6);
}

#[test]
fn a_route_after_a_catch_all_is_a_warning_not_an_error() {
    let c = parse("unreachable.yaml").unwrap();
    let warnings: Vec<_> =
        c.check().into_iter().filter(|d| d.kind == DiagnosticKind::UnreachableRoute).collect();
    assert_eq!(warnings.len(), 2);
    assert_eq!((warnings[0].line, warnings[0].column), (4, 11));
    assert_eq!((warnings[1].line, warnings[1].column), (7, 16));
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    assert!(warnings[0].to_string().contains("warning: route `support` can never match"));
}

#[test]
fn environment_values_are_interpolated_and_passwords_never_printed() {
    let c = parse("full.yaml").unwrap();
    assert_eq!(c.freeswitch[0].password.expose(), "s3cret-fs1");
    for dump in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!dump.contains("s3cret-fs1"), "password leaked: {dump}");
        assert!(!dump.contains("tok-123"), "token leaked: {dump}");
        assert!(!dump.contains("ClueCon"), "default password leaked: {dump}");
    }
    assert_eq!(c.freeswitch[0].password.to_string(), "***");
}

#[test]
fn load_reads_the_process_environment() {
    // A name no environment sets: `load` must report it, naming it.
    let (_dir, result) = load_with_scripts("unset_env.yaml", &[]);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("RIVR_TEST_UNSET_PASSWORD"), "{err}");
}

#[test]
fn an_unreadable_file_is_a_read_error() {
    let err = Config::load("/nonexistent/rivr.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().starts_with("cannot read config file /nonexistent/rivr.yaml"));
    assert!(err.diagnostics().is_empty());
}

#[test]
fn relative_scripts_resolve_next_to_the_loaded_file() {
    let (dir, result) = load_with_scripts("missing_script.yaml", &["support.rhai", "sales.rhai"]);
    let config = result.unwrap();
    assert_eq!(config.scripts.as_path(), dir.path().join("scripts"));
    assert_eq!(config.origin(), dir.path().join("rivr.yaml").to_string_lossy());
}
