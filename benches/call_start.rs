//! Call start cost: from a call arriving to its script's first verb reaching the switch.
//!
//! `cargo bench --bench call_start`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rhai::Scope;
use rivr::call::fiber::{Fibers, Step};
use rivr::call::{CallInfo, CallState, Outcome};
use rivr::config::Limits;
use rivr::script::api::{self, CallContext, VerbSettings};
use rivr::script::{engine, stdlib, Compiler};

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let compiler = Compiler::new(std::env::temp_dir(), &limits);
    let script =
        compiler.compile("main.rhai", include_str!("../scripts/main.rhai")).expect("main.rhai compiles");
    let first_verb = Arc::new(compiler.compile("first.rhai", "answer();").expect("compiles"));
    // Warm the shared packages once, as a running server has.
    let _ = engine::sandboxed(&limits);

    let mut group = c.benchmark_group("call_start");
    group.measurement_time(Duration::from_secs(5));
    // A call's handle exists only on its fiber, so the engines are built there, `iters` at a time.
    let fibers = Fibers::new(engine::STACK_SIZE, 16);
    group.bench_function("engine_with_api", |b| {
        b.iter_custom(|iters| {
            let limits = limits.clone();
            let mut fiber = fibers
                .fiber(Arc::new(CallState::default()), move |handle| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let ctx = CallContext::new(
                            handle.clone(),
                            CallInfo::default(),
                            VerbSettings::default(),
                            None,
                        );
                        let mut engine = engine::sandboxed(&limits);
                        api::install(&mut engine, &ctx);
                        stdlib::register_globals(&mut engine);
                        std::hint::black_box(engine);
                    }
                    started.elapsed()
                })
                .expect("stack");
            match fiber.resume(None) {
                Step::Finished(elapsed) => elapsed,
                other => panic!("building engines runs no verb: {other:?}"),
            }
        })
    });
    // As `rivr run` starts a call: the script on a fiber from the pool, its first verb handed
    // to the call's task (here answered at once), then the script's end and the stack's return.
    group.bench_function("first_verb_on_a_fiber", |b| {
        b.iter(|| {
            let limits = limits.clone();
            let ast = first_verb.clone();
            let mut fiber = fibers
                .fiber(Arc::new(CallState::default()), move |handle| {
                    let ctx = CallContext::new(handle, CallInfo::default(), VerbSettings::default(), None);
                    let mut engine = engine::sandboxed(&limits);
                    api::install(&mut engine, &ctx);
                    stdlib::register_globals(&mut engine);
                    ctx.restart_budget();
                    engine.run_ast_with_scope(&mut Scope::new(), &ast.ast).expect("runs");
                })
                .expect("stack");
            let mut answer = None;
            loop {
                match fiber.resume(answer.take()) {
                    Step::Request { .. } => answer = Some(Ok(Outcome::Done)),
                    Step::Pause => {}
                    Step::Finished(()) => break,
                }
            }
        })
    });
    group.bench_function("compile_main_menu", |b| {
        b.iter(|| compiler.compile("main.rhai", include_str!("../scripts/main.rhai")).expect("compiles"))
    });
    group.finish();
    drop(script);
}

criterion_group!(benches, bench);
criterion_main!(benches);
