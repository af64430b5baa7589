//! Routing cost with 1,000 routes, in the worst cases: the call matches the last route, or none.
//!
//! Run with `cargo bench --bench router`. The target is under 5 µs per call.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rivr::call::CallInfo;
use rivr::config::Config;
use rivr::router::Router;

const ROUTES: usize = 1_000;

/// A router over `ROUTES` routes, each written by `route(i)` as a YAML flow mapping body.
fn router(route: impl Fn(usize) -> String) -> Router {
    let mut yaml = String::from("routes:\n");
    for i in 0..ROUTES {
        yaml.push_str(&format!("  - {{name: r{i}, script: a.rhai, {}}}\n", route(i)));
    }
    let config = Config::parse_with_env(&yaml, "bench.yaml", &|_| None).expect("bench config");
    Router::new(&config)
}

fn call(caller: &str, destination: &str) -> CallInfo {
    let mut call = CallInfo::new("bench", caller, destination);
    call.variables.insert("tenant".into(), "t-none".into());
    call.variables.insert("sip_from_host".into(), "pbx.example.com".into());
    call
}

fn bench(c: &mut Criterion, name: &str, router: &Router, last: &CallInfo, none: &CallInfo) {
    let last_route = format!("r{}", ROUTES - 1);
    assert_eq!(
        router.route(last).map(|m| m.name().to_string()),
        Some(last_route),
        "{name}: the 'last' call must match the last route"
    );
    assert!(router.route(none).is_none(), "{name}: the 'none' call must match nothing");
    let mut group = c.benchmark_group(name);
    group.bench_function("last", |b| b.iter(|| router.route(black_box(last))));
    group.bench_function("none", |b| b.iter(|| router.route(black_box(none))));
    group.finish();
}

fn routing(c: &mut Criterion) {
    // Exact destinations (DIDs).
    let r = router(|i| format!("destination: '{}'", 4930_0000 + i));
    bench(
        c,
        "exact_destination",
        &r,
        &call("+4940", &(4930_0000 + ROUTES - 1).to_string()),
        &call("+4940", "99999999"),
    );

    // Number ranges by prefix, of several lengths.
    let r = router(|i| format!("destination: '{}{}*'", "9".repeat(i % 4), 1000 + i));
    let last = ROUTES - 1;
    bench(
        c,
        "prefix_destination",
        &r,
        &call("+4940", &format!("{}{}555", "9".repeat(last % 4), 1000 + last)),
        &call("+4940", "0000000"),
    );

    // One regex per route: the RegexSet case.
    let r = router(|i| format!("destination: '/^{}[0-9]{{3}}$/'", 10_000 + i));
    bench(
        c,
        "regex_destination",
        &r,
        &call("+4940", &format!("{}123", 10_000 + ROUTES - 1)),
        &call("+4940", "55555555"),
    );

    // Routes by channel variable (multi-tenant).
    let r = router(|i| format!("variables: {{tenant: 't{i}'}}"));
    let mut last = call("+4940", "1");
    last.variables.insert("tenant".into(), format!("t{}", ROUTES - 1));
    bench(c, "variable", &r, &last, &call("+4940", "1"));

    // Every route shares `context: default` and a regex destination: filed by the regex.
    let r = router(|i| format!("context: default, destination: '/^{}[0-9]+$/'", 10_000 + i));
    bench(
        c,
        "shared_context_regex_destination",
        &r,
        &call("+4940", &format!("{}1", 10_000 + ROUTES - 1)),
        &call("+4940", "5"),
    );

    // A realistic mix: exact, prefix, regex, caller lists, variables, several conditions.
    let r = router(|i| match i % 5 {
        0 => format!("destination: '{}'", 5000_0000 + i),
        1 => format!("destination: '{}*', context: default", 6000 + i),
        2 => format!("destination: '/^{}[0-9]{{2}}$/'", 70_000 + i),
        3 => format!("caller: ['+49{}', '+43{}'], destination: '*'", 100_000 + i, 100_000 + i),
        _ => format!("variables: {{tenant: 't{i}', sip_from_host: '/example\\.com$/'}}"),
    });
    let mut last = call("+4940", "1");
    last.variables.insert("tenant".into(), format!("t{}", ROUTES - 1));
    bench(c, "mixed", &r, &last, &call("+4940", "1"));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = routing
}
criterion_main!(benches);
