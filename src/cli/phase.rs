//! `tms-exact phase`: phase diagrams over (r, density) — fixed-configuration theory, the exact
//! optimum and the SGD protocol, alone or side by side — and `tms-exact phase merge` for
//! shards computed by separate jobs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::output::{align, announce_duration, write_out, Bar};
use tms_exact::error::{Error, Result};
use tms_exact::model::Activation;
use tms_exact::phase::csv::Table;
use tms_exact::phase::figure::{self, BoundaryPoint};
use tms_exact::phase::grid::{parse_grid, parse_range, Grid, LogAxis, Shard};
use tms_exact::phase::theory::{self, Candidate};
use tms_exact::phase::{self as ph, PhaseMethod, RunOptions, Setting};

/// Arguments of `tms-exact phase`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = PHASE_HELP)]
pub struct PhaseArgs {
    #[command(subcommand)]
    pub command: Option<PhaseCommand>,
    /// Number of features (the last one is the extra feature, importance r)
    #[arg(long, value_name = "N")]
    pub n: Option<usize>,
    /// Hidden dimensions
    #[arg(long, value_name = "M")]
    pub m: Option<usize>,
    /// theory (cheapest fixed configuration), exact (global exact optimum) or sgd (ten
    /// trained models, the worst discarded)
    #[arg(long, value_name = "METHOD", conflicts_with = "compare")]
    pub method: Option<String>,
    /// Several methods side by side, e.g. theory,exact,sgd (cells that differ from exact are
    /// dotted)
    #[arg(long, value_name = "M1,M2,…")]
    pub compare: Option<String>,
    /// Grid size: N (both axes) or NR,NS (r values, density values)
    #[arg(long, value_name = "N|NR,NS", default_value = "50")]
    pub grid: String,
    /// Range of r, the extra feature's importance (log axis)
    #[arg(long, value_name = "A:B", default_value = "0.1:10")]
    pub r_range: String,
    /// Range of the density shared by all features (log axis)
    #[arg(long, value_name = "A:B", default_value = "0.01:1")]
    pub density_range: String,
    /// Output activation: relu, leaky_relu[:alpha], linear, or (n = 2) gelu, softplus
    #[arg(long, value_name = "ACT", default_value = "relu")]
    pub activation: String,
    /// Hold every bias at 0 (McGrath's setting) instead of leaving them free
    #[arg(long)]
    pub no_bias: bool,
    /// theory: fixed configurations from a JSON list ({"name","W","b"} objects, b entries
    /// numbers or "s/2", or model-file paths) instead of the paper's
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
    /// exact: seeded starts per cell (continuation from the neighbours comes on top)
    /// [default: 1 for n = 2, 6 otherwise]
    #[arg(long, value_name = "K")]
    pub restarts: Option<usize>,
    /// exact and sgd: seed
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// exact: most up-and-down continuation sweeps per row
    #[arg(long, value_name = "P", default_value_t = 10)]
    pub passes: usize,
    /// sgd: models trained per cell (the worst is discarded)
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub models: usize,
    /// sgd: training steps per model
    #[arg(long, value_name = "T", default_value_t = 10_000)]
    pub steps: usize,
    /// sgd: batch size
    #[arg(long, value_name = "B", default_value_t = 1024)]
    pub batch: usize,
    /// Compute only rows K, K+N, … of r (1 ≤ K ≤ N), for a job array; join the CSVs with
    /// `phase merge`
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Write the per-cell table (with --compare: one file per method, FILE's name + -METHOD)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the figure PREFIX.png and PREFIX.svg
    #[arg(long, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
    /// Do not locate and draw the boundaries
    #[arg(long)]
    pub no_boundaries: bool,
}

/// `tms-exact phase merge`.
#[derive(Debug, Subcommand)]
pub enum PhaseCommand {
    /// Join the CSVs of `phase --shard K/N` runs into the table one run would have written
    Merge(MergeArgs),
}

/// Arguments of `tms-exact phase merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' CSV files (every K/N of one split, any order)
    #[arg(value_name = "SHARD.csv", required = true)]
    pub shards: Vec<PathBuf>,
    /// The merged table
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Also draw the figure PREFIX.png and PREFIX.svg
    #[arg(long, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
    /// theory tables from --configs: the same file, to locate the boundaries
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
}

const PHASE_HELP: &str = "Examples:
  tms-exact phase --n 2 --m 1 --method exact --grid 200 --csv n2m1.csv --out n2m1
  tms-exact phase --n 2 --m 1 --compare theory,exact,sgd --grid 20 --steps 2000 --out cmp
  tms-exact phase --n 3 --m 2 --method exact --grid 100 --shard 3/10 --csv part3.csv
  tms-exact phase merge part*.csv --csv n3m2.csv --out n3m2
r is the importance of the last feature (the others have importance 1); the density is shared.
The CSV starts with a '# tms-exact phase …' settings line, then r,density,phase,loss,…,W,b.";

pub(crate) fn run(args: &PhaseArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(PhaseCommand::Merge(m)) = &args.command {
        return merge(m, out);
    }
    let start = Instant::now();
    let (n, m) = match (args.n, args.m) {
        (Some(n), Some(m)) => (n, m),
        _ => return Err(Error::invalid("phase needs --n and --m (e.g. --n 2 --m 1)")),
    };
    let activation: Activation = args.activation.parse()?;
    let setting = Setting::new(n, m, activation, args.no_bias)?;
    let methods: Vec<PhaseMethod> = match (&args.method, &args.compare) {
        (Some(mth), None) => vec![PhaseMethod::parse(mth)?],
        (None, Some(list)) => {
            let v: Vec<PhaseMethod> = list
                .split(',')
                .map(PhaseMethod::parse)
                .collect::<Result<_>>()?;
            if v.len() < 2 || (1..v.len()).any(|k| v[..k].contains(&v[k])) {
                return Err(Error::invalid(format!(
                    "--compare '{list}' must name at least two different methods (theory, exact, sgd)"
                )));
            }
            v
        }
        _ => {
            return Err(Error::invalid(
                "give --method theory|exact|sgd, or --compare theory,exact,sgd",
            ))
        }
    };
    let (nr, ns) = parse_grid(&args.grid)?;
    let (r0, r1) = parse_range("--r-range", &args.r_range)?;
    let (s0, s1) = parse_range("--density-range", &args.density_range)?;
    let grid = Grid::new(
        LogAxis::new("r", r0, r1, nr)?,
        LogAxis::new("density", s0, s1, ns)?,
    )?;
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    if shard.count > nr {
        return Err(Error::invalid(format!(
            "--shard {}/{}: the grid has only {nr} rows of r, so some shards would be empty",
            shard.index, shard.count
        )));
    }
    if !shard.is_all() && (args.out.is_some() || methods.len() > 1 || args.csv.is_none()) {
        return Err(Error::invalid(
            "--shard writes one method's rows to --csv only; draw the figure after `phase merge`",
        ));
    }
    if args.csv.is_none() && args.out.is_none() {
        return Err(Error::invalid(
            "nothing to write: give --csv FILE and/or --out PREFIX",
        ));
    }
    let mut opts = RunOptions::new(&setting);
    if let Some(k) = args.restarts {
        opts.exact.restarts = k;
    }
    opts.exact.seed = args.seed;
    opts.exact.max_passes = args.passes;
    opts.sgd.models = args.models;
    opts.sgd.steps = args.steps;
    opts.sgd.batch = args.batch;
    opts.sgd.seed = args.seed;
    if let Some(path) = &args.configs {
        opts.candidates = theory::read_candidates(path, &setting)?;
        opts.candidates_label = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
    }
    if methods.contains(&PhaseMethod::Theory) && opts.candidates.is_empty() {
        return Err(Error::invalid(format!(
            "the paper has no fixed configurations for n = {n}, m = {m}: give --configs FILE"
        )));
    }
    if opts.exact.restarts == 0 {
        return Err(Error::invalid("--restarts must be at least 1"));
    }
    // Every output path is checked before any work, and everything is written at the end,
    // together (no partial CSV or figure).
    let csv_paths: Vec<PathBuf> = match &args.csv {
        None => Vec::new(),
        Some(p) if methods.len() == 1 => vec![p.clone()],
        Some(p) => methods.iter().map(|mt| suffixed(p, mt.name())).collect(),
    };
    for p in &csv_paths {
        tms_exact::io::check_output_path(p)?;
    }
    if let Some(prefix) = &args.out {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        tms_exact::io::check_output_path(&png)?;
        tms_exact::io::check_output_path(&svg)?;
    }
    if methods.contains(&PhaseMethod::Sgd) {
        ph::sgd::check(&setting)?;
    }
    // The engine must exist for this setting (e.g. smooth activations need quadrature).
    setting.engine(grid.r.lo, grid.density.hi)?;
    let rows = shard.rows(nr).len();
    for &mt in &methods {
        let secs = ph::seconds(mt, &setting, rows * ns, &opts);
        tms_exact::limits::check_seconds(
            secs,
            &format!("the {} diagram on {} cells", mt.name(), rows * ns),
            "a coarser --grid, or --shard K/N across jobs",
        )?;
        announce_duration(
            &format!("the {} diagram", mt.name()),
            secs,
            "a coarser --grid or --shard K/N shortens it",
        );
    }
    let mut tables = Vec::new();
    for &mt in &methods {
        let bar = Bar::new(match mt {
            PhaseMethod::Theory => "theory",
            PhaseMethod::Exact => "exact",
            PhaseMethod::Sgd => "training",
        });
        tables.push(ph::run(mt, &setting, &grid, shard, &opts, &bar)?);
    }
    let boundaries: Vec<Vec<BoundaryPoint>> = if args.no_boundaries || !shard.is_all() {
        vec![Vec::new(); tables.len()]
    } else {
        tables
            .iter()
            .map(|t| figure::boundaries(t, &opts.candidates))
            .collect::<Result<_>>()?
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = csv_paths
        .iter()
        .zip(&tables)
        .map(|(p, t)| (p.clone(), t.to_csv().into_bytes()))
        .collect();
    if let Some(prefix) = &args.out {
        files.extend(draw(&tables, &boundaries, prefix)?);
    }
    let refs: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (p.as_path(), &b[..])).collect();
    tms_exact::io::write_all_atomic(&refs)?;
    let text = summary(&tables, &boundaries, &files, start.elapsed().as_secs_f64());
    write_out(out, &text)
}

/// `dir/name.csv` → `dir/name-METHOD.csv`.
fn suffixed(p: &Path, method: &str) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match p.extension() {
        Some(e) => format!("{stem}-{method}.{}", e.to_string_lossy()),
        None => format!("{stem}-{method}"),
    };
    p.with_file_name(name)
}

fn draw(
    tables: &[Table],
    boundaries: &[Vec<BoundaryPoint>],
    prefix: &Path,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let refs: Vec<&Table> = tables.iter().collect();
    let lines: Vec<_> = boundaries.iter().map(|b| figure::polylines(b)).collect();
    let reference = if tables.len() > 1 {
        Some(
            tables
                .iter()
                .position(|t| t.meta.method == PhaseMethod::Exact)
                .unwrap_or(0),
        )
    } else {
        None
    };
    let fig = figure::figure(&refs, &lines, reference)?;
    let rendered = tms_exact::plot::draw(&fig)?;
    let (png, svg) = tms_exact::plot::output_paths(prefix);
    Ok(vec![(png, rendered.png), (svg, rendered.svg.into_bytes())])
}

fn summary(
    tables: &[Table],
    boundaries: &[Vec<BoundaryPoint>],
    files: &[(PathBuf, Vec<u8>)],
    seconds: f64,
) -> String {
    let t0 = &tables[0];
    let g = t0.meta.grid;
    let mut s = format!(
        "# phase diagram · {} · r {}…{} ({} values) · density {}…{} ({} values)",
        t0.meta.setting.describe(),
        g.r.lo,
        g.r.hi,
        g.r.count,
        g.density.lo,
        g.density.hi,
        g.density.count
    );
    if !t0.meta.shard.is_all() {
        s.push_str(&format!(
            " · shard {}/{}",
            t0.meta.shard.index, t0.meta.shard.count
        ));
    }
    s.push('\n');
    for (t, b) in tables.iter().zip(boundaries) {
        let total = t.records.iter().flatten().count();
        s.push_str(&format!(
            "\n{} ({}):\n",
            t.meta.method.name(),
            t.meta.options
        ));
        let mut rows = vec![vec!["phase".to_string(), "cells".into(), "share".into()]];
        for name in figure::legend(&[t]) {
            let k = t
                .records
                .iter()
                .flatten()
                .filter(|r| r.phase == name)
                .count();
            rows.push(vec![
                name,
                k.to_string(),
                format!("{:.1}%", 100.0 * k as f64 / total.max(1) as f64),
            ]);
        }
        s.push_str(&align(&rows));
        if t.meta.method == PhaseMethod::Exact {
            let worst = t
                .records
                .iter()
                .flatten()
                .map(|r| r.values[0].parse::<f64>().unwrap_or(f64::NAN))
                .fold(0.0f64, |a, v| if v.is_nan() { f64::NAN } else { a.max(v) });
            let kinds = |k: &str| {
                t.records
                    .iter()
                    .flatten()
                    .filter(|r| r.values[1] == k)
                    .count()
            };
            let not_min = total - kinds("strict_minimum") - kinds("degenerate");
            let unchecked = kinds("gradient_only");
            if unchecked > 0 {
                s.push_str(&format!(
                    "largest ‖∇L‖ {worst:.1e}; curvature not checked (quadrature route, gradient \
                     only) in {unchecked} cells\n"
                ));
            } else {
                s.push_str(&format!(
                    "largest ‖∇L‖ {worst:.1e}; cells whose optimum is not a (strict or \
                     degenerate) minimum: {not_min}\n"
                ));
            }
        }
        if !b.is_empty() {
            let first = b
                .iter()
                .filter(|p| p.transition == ph::boundary::Transition::FirstOrder)
                .count();
            s.push_str(&format!(
                "boundary points located: {} ({first} first-order crossings, {} continuous)\n",
                b.len(),
                b.len() - first
            ));
        }
    }
    if tables.len() > 1 {
        s.push_str(&comparison(tables));
    }
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    s.push_str(&format!("\nwrote {}\n", names.join(", ")));
    s.push_str(&format!("time {seconds:.1} s\n"));
    s
}

/// Disagreement with the exact optimum, the largest gap between theory and exact, and the
/// exact phases theory has no configuration for.
fn comparison(tables: &[Table]) -> String {
    let mut s = String::new();
    let Some(ex) = tables.iter().find(|t| t.meta.method == PhaseMethod::Exact) else {
        return s;
    };
    let g = ex.meta.grid;
    for t in tables
        .iter()
        .filter(|t| t.meta.method != PhaseMethod::Exact)
    {
        let mut differ = 0;
        let mut gap: Option<(f64, usize, usize)> = None;
        for ir in 0..g.r.count {
            for is in 0..g.density.count {
                let (Some(a), Some(b)) = (t.get(ir, is), ex.get(ir, is)) else {
                    continue;
                };
                if a.phase != b.phase {
                    differ += 1;
                }
                if t.meta.method == PhaseMethod::Theory && a.loss > 0.0 {
                    let rel = (a.loss - b.loss) / a.loss;
                    if gap.is_none_or(|(gm, _, _)| rel > gm) {
                        gap = Some((rel, ir, is));
                    }
                }
            }
        }
        s.push_str(&format!(
            "\n{} vs exact: phases differ in {differ} of {} cells ({:.1}%)\n",
            t.meta.method.name(),
            g.cells(),
            100.0 * differ as f64 / g.cells() as f64
        ));
        if let Some((rel, ir, is)) = gap {
            s.push_str(&format!(
                "largest relative gap (L_theory − L_exact)/L_theory = {rel:.4e} at r = {:.4}, \
                 density = {:.4} (theory {}, exact {})\n",
                g.r.value(ir),
                g.density.value(is),
                t.get(ir, is).map_or("", |r| r.phase.as_str()),
                ex.get(ir, is).map_or("", |r| r.phase.as_str())
            ));
            let theirs: Vec<String> = figure::legend(&[t]);
            let missed: Vec<String> = figure::legend(&[ex])
                .into_iter()
                .filter(|p| !theirs.contains(p))
                .collect();
            s.push_str(&format!(
                "exact phases no fixed configuration wins anywhere: {}\n",
                if missed.is_empty() {
                    "none".to_string()
                } else {
                    missed.join(", ")
                }
            ));
        }
    }
    s
}

fn merge(args: &MergeArgs, out: &mut dyn Write) -> Result<()> {
    let start = Instant::now();
    tms_exact::io::check_output_path(&args.csv)?;
    if let Some(prefix) = &args.out {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        tms_exact::io::check_output_path(&png)?;
        tms_exact::io::check_output_path(&svg)?;
    }
    let shards: Vec<(PathBuf, Table)> = args
        .shards
        .iter()
        .map(|p| Ok((p.clone(), Table::read(p)?)))
        .collect::<Result<_>>()?;
    let table = ph::csv::merge(&shards)?;
    let mut files = vec![(args.csv.clone(), table.to_csv().into_bytes())];
    let mut bounds = vec![Vec::new()];
    if let Some(prefix) = &args.out {
        let setting = table.meta.setting;
        let cands: Vec<Candidate> = match &args.configs {
            Some(p) => theory::read_candidates(p, &setting)?,
            None => theory::default_candidates(&setting).unwrap_or_default(),
        };
        bounds = vec![figure::boundaries(&table, &cands)?];
        files.extend(draw(std::slice::from_ref(&table), &bounds, prefix)?);
    }
    let refs: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (p.as_path(), &b[..])).collect();
    tms_exact::io::write_all_atomic(&refs)?;
    let text = summary(&[table], &bounds, &files, start.elapsed().as_secs_f64());
    write_out(out, &text)
}
