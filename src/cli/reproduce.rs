//! `tms-exact reproduce`: runs the study recipes under `analysis/` with this binary's own
//! subcommands (in-process), writing figures and reports (see [`tms_exact::reproduce`]).

use std::io::Write;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, Parser};

use super::output::write_out;
use tms_exact::error::{Error, Result};
use tms_exact::reproduce::{self, Layout, Outcome, StepRunner};

/// Arguments of `tms-exact reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Studies to run (directories under analysis/ holding a recipe.toml)
    #[arg(value_name = "STUDY")]
    pub studies: Vec<String>,
    /// Run every study
    #[arg(long, conflicts_with = "studies")]
    pub all: bool,
    /// Reduced settings (each recipe's `quick` values), written under --into instead of
    /// figures/ and analysis/
    #[arg(long)]
    pub quick: bool,
    /// Where a --quick run writes its figures and reports
    #[arg(
        long,
        value_name = "DIR",
        default_value = "target/reproduce-quick",
        requires = "quick"
    )]
    pub into: PathBuf,
    /// Run even when the recipe and the binary are unchanged since the last run
    #[arg(long)]
    pub force: bool,
    /// List the studies (name, title, steps, whether up to date) and exit
    #[arg(long)]
    pub list: bool,
    /// The repository root holding analysis/ and figures/
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
}

/// Runs a step as `tms-exact ARGS…` in this process.
struct InProcess;

impl InProcess {
    fn parse(args: &[String]) -> Result<super::Cli> {
        let argv = std::iter::once("tms-exact".to_string()).chain(args.iter().cloned());
        super::Cli::try_parse_from(argv).map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                Error::invalid("a step may not ask for --help or --version")
            }
            _ => Error::invalid(super::clap_message(&e)),
        })
    }
}

impl StepRunner for InProcess {
    fn check(&self, args: &[String]) -> Result<()> {
        Self::parse(args).map(|_| ())
    }

    fn run(&self, args: &[String], out: &mut Vec<u8>) -> Result<()> {
        super::run(Self::parse(args)?, out)
    }
}

/// Hash of the running binary: a rebuilt binary re-runs every study.
fn binary_hash() -> Result<u64> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        path: PathBuf::from("<current executable>"),
        source,
    })?;
    let bytes = std::fs::read(&exe).map_err(|source| Error::Io { path: exe, source })?;
    Ok(reproduce::fnv1a(&bytes))
}

pub(crate) fn run(args: &ReproduceArgs, out: &mut dyn Write) -> Result<()> {
    let layout = Layout {
        root: args.root.clone(),
        quick: args.quick.then(|| args.into.clone()),
    };
    if !layout.analysis().is_dir() {
        return Err(Error::invalid(format!(
            "{} has no analysis/ directory: run from the repository root or give --root",
            args.root.display()
        )));
    }
    let binary = binary_hash()?;
    if args.list {
        let mut text = String::new();
        for s in reproduce::studies(&layout)? {
            text.push_str(&format!(
                "{:<24} {:>3} steps  {:<11} {}\n",
                s.name,
                s.recipe.steps.len(),
                if reproduce::up_to_date(&layout, &s, binary) {
                    "up to date"
                } else {
                    "to run"
                },
                s.recipe.title
            ));
        }
        return write_out(out, &text);
    }
    // Load every requested study first, so a bad name or recipe fails before anything runs.
    let studies = if args.all {
        reproduce::studies(&layout)?
    } else if args.studies.is_empty() {
        return Err(Error::invalid(
            "name the studies to run, or --all (--list shows them)",
        ));
    } else {
        args.studies
            .iter()
            .map(|n| reproduce::load(&layout, n))
            .collect::<Result<Vec<_>>>()?
    };
    let mut log = std::io::stderr();
    for s in &studies {
        let outcome = reproduce::run(&layout, s, &InProcess, binary, args.force, &mut log)?;
        let line = match outcome {
            Outcome::UpToDate => format!(
                "{}: up to date (recipe and binary unchanged; --force runs it)\n",
                s.name
            ),
            Outcome::Ran {
                steps,
                reused,
                figures,
            } => format!(
                "{}: {steps} step{}{}, {figures} figure{} → {}, report {}\n",
                s.name,
                if steps == 1 { "" } else { "s" },
                if reused > 0 {
                    format!(" ({reused} unchanged, output reused)")
                } else {
                    String::new()
                },
                if figures == 1 { "" } else { "s" },
                layout.figures(&s.name).display(),
                layout.report(&s.name).display()
            ),
        };
        write_out(out, &line)?;
    }
    Ok(())
}
