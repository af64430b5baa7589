//! Hostile scripts: each ends only its own call through the fallback, with a clear message
//! naming the script and position, while a well-behaved call on the same runtime completes.

mod support;

use std::sync::Arc;
use std::time::Instant;

use rivr::config::Limits;
use rivr::script::engine::{CALL_DEPTH_CEILING, STACK_SIZE};
use rivr::script::runner::Ending;
use rivr::script::Compiler;
use support::*;

/// Run `hostile` next to a well-behaved call on one runtime; return the hostile call's failure.
fn fails_alone(hostile: &str) -> rivr::script::runner::Failure {
    fails_alone_on(runtime(), hostile, Limits::default()).0
}

/// [`fails_alone`] on `rt` with `limits` for the hostile call; also says whether the good call
/// ended before the hostile one.
fn fails_alone_on(
    rt: tokio::runtime::Runtime,
    hostile: &str,
    limits: Limits,
) -> (rivr::script::runner::Failure, bool) {
    let rt = Arc::new(rt);
    let good = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            let script = compile(
                "good.rhai",
                r#"answer(); let r = ask("say:pin", #{max_digits: 4}); say_digits(r.digits);"#,
            );
            let ran = run_on(&rt, script, SimCall { actions: vec![press("1234")], ..SimCall::default() });
            (ran, Instant::now())
        })
    };
    let (report, lines) =
        run_on(&rt, compile("hostile.rhai", hostile), SimCall { limits, ..SimCall::default() });
    let hostile_ended = Instant::now();
    let ((good_report, good_lines), good_ended) = good.join().expect("good call");
    assert_eq!(good_report.ending, Ending::Completed, "the well-behaved call was disturbed");
    assert_eq!(
        good_lines,
        ["answer", r#"ask: "pin" → match "1234""#, "say_digits: 1234", "hangup: NORMAL_CLEARING"]
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("hangup: NORMAL_TEMPORARY_FAILURE"),
        "fallback: {lines:#?}"
    );
    assert!(lines.contains(&"play: ivr/sorry.wav".to_string()), "fallback prompt: {lines:#?}");
    match report.ending {
        Ending::Failed(failure) => (failure, good_ended < hostile_ended),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Limits under which only the compute budget can stop a busy loop (a fast machine runs the
/// default operation limit within the budget).
fn budget_only() -> Limits {
    Limits { max_operations: 1 << 50, ..Limits::default() }
}

#[test]
fn an_endless_loop_is_stopped_by_the_compute_budget() {
    let (failure, _) = fails_alone_on(runtime(), "answer();\nloop { }", budget_only());
    assert_eq!(failure.source, "hostile.rhai");
    assert_eq!(failure.line, 2, "{failure}");
    assert!(failure.message.contains("computed for more than 500 ms without running a verb"), "{failure}");
}

/// Scripts run on fibers on the runtime's workers; a busy one must give its worker up now and
/// then, or every call on that worker would wait for its compute budget to run out.
#[test]
fn a_busy_loop_does_not_hold_up_other_calls_on_a_single_worker() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (failure, good_first) = fails_alone_on(rt, "answer();\nloop { }", budget_only());
    assert!(failure.message.contains("compute_budget_ms"), "{failure}");
    assert!(good_first, "the well-behaved call waited for the busy one to be stopped");
}

#[test]
fn a_busy_loop_between_verbs_is_stopped_even_if_it_would_end_eventually() {
    let failure = fails_alone("answer();\nlet x = 0;\nwhile x < 1_000_000_000 { x += 1; }");
    assert!(failure.message.contains("compute_budget_ms"), "{failure}");
}

#[test]
fn unbounded_recursion_is_stopped_at_the_call_depth_limit() {
    let failure = fails_alone("fn down(n) { down(n + 1) }\nanswer();\ndown(0);");
    assert!(failure.message.contains("nested deeper than 32 (limits.max_call_depth)"), "{failure}");
}

#[test]
fn a_hundred_megabyte_string_is_refused() {
    let failure = fails_alone("answer();\nlet s = \"x\";\nloop { s += s; }");
    assert!(failure.message.contains("limits.max_string_size"), "{failure}");
    assert_eq!(failure.line, 3, "{failure}");
}

#[test]
fn a_padded_huge_string_is_refused() {
    let failure = fails_alone("answer();\nlet s = \"\";\ns.pad(100_000_000, 'x');");
    assert!(failure.message.contains("grew beyond its limit"), "{failure}");
}

#[test]
fn a_huge_array_is_refused() {
    let failure = fails_alone("answer();\nlet a = [];\na.pad(100_000_000, 0);");
    assert!(failure.message.contains("max_array_size"), "{failure}");
}

#[test]
fn a_runtime_error_names_the_script_line_and_column() {
    let failure = fails_alone("answer();\nlet zero = 0;\nlet x = 10 / zero;");
    assert_eq!((failure.source.as_str(), failure.line), ("hostile.rhai", 3), "{failure}");
    assert!(failure.message.contains("Division by zero"), "{failure}");
}

#[test]
fn an_error_inside_a_function_reports_where_it_happened() {
    let failure = fails_alone("fn lookup(m) {\n  m.missing.field\n}\nanswer();\nlookup(#{});");
    assert_eq!(failure.line, 2, "{failure}");
    assert!(failure.message.contains("(in lookup)"), "{failure}");
}

#[test]
fn too_many_operations_are_stopped() {
    let rt = runtime();
    let limits = Limits { max_operations: 10_000, compute_budget_ms: 60_000, ..Limits::default() };
    let (report, _) = run_on(
        &rt,
        compile("ops.rhai", "answer();\nlet x = 0;\nfor i in 0..1000000 { x += i; }"),
        SimCall { limits, ..SimCall::default() },
    );
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("ran more than 10000 operations (limits.max_operations)"), "{failure}");
}

#[test]
fn eval_is_refused_at_compile_time_with_its_position() {
    let compiler = Compiler::new(std::env::temp_dir(), &Limits::default());
    let problem =
        compiler.compile("evil.rhai", "answer();\nlet x = eval(\"1 + 1\");").expect_err("eval compiles");
    assert_eq!((problem.file.as_str(), problem.line, problem.column), ("evil.rhai", 2, 9), "{problem}");
    assert!(problem.message.contains("eval"), "{problem}");
}

#[test]
fn importing_outside_the_scripts_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let compiler = Compiler::new(dir.path(), &Limits::default());
    for path in ["../../etc/passwd", "/etc/passwd"] {
        let text = format!("answer();\nimport \"{path}\" as secrets;");
        let problem = compiler.compile("evil.rhai", &text).expect_err("escape compiles");
        assert_eq!((problem.line, problem.column), (2, 1), "{problem}");
        assert!(problem.message.contains("outside the scripts directory"), "{problem}");
    }
}

#[test]
fn undefined_variables_are_compile_errors() {
    let compiler = Compiler::new(std::env::temp_dir(), &Limits::default());
    let problem = compiler.compile("typo.rhai", "let digits = 1;\nsay(digit);").expect_err("typo compiles");
    assert_eq!((problem.line, problem.column), (2, 5), "{problem}");
    assert!(problem.message.contains("Undefined variable: digit"), "{problem}");
}

/// The deepest recursion the limits can allow, with deep expressions at every level and inside
/// the deepest `invoke` chain, on a thread of exactly the production stack size. A stack overflow
/// would abort this test process.
#[test]
fn deepest_allowed_recursion_fits_the_script_stack() {
    let limits =
        Limits { max_call_depth: CALL_DEPTH_CEILING, compute_budget_ms: 60_000, ..Limits::default() };
    let depth = CALL_DEPTH_CEILING - 2;
    let text = format!(
        r#"fn deep(n) {{
               if n == 0 {{ return 0; }}
               let v = (1 + (1 + (1 + (1 + (1 + (1 + (1 + (1 + (1 + (1 + (1 + (1 + deep(n - 1)))))))))))));
               v
           }}
           say_number(deep({depth}));"#
    );
    let rt = runtime();
    let script = compile("deep.rhai", &text);
    let (report, lines) = run_on(&rt, script, SimCall { limits, ..SimCall::default() });
    assert_eq!(report.ending, Ending::Completed, "{lines:#?}");
    assert!(lines[0].starts_with("say_number: "), "{lines:#?}");
    assert_eq!(STACK_SIZE, rivr::script::engine::STACK_SIZE);
}

#[test]
fn an_endless_loop_of_verbs_that_make_no_progress_ends_its_call() {
    // Each verb restarts the compute budget, so only the count of verbs in a row that played
    // nothing and waited for no one can end it.
    let failure = fails_alone("let n = 0;\nloop { answer(); n += 1; }");
    assert!(failure.message.contains("limits.max_verbs_without_progress"), "{failure}");
    assert_eq!(failure.line, 2, "{failure}");
}

#[test]
fn a_loop_of_verbs_that_take_time_is_not_cut_short() {
    // A pause in the loop is progress; the loop here ends by itself after 1,500 verbs.
    let script = compile(
        "hold.rhai",
        "answer();\nfor i in 0..1500 { get_var(\"x\"); if i % 500 == 0 { sleep(200); } }",
    );
    let (report, _) = run_on(&runtime(), script, SimCall::default());
    assert_eq!(report.ending, Ending::Completed);
}

#[test]
fn on_hangup_counts_its_verbs_without_progress_on_its_own() {
    // The flow ends after 900 instant verbs; on_hangup's 900 more stay under the limit of 1,000.
    let script = compile(
        "busy.rhai",
        "for i in 0..900 { set_var(\"n\", `${i}`); }\nfn on_hangup() { for i in 0..900 { get_var(\"n\"); } }",
    );
    let (report, _) = run_on(&runtime(), script, SimCall::default());
    assert_eq!(report.ending, Ending::Completed);
    assert_eq!(report.on_hangup_error, None);
}
