//! Reproducible studies: `analysis/<study>/recipe.toml` names the commands of one study;
//! [`run`] executes them and writes the figures into `figures/<study>/` and a markdown report
//! `analysis/<study>/README.md` with every step's output and figure embedded.
//!
//! A recipe:
//!
//! ```toml
//! title = "McGrath's loss surfaces"
//! summary = """Markdown put at the top of the report: the setting and the findings."""
//!
//! [[step]]
//! name = "sparse"                        # unique in the study
//! caption = "Sparse data, unequal importances"
//! args = ["surface", "--n", "2", "--m", "1", "--density", "0.1", "--grid", "200",
//!         "--out", "{fig}/sparse"]
//! quick = { "--grid" = "16" }            # values used instead under --quick
//! vary = { p = ["0.1", "0.5"] }          # optional: one step per value, "{p}" substituted
//! output = true                          # put the printed output in the report (default)
//! ```
//!
//! `{fig}` is the study's figure directory and `{work}` a scratch directory for intermediate
//! files (models passed from one step to the next), under `target/`. Steps run in order, each
//! as the subcommand of the same binary (the caller supplies a [`StepRunner`]).
//!
//! A study is skipped when its recipe and the binary are unchanged since the last run (the
//! stamp `figures/<study>/reproduce.stamp`) and its report exists, unless forced. `--quick`
//! runs never touch `analysis/` or `figures/`: they write into a separate directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The file name of a study's recipe inside `analysis/<study>/`.
pub const RECIPE_FILE: &str = "recipe.toml";
/// The file name of the stamp inside `figures/<study>/`.
pub const STAMP_FILE: &str = "reproduce.stamp";

/// One step as written in the recipe file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    #[serde(default)]
    caption: String,
    args: Vec<String>,
    #[serde(default)]
    quick: BTreeMap<String, String>,
    #[serde(default)]
    vary: BTreeMap<String, Vec<String>>,
    #[serde(default = "yes")]
    output: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(rename = "step", default)]
    steps: Vec<RawStep>,
}

/// One command of a study, with its `vary` values substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub caption: String,
    /// The subcommand and its flags; `{fig}` and `{work}` are still to be expanded.
    pub args: Vec<String>,
    /// Flag values used instead under `--quick`.
    pub quick: BTreeMap<String, String>,
    /// Whether the printed output goes into the report.
    pub output: bool,
}

/// A parsed and checked recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub title: String,
    pub summary: String,
    pub steps: Vec<Step>,
}

/// A study: its name (the directory under `analysis/`), recipe file and the recipe.
#[derive(Debug, Clone)]
pub struct Study {
    pub name: String,
    pub path: PathBuf,
    pub recipe: Recipe,
    /// Hash of the recipe file's bytes (for the stamp).
    pub recipe_hash: u64,
}

/// The placeholders every step may use.
const PLACEHOLDERS: [&str; 2] = ["fig", "work"];

/// Subcommands a recipe may not run (a study running studies would recurse).
const FORBIDDEN: [&str; 1] = ["reproduce"];

impl Recipe {
    /// Parses recipe text; `path` names the file in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawRecipe = toml::from_str(text).map_err(|e| {
            Error::format(
                path,
                format!("malformed recipe: {}", one_line(&e.to_string())),
            )
        })?;
        let bad = |msg: String| Error::format(path, msg);
        if raw.title.trim().is_empty() {
            return Err(bad("key 'title' is empty".into()));
        }
        if raw.steps.is_empty() {
            return Err(bad("no [[step]]: a recipe needs at least one".into()));
        }
        let mut steps = Vec::new();
        for (k, s) in raw.steps.iter().enumerate() {
            let at = format!("step {} ('{}')", k + 1, s.name);
            if s.name.trim().is_empty() {
                return Err(bad(format!("step {}: key 'name' is empty", k + 1)));
            }
            if s.args.is_empty() {
                return Err(bad(format!("{at}: key 'args' is empty")));
            }
            if FORBIDDEN.contains(&s.args[0].as_str()) {
                return Err(bad(format!(
                    "{at}: key 'args' runs '{}', which a recipe may not",
                    s.args[0]
                )));
            }
            for flag in s.quick.keys() {
                if !s.args.iter().any(|a| a == flag) {
                    return Err(bad(format!(
                        "{at}: key 'quick' sets {flag}, which is not among its args"
                    )));
                }
            }
            let lens: BTreeSet<usize> = s.vary.values().map(Vec::len).collect();
            if lens.len() > 1 || lens.contains(&0) {
                return Err(bad(format!(
                    "{at}: key 'vary' needs lists of one common, non-zero length"
                )));
            }
            for var in s.vary.keys() {
                if PLACEHOLDERS.contains(&var.as_str()) || !is_identifier(var) {
                    return Err(bad(format!(
                        "{at}: key 'vary' names '{var}', which is not a free identifier"
                    )));
                }
            }
            let count = lens.into_iter().next().unwrap_or(1);
            for v in 0..count {
                let sub = |t: &str| -> String {
                    s.vary.iter().fold(t.to_string(), |acc, (var, vals)| {
                        acc.replace(&format!("{{{var}}}"), &vals[v])
                    })
                };
                let step = Step {
                    name: sub(&s.name),
                    caption: sub(&s.caption),
                    args: s.args.iter().map(|a| sub(a)).collect(),
                    quick: s.quick.iter().map(|(f, x)| (f.clone(), sub(x))).collect(),
                    output: s.output,
                };
                for text in step.args.iter().chain([&step.name, &step.caption]) {
                    if let Some(p) = unknown_placeholder(text) {
                        return Err(bad(format!(
                            "{at}: unknown placeholder {{{p}}} (known: {{fig}}, {{work}} and \
                             the names under 'vary')"
                        )));
                    }
                }
                steps.push(step);
            }
        }
        let mut seen = BTreeSet::new();
        for s in &steps {
            if !seen.insert(s.name.as_str()) {
                return Err(bad(format!("two steps are named '{}'", s.name)));
            }
        }
        Ok(Recipe {
            title: raw.title,
            summary: raw.summary,
            steps,
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first `{name}` in `text` that is not a known placeholder.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i + 1..];
        match tail.find('}') {
            Some(j) if is_identifier(&tail[..j]) => {
                if !PLACEHOLDERS.contains(&&tail[..j]) {
                    return Some(tail[..j].to_string());
                }
                rest = &tail[j + 1..];
            }
            _ => rest = tail,
        }
    }
    None
}

/// Where a run reads recipes and writes its results.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The repository root (holds `analysis/`, `figures/`, `target/`).
    pub root: PathBuf,
    /// `Some(dir)`: a quick run writing everything under `dir` instead.
    pub quick: Option<PathBuf>,
}

impl Layout {
    fn base(&self) -> &Path {
        self.quick.as_deref().unwrap_or(&self.root)
    }

    /// `analysis/` under the root (recipes are always read from there).
    pub fn analysis(&self) -> PathBuf {
        self.root.join("analysis")
    }

    /// The study's figure directory.
    pub fn figures(&self, study: &str) -> PathBuf {
        self.base().join("figures").join(study)
    }

    /// The study's report.
    pub fn report(&self, study: &str) -> PathBuf {
        self.base().join("analysis").join(study).join("README.md")
    }

    /// The study's scratch directory.
    pub fn work(&self, study: &str) -> PathBuf {
        match &self.quick {
            Some(q) => q.join("work").join(study),
            None => self.root.join("target").join("reproduce").join(study),
        }
    }
}

/// Every study under `analysis/` (directories holding a recipe), sorted by name.
pub fn studies(layout: &Layout) -> Result<Vec<Study>> {
    let dir = layout.analysis();
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        if e.path().join(RECIPE_FILE).is_file() {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names.iter().map(|n| load(layout, n)).collect()
}

/// Loads one study by name.
pub fn load(layout: &Layout, name: &str) -> Result<Study> {
    let path = layout.analysis().join(name).join(RECIPE_FILE);
    if !is_identifier(&name.replace('-', "_")) || !path.is_file() {
        let known: Vec<String> = std::fs::read_dir(layout.analysis())
            .map(|d| {
                let mut v: Vec<String> = d
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join(RECIPE_FILE).is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        return Err(Error::invalid(format!(
            "unknown study '{name}' (no {}; studies: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Error::format(&path, "a recipe must be UTF-8 text"))?;
    Ok(Study {
        name: name.to_string(),
        recipe: Recipe::parse(&text, &path)?,
        path,
        recipe_hash: fnv1a(&bytes),
    })
}

/// FNV-1a, 64 bits: a stable hash for the stamp (std's hasher may change between releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn stamp_text(study: &Study, binary: u64) -> String {
    format!("recipe {:016x}\nbinary {binary:016x}\n", study.recipe_hash)
}

/// Whether the study's stamp says it is up to date with this recipe and binary.
pub fn up_to_date(layout: &Layout, study: &Study, binary: u64) -> bool {
    let stamp = layout.figures(&study.name).join(STAMP_FILE);
    std::fs::read_to_string(stamp).is_ok_and(|s| s == stamp_text(study, binary))
        && layout.report(&study.name).is_file()
}

/// Runs one step: `args` are the subcommand and its flags, expanded; the printed output goes
/// to `out`.
pub trait StepRunner {
    /// Checks that `args` form a valid command line, without running it.
    fn check(&self, args: &[String]) -> Result<()>;
    fn run(&self, args: &[String], out: &mut Vec<u8>) -> Result<()>;
}

/// The arguments of a step as run: placeholders expanded, quick values applied.
pub fn expand(step: &Step, fig: &Path, work: &Path, quick: bool) -> Vec<String> {
    let mut args: Vec<String> = step
        .args
        .iter()
        .map(|a| {
            a.replace("{fig}", &fig.to_string_lossy())
                .replace("{work}", &work.to_string_lossy())
        })
        .collect();
    if quick {
        for (flag, value) in &step.quick {
            if let Some(i) = args.iter().position(|a| a == flag) {
                if i + 1 < args.len() {
                    args[i + 1] = value.clone();
                }
            }
        }
    }
    args
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Skipped: recipe and binary unchanged.
    UpToDate,
    /// Went through every step (running it, or reusing the output of `reused` unchanged steps
    /// at the front); the report was written.
    Ran {
        steps: usize,
        reused: usize,
        figures: usize,
    },
}

/// Runs a study's steps in order and writes its report (and, unless quick, its stamp).
/// `log` receives one line per step as it starts and finishes.
pub fn run(
    layout: &Layout,
    study: &Study,
    runner: &dyn StepRunner,
    binary: u64,
    force: bool,
    log: &mut dyn Write,
) -> Result<Outcome> {
    let quick = layout.quick.is_some();
    if !quick && !force && up_to_date(layout, study, binary) {
        return Ok(Outcome::UpToDate);
    }
    let fig = layout.figures(&study.name);
    let work = layout.work(&study.name);
    for d in [&fig, &work] {
        std::fs::create_dir_all(d).map_err(|source| Error::Io {
            path: d.clone(),
            source,
        })?;
    }
    let report_path = layout.report(&study.name);
    if let Some(parent) = report_path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let total = study.recipe.steps.len();
    // Every command line is checked before the first step runs, so a typo in the last step
    // does not cost the time of the others.
    for step in &study.recipe.steps {
        runner
            .check(&expand(step, &fig, &work, quick))
            .map_err(|e| step_error(study, step, e))?;
    }
    let mut sections = Vec::new();
    let mut figures = 0;
    // Steps are reused while they and every step before them are unchanged (same expanded
    // command, same binary) and their output is on record: editing a recipe's text or a late
    // step re-renders the report without re-running an hour of earlier steps.
    let mut reuse = !quick && !force;
    let mut reused = 0;
    for (k, step) in study.recipe.steps.iter().enumerate() {
        let args = expand(step, &fig, &work, quick);
        // The command as a reader types it from the repository root.
        let shown = expand(
            step,
            &Path::new("figures").join(&study.name),
            &Path::new("target/reproduce").join(&study.name),
            quick,
        );
        let _ = writeln!(
            log,
            "[{}/{total}] {}: tms-exact {}",
            k + 1,
            study.name,
            shell_words(&shown)
        );
        let record = StepRecord::new(&work, step, &args, binary);
        let out = match record.load().filter(|_| reuse) {
            Some(out) => {
                let _ = writeln!(log, "      unchanged: output reused");
                reused += 1;
                out
            }
            None => {
                reuse = false;
                let started = Instant::now();
                let mut out = Vec::new();
                runner
                    .run(&args, &mut out)
                    .map_err(|e| step_error(study, step, e))?;
                let _ = writeln!(
                    log,
                    "      done in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                if !quick {
                    record.save(&out)?;
                }
                out
            }
        };
        let pngs = written_pngs(&args, &shown);
        // Paths in the printed output as the reader sees them from the repository root.
        let printed = String::from_utf8_lossy(&out)
            .replace(&*fig.to_string_lossy(), &format!("figures/{}", study.name))
            .replace(
                &*work.to_string_lossy(),
                &format!("target/reproduce/{}", study.name),
            );
        figures += pngs.len();
        sections.push(section(step, &shown, &printed, &pngs, &study.name));
    }
    let report = report_text(study, &sections, quick);
    crate::io::write_atomic(&report_path, report.as_bytes())?;
    if !quick {
        crate::io::write_atomic(&fig.join(STAMP_FILE), stamp_text(study, binary).as_bytes())?;
    }
    Ok(Outcome::Ran {
        steps: total,
        reused,
        figures,
    })
}

/// A step's printed output kept under the study's work directory, keyed by its expanded
/// command and the binary that ran it.
struct StepRecord {
    path: PathBuf,
    key: String,
}

impl StepRecord {
    fn new(work: &Path, step: &Step, args: &[String], binary: u64) -> Self {
        let command = args.join("\0");
        StepRecord {
            path: work.join(".steps").join(format!("{}.out", step.name)),
            key: format!(
                "binary {binary:016x} command {:016x}\n",
                fnv1a(command.as_bytes())
            ),
        }
    }

    /// The recorded output, if it was recorded for this command and binary.
    fn load(&self) -> Option<Vec<u8>> {
        let bytes = std::fs::read(&self.path).ok()?;
        bytes
            .strip_prefix(self.key.as_bytes())
            .map(|out| out.to_vec())
    }

    fn save(&self, out: &[u8]) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut bytes = self.key.as_bytes().to_vec();
        bytes.extend_from_slice(out);
        crate::io::write_atomic(&self.path, &bytes)
    }
}

/// An error of one step, naming the recipe and the step.
fn step_error(study: &Study, step: &Step, e: Error) -> Error {
    let msg = format!(
        "{}, step '{}': {}",
        study.path.display(),
        step.name,
        e.to_string().trim_start_matches("invalid input: ")
    );
    match e {
        Error::Numerical(_) => Error::Numerical(msg),
        Error::TooLarge(_) => Error::TooLarge(msg),
        _ => Error::invalid(msg),
    }
}

/// The PNGs a step wrote: `--out PREFIX` → `PREFIX.png`, when it exists (shown path returned).
fn written_pngs(args: &[String], shown: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a == "--out" && i + 1 < args.len() {
            let png = crate::plot::with_suffix(Path::new(&args[i + 1]), "png");
            if png.is_file() {
                v.push(format!("{}.png", shown[i + 1]));
            }
        }
    }
    v
}

/// Words joined for display, quoted where the shell would need it.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn section(step: &Step, shown: &[String], output: &str, pngs: &[String], study: &str) -> String {
    let mut s = format!(
        "## {}\n\n",
        if step.caption.is_empty() {
            &step.name
        } else {
            &step.caption
        }
    );
    s.push_str("```console\n$ tms-exact ");
    s.push_str(&shell_words(shown));
    s.push('\n');
    if step.output {
        s.push_str(output.trim_end());
        s.push('\n');
    }
    s.push_str("```\n\n");
    for png in pngs {
        // The report sits in analysis/<study>/, the figures in figures/<study>/.
        let rel = png
            .strip_prefix(&format!("figures/{study}/"))
            .unwrap_or(png);
        s.push_str(&format!(
            "![{}](../../figures/{study}/{rel})\n\n",
            if step.caption.is_empty() {
                &step.name
            } else {
                &step.caption
            }
        ));
    }
    s
}

fn report_text(study: &Study, sections: &[String], quick: bool) -> String {
    let mut s = format!("# {}\n\n", study.recipe.title);
    s.push_str(&format!(
        "_Generated by `tms-exact reproduce {}{}`{} from [`{RECIPE_FILE}`]({RECIPE_FILE}); edit \
         the recipe, not this file. The run also writes each figure's SVG and its data (CSV) \
         beside the PNG in `figures/{}/`._\n\n",
        study.name,
        if quick { " --quick" } else { "" },
        if quick { " (reduced settings)" } else { "" },
        study.name
    ));
    if !study.recipe.summary.trim().is_empty() {
        s.push_str(study.recipe.summary.trim());
        s.push_str("\n\n");
    }
    for sec in sections {
        s.push_str(sec);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Recipe> {
        Recipe::parse(t, Path::new("r.toml"))
    }

    #[test]
    fn vary_expands_and_quick_applies() {
        let r = parse(
            r#"title = "t"
[[step]]
name = "s-{p}"
args = ["surface", "--density", "{p}", "--grid", "200", "--out", "{fig}/s-{p}"]
quick = { "--grid" = "8" }
vary = { p = ["0.1", "0.5"] }
"#,
        )
        .unwrap();
        assert_eq!(r.steps.len(), 2);
        assert_eq!(r.steps[1].name, "s-0.5");
        let a = expand(&r.steps[1], Path::new("F"), Path::new("W"), true);
        assert_eq!(
            a,
            [
                "surface",
                "--density",
                "0.5",
                "--grid",
                "8",
                "--out",
                "F/s-0.5"
            ]
        );
        let a = expand(&r.steps[0], Path::new("F"), Path::new("W"), false);
        assert_eq!(a[4], "200");
    }

    #[test]
    fn malformed_recipes_name_the_key() {
        let cases = [
            ("title = \"\"\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\n", "title"),
            ("title = \"t\"\n", "no [[step]]"),
            ("title = \"t\"\n[[step]]\nname=\"a\"\nargs=[]\n", "'args'"),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\nquick={\"--grid\"=\"2\"}\n",
                "'quick'",
            ),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"loss\", \"{x}\"]\n",
                "{x}",
            ),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"reproduce\"]\n",
                "may not",
            ),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\n",
                "two steps",
            ),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\nbogus=1\n",
                "bogus",
            ),
            (
                "title = \"t\"\n[[step]]\nname=\"a\"\nargs=[\"loss\"]\nvary={a=[\"1\"],b=[]}\n",
                "'vary'",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
            assert!(e.starts_with("r.toml"), "{e}");
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let w = shell_words(&["a".into(), "x y".into(), "4*r".into(), "it's".into()]);
        assert_eq!(w, "a 'x y' '4*r' 'it'\\''s'");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
