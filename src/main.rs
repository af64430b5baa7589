//! The `rivr` command line: `run`, `sim`, `check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use rivr::config::Limits;
use rivr::console::{self, SimOptions};
use rivr::switch::sim::SimDial;

/// rivr: a scriptable IVR runtime for FreeSWITCH.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log filter (e.g. `info`, `rivr=debug`); also RIVR_LOG.
    #[arg(long, global = true, env = "RIVR_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one call on the simulated switch: verbs are printed, typed lines are the caller's keys.
    Sim {
        /// The script to run.
        script: PathBuf,
        /// Calling number.
        #[arg(long, default_value = "5551234")]
        from: String,
        /// Dialled number.
        #[arg(long, default_value = "1000")]
        to: String,
        /// A channel variable, `name=value` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Outcome of the next dial: answered[:SECONDS], busy, no_answer or failed (repeatable,
        /// used in order; dials beyond the list are answered).
        #[arg(long = "dial", value_name = "OUTCOME")]
        dials: Vec<String>,
        /// The scripts directory for imports, pass and invoke (default: the script's directory).
        #[arg(long)]
        scripts: Option<PathBuf>,
    },
    /// Run call scenarios (`*.test.yaml`) against scripts on the simulated switch.
    Test {
        /// Scenario files or directories (default: ./scripts).
        paths: Vec<PathBuf>,
        /// Output format: `text`, or `junit` (JUnit XML on standard output).
        #[arg(long, default_value = "text")]
        format: String,
        /// Also write JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Create a new rivr project: rivr.yaml, scripts/main.rhai and its scenarios.
    New {
        /// Directory to create (must not exist or be empty).
        dir: PathBuf,
    },
    /// Compile scripts and report every error with file:line:col; exits 1 on any.
    Check {
        /// Scripts or directories (default: ./scripts).
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sim { script, from, to, vars, dials, scripts } => {
            let variables = vars
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--var {pair}: write name=value"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let dials = dials
                .iter()
                .map(|text| {
                    SimDial::parse(text).with_context(|| {
                        format!("--dial {text}: use answered[:SECONDS], busy, no_answer or failed")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let options = SimOptions {
                script,
                scripts_dir: scripts,
                from,
                to,
                variables,
                dials,
                limits: Limits::default(),
                fallback: rivr::config::Fallback::default(),
            };
            let interactive = console::stdin_is_terminal();
            let input = Box::new(std::io::BufReader::new(std::io::stdin()));
            match console::simulate(options, input, console::stdout_printer(), interactive) {
                Ok(report) => Ok(match report.ending {
                    rivr::script::runner::Ending::Failed(_) => ExitCode::from(1),
                    _ => ExitCode::SUCCESS,
                }),
                Err(console::SimError::Compile(problem)) => {
                    eprintln!("{problem}");
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
        Command::Test { paths, format, junit } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("scripts")] } else { paths };
            if format != "text" && format != "junit" {
                anyhow::bail!("--format {format}: use text or junit");
            }
            let outcome = rivr::scenario::cli::run(&paths, format == "junit", junit.as_deref())?;
            Ok(if outcome { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::New { dir } => {
            rivr::scenario::scaffold::create(&dir)?;
            println!(
                "created {}: try `rivr test {}` and `rivr sim {}`",
                dir.display(),
                dir.join("scripts").display(),
                dir.join("scripts/main.rhai").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { paths } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("scripts")] } else { paths };
            let report = rivr::check::check_paths(&paths, &Limits::default());
            for problem in &report.problems {
                println!("{problem}");
            }
            let noun = if report.checked == 1 { "script" } else { "scripts" };
            if report.problems.is_empty() {
                println!("checked {} {noun}: no problems", report.checked);
                Ok(ExitCode::SUCCESS)
            } else {
                println!("checked {} {noun}: {} problem(s)", report.checked, report.problems.len());
                Ok(ExitCode::from(1))
            }
        }
    }
}
