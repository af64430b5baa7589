//! Hot reload: scripts edited, renamed over, deleted and recreated, broken and fixed, rewritten
//! in bursts, while calls run on the simulated switch; modules and their importers; pinned
//! scripts; and the configuration reloaded with its routes.
//!
//! Tests wait on conditions with a generous deadline and never assert on durations.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivr::call::actor::CallServices;
use rivr::call::CallInfo;
use rivr::config::Limits;
use rivr::reload::{LiveConfig, ReloadOutcome};
use rivr::script::runner::{CallJob, CallReport, Ending};
use rivr::script::{Script, ScriptStore, ScriptWatcher, WatchOptions};
use rivr::switch::sim::{Journal, SimChannel, SimSetup};
use support::*;

/// A scripts directory with a store over it.
struct Scripts {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Arc<ScriptStore>,
}

impl Scripts {
    fn new(files: &[(&str, &str)]) -> Scripts {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("scripts");
        std::fs::create_dir(&root).expect("mkdir");
        for (name, text) in files {
            write(&root.join(name), text);
        }
        let (store, problems) = ScriptStore::load(&root, &Limits::default());
        assert!(problems.is_empty(), "{problems:?}");
        Scripts { _dir: dir, root, store: Arc::new(store) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn watch(&self) -> ScriptWatcher {
        // No periodic rescan: these tests must pass on events alone.
        ScriptWatcher::start_with(
            self.store.clone(),
            WatchOptions { periodic: None, ..WatchOptions::default() },
        )
    }

    fn script(&self, name: &str) -> Arc<Script> {
        self.store.get(name).unwrap_or_else(|| panic!("{name} is not served"))
    }

    /// What a new call to `name` says now.
    fn says(&self, name: &str) -> Vec<String> {
        said(&run_script(self.script(name)))
    }

    /// Wait until a new call to `name` says `expected`.
    fn wait_until_says(&self, name: &str, expected: &[&str]) {
        wait_for(&format!("{name} says {expected:?}"), || {
            self.store.get(name).is_some_and(|script| said(&run_script(script)) == expected)
        });
    }
}

fn run_script(script: Arc<Script>) -> Vec<String> {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    run_on(RT.get_or_init(runtime), script, SimCall::default()).1
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Save as atomic savers, `sed -i` and JetBrains do: write a temporary file, rename it over.
fn save_by_rename(path: &Path, text: &str) {
    let temp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&temp, text).expect("write temp");
    std::fs::rename(&temp, path).expect("rename over");
}

/// Save as vim does by default: move the original to a backup, write a new file, delete the
/// backup.
fn save_like_vim(path: &Path, text: &str) {
    let backup = path.with_file_name(format!("{}~", path.file_name().unwrap().to_string_lossy()));
    std::fs::rename(path, &backup).expect("backup");
    std::fs::write(path, text).expect("write");
    std::fs::remove_file(&backup).expect("remove backup");
}

/// Captures what `tracing` logs on this thread while `f` runs.
fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (result, text)
}

#[test]
fn a_script_edited_mid_call_finishes_that_call_on_the_old_version_and_the_next_call_runs_the_new_one() {
    let scripts = Scripts::new(&[(
        "main.rhai",
        r#"answer(); let r = ask("say:choose", #{max_digits: 1}); say("v1 heard " + r.digits);"#,
    )]);
    let _watcher = scripts.watch();
    let rt = runtime();

    // Call A starts on v1 and waits in `ask` for a key its caller has not pressed yet.
    let journal = Journal::new();
    let (caller, keys) = tokio::sync::mpsc::unbounded_channel();
    let info = CallInfo::new("call-a", "5551234", "1000");
    let channel = SimChannel::new(&info, keys, SimSetup::default(), journal.clone());
    let script = scripts.script("main.rhai");
    let call_a = start_call(&rt, channel, CallServices::default(), CallJob::new(info, script));
    wait_for("call A answers", || journal.lines().first().is_some_and(|line| line == "answer"));

    // The script changes while call A is in the middle of its flow.
    write(&scripts.path("main.rhai"), r#"answer(); say("v2");"#);
    scripts.wait_until_says("main.rhai", &["v2"]);

    // Call A goes on, and ends, on the version it started with.
    caller.send(support::press("7")).expect("call A is waiting");
    drop(caller);
    let report: CallReport = rt.block_on(call_a).expect("no panic");
    assert_eq!(report.ending, Ending::Completed);
    assert_eq!(said(&journal.lines()), ["v1 heard 7"]);
    assert_eq!(scripts.says("main.rhai"), ["v2"]);
}

#[test]
fn a_save_by_rename_is_picked_up() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("one");"#)]);
    let _watcher = scripts.watch();
    save_by_rename(&scripts.path("main.rhai"), r#"say("two");"#);
    scripts.wait_until_says("main.rhai", &["two"]);
    save_by_rename(&scripts.path("main.rhai"), r#"say("three");"#);
    scripts.wait_until_says("main.rhai", &["three"]);
    assert!(scripts.store.names().iter().all(|name| !name.contains(".tmp")), "{:?}", scripts.store.names());
}

#[test]
fn rescans_do_not_trigger_more_rescans() {
    let scripts = Scripts::new(&[
        ("main.rhai", r#"import "lib/x" as x; say(x::word());"#),
        ("lib/x.rhai", r#"fn word() { "one" }"#),
    ]);
    let _watcher = scripts.watch();
    write(&scripts.path("lib/x.rhai"), r#"fn word() { "two" }"#);
    scripts.wait_until_says("main.rhai", &["two"]);
    // The rescan read and compiled files; those reads must not count as changes. Nothing
    // changes from here on, so the count must stay put (a slow machine only makes this easier).
    let rescans = scripts.store.rescans();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scripts.store.rescans(), rescans);
}

#[test]
fn a_vim_style_save_is_picked_up() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("one");"#)]);
    let _watcher = scripts.watch();
    save_like_vim(&scripts.path("main.rhai"), r#"say("two");"#);
    scripts.wait_until_says("main.rhai", &["two"]);
}

#[test]
fn a_script_deleted_and_recreated_serves_the_recreated_version() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("one");"#), ("menu.rhai", r#"say("menu");"#)]);
    let _watcher = scripts.watch();
    std::fs::remove_file(scripts.path("menu.rhai")).expect("delete");
    wait_for("menu.rhai is gone", || scripts.store.get("menu.rhai").is_none());
    write(&scripts.path("menu.rhai"), r#"say("menu again");"#);
    scripts.wait_until_says("menu.rhai", &["menu again"]);
    // Deleting and recreating at once (as some tools do) ends the same way.
    std::fs::remove_file(scripts.path("main.rhai")).expect("delete");
    write(&scripts.path("main.rhai"), r#"say("two");"#);
    scripts.wait_until_says("main.rhai", &["two"]);
}

#[test]
fn a_syntax_error_keeps_the_last_good_version_until_it_is_fixed() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("good");"#)]);
    let _watcher = scripts.watch();
    let good = scripts.script("main.rhai").version;

    write(&scripts.path("main.rhai"), "say(\"better\");\nlet x = ;\n");
    wait_for("the error is reported", || !scripts.store.problems().is_empty());
    let problems = scripts.store.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].file.as_str(), problems[0].line), ("main.rhai", 2));
    assert!(problems[0].column > 0);
    assert!(problems[0].to_string().starts_with("main.rhai:2:"), "{}", problems[0]);
    // Meanwhile new calls run the last good version.
    assert_eq!(scripts.script("main.rhai").version, good);
    assert_eq!(scripts.says("main.rhai"), ["good"]);

    write(&scripts.path("main.rhai"), r#"say("fixed");"#);
    scripts.wait_until_says("main.rhai", &["fixed"]);
    wait_for("the problem is cleared", || scripts.store.problems().is_empty());
}

#[test]
fn a_compile_error_is_logged_with_file_line_and_column() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("good");"#)]);
    write(&scripts.path("main.rhai"), "say(\"x\");\n\nlet = 3;\n");
    let (report, logs) = logs_of(|| scripts.store.rescan());
    assert_eq!(report.failed.len(), 1);
    assert!(logs.contains("ERROR") && logs.contains("main.rhai:3:"), "{logs}");
    assert!(logs.contains("keep running the last version that compiled"), "{logs}");
}

#[test]
fn a_burst_of_fifty_changed_files_all_end_up_serving() {
    let files: Vec<(String, String)> =
        (0..50).map(|i| (format!("s{i:02}.rhai"), format!(r#"say("s{i:02} v1");"#))).collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let scripts = Scripts::new(&borrowed);
    let _watcher = scripts.watch();
    // As `git checkout` does: every file rewritten within a few milliseconds, plus new ones.
    for i in 0..50 {
        write(&scripts.path(&format!("s{i:02}.rhai")), &format!(r#"say("s{i:02} v2");"#));
    }
    for i in 0..5 {
        write(&scripts.path(&format!("new/n{i}.rhai")), &format!(r#"say("n{i}");"#));
    }
    for i in 0..50 {
        scripts.wait_until_says(&format!("s{i:02}.rhai"), &[&format!("s{i:02} v2")]);
    }
    for i in 0..5 {
        scripts.wait_until_says(&format!("new/n{i}.rhai"), &[&format!("n{i}")]);
    }
    assert_eq!(scripts.store.names().len(), 55);
}

#[test]
fn a_changed_module_recompiles_every_script_that_imports_it() {
    let scripts = Scripts::new(&[
        ("main.rhai", r#"import "lib/greet" as greet; greet::hello();"#),
        ("sales.rhai", r#"import "lib/menu" as menu; menu::run();"#),
        ("lib/menu.rhai", r#"import "lib/greet" as greet; fn run() { greet::hello(); say("sales"); }"#),
        ("lib/greet.rhai", r#"fn hello() { say("hello"); }"#),
        ("other.rhai", r#"say("other");"#),
    ]);
    write(&scripts.path("lib/greet.rhai"), r#"fn hello() { say("bonjour"); }"#);
    let report = scripts.store.rescan();
    // The module itself, its direct importer, and a script importing it through another module.
    assert_eq!(report.updated, ["lib/greet.rhai", "lib/menu.rhai", "main.rhai", "sales.rhai"]);
    assert_eq!(scripts.says("main.rhai"), ["bonjour"]);
    assert_eq!(scripts.says("sales.rhai"), ["bonjour", "sales"]);
    assert_eq!(scripts.says("other.rhai"), ["other"]);

    // Through the watcher too.
    let _watcher = scripts.watch();
    save_by_rename(&scripts.path("lib/greet.rhai"), r#"fn hello() { say("hola"); }"#);
    scripts.wait_until_says("sales.rhai", &["hola", "sales"]);
}

#[test]
fn a_broken_module_keeps_its_importers_on_their_last_good_version() {
    let scripts = Scripts::new(&[
        ("main.rhai", r#"import "lib/greet" as greet; greet::hello();"#),
        ("lib/greet.rhai", r#"fn hello() { say("hello"); }"#),
    ]);
    write(&scripts.path("lib/greet.rhai"), "fn hello( {");
    let report = scripts.store.rescan();
    assert!(report.updated.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(report.failed.iter().all(|p| p.file == "lib/greet.rhai" && p.line == 1), "{report:?}");
    assert_eq!(scripts.says("main.rhai"), ["hello"]);
    // Deleting the module breaks the importer too; it keeps serving.
    std::fs::remove_file(scripts.path("lib/greet.rhai")).unwrap();
    let report = scripts.store.rescan();
    assert_eq!(report.removed, ["lib/greet.rhai"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(scripts.says("main.rhai"), ["hello"]);
    // A module that appears fixes the importer that was missing it.
    write(&scripts.path("lib/greet.rhai"), r#"fn hello() { say("back"); }"#);
    let report = scripts.store.rescan();
    assert_eq!(report.updated, ["lib/greet.rhai", "main.rhai"]);
    assert_eq!(scripts.says("main.rhai"), ["back"]);
    assert!(scripts.store.problems().is_empty());
}

#[test]
fn a_deleted_pinned_script_keeps_serving_with_a_warning() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("main");"#), ("spare.rhai", r#"say("spare");"#)]);
    scripts.store.pin(["main"]);
    std::fs::remove_file(scripts.path("main.rhai")).unwrap();
    std::fs::remove_file(scripts.path("spare.rhai")).unwrap();
    let (report, logs) = logs_of(|| scripts.store.rescan());
    assert_eq!(report.kept, ["main.rhai"]);
    assert_eq!(report.removed, ["spare.rhai"]);
    assert!(logs.contains("WARN") && logs.contains("a route names it"), "{logs}");
    assert_eq!(scripts.says("main.rhai"), ["main"]);
    assert!(scripts.store.get("spare.rhai").is_none());
    // Warned once, not on every rescan.
    let (_, logs) = logs_of(|| scripts.store.rescan());
    assert!(!logs.contains("a route names it"), "{logs}");
    // Once no route names it, it goes.
    scripts.store.pin(Vec::<String>::new());
    assert_eq!(scripts.store.rescan().removed, ["main.rhai"]);
}

#[test]
fn an_unchanged_tree_rescans_to_an_empty_report() {
    let scripts = Scripts::new(&[("main.rhai", r#"say("main");"#)]);
    let generation = scripts.store.generation();
    assert!(scripts.store.rescan().is_empty());
    // Touching a file without changing it is not a change either.
    write(&scripts.path("main.rhai"), r#"say("main");"#);
    assert!(scripts.store.rescan().is_empty());
    assert_eq!(scripts.store.generation(), generation);
}

// ---- configuration ----

/// A deployment directory: `rivr.yaml` and `scripts/`.
struct Deployment {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Deployment {
    fn new(yaml: &str, scripts: &[&str]) -> Deployment {
        let dir = tempfile::tempdir().expect("tempdir");
        for script in scripts {
            write(&dir.path().join("scripts").join(script), r#"say("hi");"#);
        }
        let config = dir.path().join("rivr.yaml");
        std::fs::write(&config, yaml).expect("write");
        Deployment { _dir: dir, config }
    }
}

fn route_of(live: &LiveConfig, destination: &str) -> Option<String> {
    let call = CallInfo::new("u", "5551234", destination);
    live.current().router.route(&call).map(|route| route.name().to_string())
}

const TWO_ROUTES: &str = "routes:\n  - name: all-ones\n    destination: '1*'\n    script: a.rhai\n  - name: hundreds\n    destination: '100*'\n    script: b.rhai\n";
const TWO_ROUTES_SWAPPED: &str = "routes:\n  - name: hundreds\n    destination: '100*'\n    script: b.rhai\n  - name: all-ones\n    destination: '1*'\n    script: a.rhai\n";

#[test]
fn a_config_edit_changes_the_route_order_for_new_calls() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    let _watcher = live.watch(&WatchOptions { periodic: None, ..WatchOptions::default() });
    let before = live.current();
    assert_eq!(route_of(&live, "1001").as_deref(), Some("all-ones"));
    save_by_rename(&deployment.config, TWO_ROUTES_SWAPPED);
    wait_for("the new order routes 1001", || route_of(&live, "1001").as_deref() == Some("hundreds"));
    assert_eq!(live.current().generation, 1);
    // A call that started before keeps its snapshot.
    let call = CallInfo::new("u", "5551234", "1001");
    assert_eq!(before.router.route(&call).unwrap().name(), "all-ones");
}

#[test]
fn a_new_route_takes_calls_after_a_reload() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai", "c.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    assert_eq!(route_of(&live, "2000"), None);
    let added = format!("{TWO_ROUTES}  - name: twos\n    destination: '2*'\n    script: c.rhai\n");
    std::fs::write(&deployment.config, added).unwrap();
    assert!(
        matches!(live.reload_now(), ReloadOutcome::Applied { ref restart_required } if restart_required.is_empty())
    );
    assert_eq!(route_of(&live, "2000").as_deref(), Some("twos"));
    assert!(matches!(live.reload_if_changed(), ReloadOutcome::Unchanged));
}

#[test]
fn an_invalid_config_keeps_the_running_one_and_reports_every_problem_with_positions() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    let _watcher = live.watch(&WatchOptions { periodic: None, ..WatchOptions::default() });

    std::fs::write(&deployment.config, "routes:\n  - name: broken\n   script: [oops\n").unwrap();
    let outcome = live.reload_now();
    let ReloadOutcome::Rejected(error) = outcome else { panic!("{outcome:?}") };
    assert!(error.diagnostics().iter().all(|d| d.line > 0), "{error}");

    // Valid YAML with two problems: a bad regex and a missing script; both are reported.
    let two_problems = "routes:\n  - name: a\n    destination: '/([/'\n    script: a.rhai\n  - name: b\n    script: nope.rhai\n";
    std::fs::write(&deployment.config, two_problems).unwrap();
    let ReloadOutcome::Rejected(error) = live.reload_now() else { panic!("applied a broken config") };
    let places: Vec<(usize, usize)> = error.diagnostics().iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(places.len(), 2, "{error}");
    assert!(places.iter().all(|(line, column)| *line > 0 && *column > 0), "{error}");

    assert_eq!(live.current().generation, 0);
    assert_eq!(route_of(&live, "1001").as_deref(), Some("all-ones"));
}

#[test]
fn routes_pin_their_scripts_after_a_config_reload() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai", "c.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    let scripts_dir = deployment.config.parent().unwrap().join("scripts");
    let (store, _) = ScriptStore::load(&scripts_dir, &Limits::default());
    let store = Arc::new(store);
    live.attach_store(store.clone());
    std::fs::write(&deployment.config, format!("{TWO_ROUTES}  - name: c\n    script: c.rhai\n")).unwrap();
    assert!(matches!(live.reload_now(), ReloadOutcome::Applied { .. }));
    for script in ["a.rhai", "c.rhai"] {
        std::fs::remove_file(scripts_dir.join(script)).unwrap();
    }
    let report = store.rescan();
    assert_eq!(report.kept, ["a.rhai", "c.rhai"]);
}

#[test]
fn a_changed_listen_address_is_reported_as_needing_a_restart() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    std::fs::write(&deployment.config, format!("listen: 0.0.0.0:9000\n{TWO_ROUTES}")).unwrap();
    let ReloadOutcome::Applied { restart_required } = live.reload_now() else { panic!("not applied") };
    assert_eq!(restart_required, ["listen"]);
    assert_eq!(live.current().restart_required, ["listen"]);
}

#[test]
fn sighup_reloads_the_config() {
    let deployment = Deployment::new(TWO_ROUTES, &["a.rhai", "b.rhai"]);
    let live = LiveConfig::load(&deployment.config).expect("valid");
    let rt = runtime();
    let _sighup = {
        let _guard = rt.enter();
        live.reload_on_sighup().expect("signal handler")
    };
    std::fs::write(&deployment.config, TWO_ROUTES_SWAPPED).unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -HUP {}", std::process::id()))
        .status()
        .expect("sh");
    assert!(status.success());
    wait_for("SIGHUP applies the new order", || route_of(&live, "1001").as_deref() == Some("hundreds"));
}
