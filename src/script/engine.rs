//! Sandboxed Rhai engines: one cheap engine per call built over shared, pre-built packages.
//!
//! `Engine::new()` costs ~135 µs and ~270 KiB; `Engine::new_raw()` plus the shared standard
//! package costs ~2 µs (TECH-NOTES §4). Nothing here knows about calls or switches.

use std::sync::OnceLock;

use rhai::packages::{Package, StandardPackage};
use rhai::{Engine, Shared};

use crate::config::Limits;

/// Stack size of every script fiber.
///
/// Rhai recursion uses the native stack: an overflow aborts the whole process with every call in
/// it (TECH-NOTES §4). Measured with the deepest expressions a function may hold at every level:
/// ~17 KiB per call level in release builds and ~75–105 KiB in debug builds, so the ceiling of
/// `CALL_DEPTH_CEILING` (64) levels needs ~1.1 MiB in release and ~6.8 MiB in debug. `invoke`
/// runs the invoked script with only the levels its caller has left, so that bound holds for the
/// whole chain. 16 MiB leaves a wide margin in both; untouched stack pages cost no memory, so the
/// size is free in RSS. The test `deepest_allowed_recursion_fits_the_script_stack` runs the
/// deepest recursion the limits allow on a fiber of exactly this size.
pub const STACK_SIZE: usize = 16 * 1024 * 1024;

/// Deepest chain of `invoke` calls (each runs a whole script inside the current one).
pub const MAX_INVOKE_DEPTH: usize = 4;

/// The ceiling on `max_call_depth` whatever the configuration says: deeper recursion would not
/// fit `STACK_SIZE`.
pub const CALL_DEPTH_CEILING: usize = 64;

/// The ceiling on expression depths whatever the configuration says (stack, as above).
pub const EXPR_DEPTH_CEILING: usize = 64;

/// The standard package, built once per process and shared by every call's engine.
pub fn standard_package() -> Shared<rhai::Module> {
    static PACKAGE: OnceLock<Shared<rhai::Module>> = OnceLock::new();
    PACKAGE.get_or_init(|| StandardPackage::new().as_shared_module()).clone()
}

/// A minimal engine with the standard package and every sandbox limit applied, but no verbs and
/// no module resolver: scripts arrive compiled with their imports embedded.
pub fn sandboxed(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard_package());
    apply_limits(&mut engine, limits);
    engine
}

/// Apply the limits and the language restrictions every rivr engine has.
pub fn apply_limits(engine: &mut Engine, limits: &Limits) {
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth.min(CALL_DEPTH_CEILING))
        .set_max_expr_depths(
            limits.max_expr_depth.min(EXPR_DEPTH_CEILING),
            limits.max_function_expr_depth.min(EXPR_DEPTH_CEILING / 2),
        )
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules)
        .set_strict_variables(true);
    // `eval` would compile arbitrary text at run time, outside `rivr check` and the store.
    engine.disable_symbol("eval");
    engine.on_print(|text| tracing::info!(target: "rivr::script", "{text}"));
    engine.on_debug(|text, source, position| {
        tracing::debug!(target: "rivr::script", source = source.unwrap_or(""), %position, "{text}")
    });
}
