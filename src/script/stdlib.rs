//! The stdlib: Rhai modules embedded in the binary, imported as `rivr/<name>`, and the module
//! resolver that serves them and the scripts directory.

use std::path::{Component, Path, PathBuf};

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, Module, NativeCallContext, Position, Shared, AST,
};
use rust_embed::RustEmbed;

/// The `stdlib/` directory, embedded at build time.
#[derive(RustEmbed)]
#[folder = "stdlib/"]
struct Embedded;

/// The import prefix of stdlib modules.
pub const STDLIB_PREFIX: &str = "rivr/";

/// The source text of a stdlib module (`"menu"` for `rivr/menu`).
pub fn source(name: &str) -> Option<String> {
    let file = Embedded::get(&format!("{name}.rhai"))?;
    String::from_utf8(file.data.into_owned()).ok()
}

/// The names of every stdlib module.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> =
        Embedded::iter().filter_map(|path| path.strip_suffix(".rhai").map(str::to_string)).collect();
    names.sort();
    names
}

/// Resolves `import` paths: `rivr/<name>` from the embedded stdlib, anything else from
/// `<scripts dir>/<path>.rhai`. Absolute paths and `..` are refused, so a script can reach
/// nothing outside the scripts directory.
#[derive(Clone, Debug)]
pub struct Resolver {
    scripts_dir: PathBuf,
}

impl Resolver {
    /// A resolver serving the stdlib and `scripts_dir`.
    pub fn new(scripts_dir: impl Into<PathBuf>) -> Self {
        Resolver { scripts_dir: scripts_dir.into() }
    }

    /// Where an import path leads, or why it may not be imported.
    pub fn locate(&self, path: &str) -> Result<Located, String> {
        if let Some(name) = path.strip_prefix(STDLIB_PREFIX) {
            return match source(name) {
                Some(text) => Ok(Located { source: format!("{STDLIB_PREFIX}{name}"), text }),
                None => Err(format!(
                    "no stdlib module `{path}`; available: {}",
                    names().iter().map(|n| format!("{STDLIB_PREFIX}{n}")).collect::<Vec<_>>().join(", ")
                )),
            };
        }
        let relative = Path::new(path);
        let escapes =
            relative.components().any(|part| !matches!(part, Component::Normal(_) | Component::CurDir));
        if path.is_empty() || escapes {
            return Err(format!(
                "import `{path}` is outside the scripts directory: use a path relative to it, without `..`"
            ));
        }
        let mut file = self.scripts_dir.join(relative);
        if file.extension().is_none() {
            file.set_extension("rhai");
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("cannot read module `{path}` ({}): {error}", file.display()))?;
        let source = file.strip_prefix(&self.scripts_dir).unwrap_or(&file).display().to_string();
        Ok(Located { source, text })
    }

    /// The file an import path reads, relative to the scripts directory with `/` separators
    /// (`lib/greet` → `lib/greet.rhai`); `None` for stdlib modules and for paths `locate`
    /// refuses. The script store uses it to know which scripts to recompile when a module
    /// changes.
    pub fn module_file(path: &str) -> Option<String> {
        if path.starts_with(STDLIB_PREFIX) || path.is_empty() {
            return None;
        }
        let mut file = PathBuf::new();
        for part in Path::new(path).components() {
            match part {
                Component::Normal(name) => file.push(name),
                Component::CurDir => {}
                _ => return None,
            }
        }
        if file.extension().is_none() {
            file.set_extension("rhai");
        }
        let parts: Vec<String> = file.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        Some(parts.join("/"))
    }

    fn compile(&self, engine: &Engine, path: &str, pos: Position) -> Result<AST, Box<EvalAltResult>> {
        let located =
            self.locate(path).map_err(|message| EvalAltResult::ErrorModuleNotFound(message, pos))?;
        let mut ast = engine.compile(&located.text).map_err(|error| {
            Box::new(EvalAltResult::ErrorInModule(
                located.source.clone(),
                EvalAltResult::ErrorParsing(*error.0, error.1).into(),
                pos,
            ))
        })?;
        ast.set_source(located.source);
        Ok(ast)
    }
}

/// A module's source text and the name errors should use for it.
#[derive(Clone, Debug)]
pub struct Located {
    /// `rivr/menu` or the path relative to the scripts directory.
    pub source: String,
    /// The module's text.
    pub text: String,
}

impl rhai::ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let ast = self.compile(engine, path, pos)?;
        let mut module = Module::eval_ast_as_new(rhai::Scope::new(), &ast, engine)
            .map_err(|error| Box::new(EvalAltResult::ErrorInModule(path.to_string(), error, pos)))?;
        if let Some(name) = path.strip_prefix(STDLIB_PREFIX) {
            add_entry_points(name, &mut module);
        }
        Ok(module.into())
    }

    fn resolve_ast(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Option<Result<AST, Box<EvalAltResult>>> {
        Some(self.compile(engine, path, pos))
    }
}

/// The stdlib modules that are also available without `import` (today: `menu`), and the
/// internal functions of the others (`collect_…`), which their native entry points call by
/// name; compiled once.
fn globals() -> &'static [Shared<Module>] {
    static GLOBALS: std::sync::OnceLock<Vec<Shared<Module>>> = std::sync::OnceLock::new();
    GLOBALS.get_or_init(|| {
        let engine = crate::script::engine::sandboxed(&crate::config::Limits::default());
        let compiled = |name: &str| {
            let text = source(name)?;
            let mut ast = engine.compile(text).ok()?;
            ast.set_source(format!("{STDLIB_PREFIX}{name}"));
            Module::eval_ast_as_new(rhai::Scope::new(), &ast, &engine).ok()
        };
        let mut modules = Vec::new();
        if let Some(mut menu) = compiled("menu") {
            add_entry_points("menu", &mut menu);
            modules.push(Shared::new(menu));
        }
        if let Some(collect) = compiled("collect") {
            // Only the `collect_` functions: `digits(...)` without an import stays an error.
            let mut internals = Module::new();
            internals.set_id("rivr/collect");
            for (.., name, _, function) in collect.iter_script_fn_info() {
                if name.starts_with("collect_") {
                    internals.set_script_fn(function.clone());
                }
            }
            modules.push(Shared::new(internals));
        }
        modules
    })
}

/// The native entry points of stdlib module `name`: each notes where the script called it
/// (`CallContext::within_site`) and runs the module's script function that does the work.
/// Rhai keeps no call stack, so this is how a verb deep in `menu` knows the script's line.
fn add_entry_points(name: &str, module: &mut Module) {
    match name {
        "menu" => {
            FuncRegistration::new("menu").set_into_module(
                module,
                |nctx: NativeCallContext, prompt: Dynamic, choices: Dynamic| {
                    enter(
                        &nctx,
                        "menu",
                        "menu_run",
                        vec![prompt, choices, Dynamic::from_map(rhai::Map::new())],
                    )
                },
            );
            FuncRegistration::new("menu").set_into_module(
                module,
                |nctx: NativeCallContext, prompt: Dynamic, choices: Dynamic, options: Dynamic| {
                    enter(&nctx, "menu", "menu_run", vec![prompt, choices, options])
                },
            );
        }
        "collect" => {
            for (function, internal) in [("digits", "collect_digits"), ("pin", "collect_pin")] {
                FuncRegistration::new(function).set_into_module(
                    module,
                    move |nctx: NativeCallContext, prompt: Dynamic| {
                        enter(&nctx, function, internal, vec![prompt, Dynamic::from_map(rhai::Map::new())])
                    },
                );
                FuncRegistration::new(function).set_into_module(
                    module,
                    move |nctx: NativeCallContext, prompt: Dynamic, options: Dynamic| {
                        enter(&nctx, function, internal, vec![prompt, options])
                    },
                );
            }
        }
        _ => {}
    }
}

/// Run `internal` with `args` as the script's call of `function`.
fn enter(
    nctx: &NativeCallContext,
    function: &'static str,
    internal: &str,
    mut args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    // A menu's choice keys, for counting which was taken (bounded: they are the script's own).
    let keys = match args.get(1) {
        Some(choices) if function == "menu" => choices
            .read_lock::<rhai::Map>()
            .map(|map| map.keys().map(ToString::to_string).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut refs: Vec<&mut Dynamic> = args.iter_mut().collect();
    let from_script = !nctx.call_source().unwrap_or("").starts_with(STDLIB_PREFIX);
    match crate::script::api::context(nctx) {
        Ok(ctx) if from_script => {
            ctx.within_site(nctx, function, keys, || nctx.call_fn_raw(internal, false, false, &mut refs))
        }
        // Outside a call (a test evaluating the stdlib), or called from the stdlib itself.
        _ => nctx.call_fn_raw(internal, false, false, &mut refs),
    }
}

/// Make the global stdlib functions (`menu(...)`) callable without `import`.
pub fn register_globals(engine: &mut Engine) {
    for module in globals() {
        engine.register_global_module(module.clone());
    }
}
