//! `tms-exact surface`: the exact loss over a 2-D grid, written as CSV + JSON + PNG + SVG.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::output::{align, write_out, Bar};
use super::DataArgs;
use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::surface::{self, BiasMode, Directions, GridSpec, Surface};

/// Plane directions through a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionKind {
    /// Two seeded random Gaussian directions, filter-normalised
    Random,
    /// The two lowest Hessian eigenvectors off the symmetry directions
    Hessian,
}

/// Arguments of `tms-exact surface`.
#[derive(Debug, Args)]
#[command(after_help = SURFACE_HELP)]
pub struct SurfaceArgs {
    /// A model file: draw the plane through its parameters (without it: the n = 2, m = 1
    /// surface over (w₁, w₂))
    #[arg(value_name = "MODEL.json")]
    pub model: Option<PathBuf>,
    /// Number of features (the weight surface needs --n 2 --m 1)
    #[arg(long, value_name = "N")]
    pub n: Option<usize>,
    /// Number of hidden dimensions
    #[arg(long, value_name = "M")]
    pub m: Option<usize>,
    /// Hold the biases at b1,b2 [default: 0,0]
    #[arg(long, value_name = "B1,B2", allow_hyphen_values = true)]
    pub bias: Option<String>,
    /// Minimise the biases exactly at every grid point (W held fixed)
    #[arg(long, conflicts_with = "bias")]
    pub profile_bias: bool,
    /// Both panels side by side: fixed biases (--bias or 0) and profiled
    #[arg(long, conflicts_with = "profile_bias")]
    pub both: bool,
    /// Directions of the plane through MODEL.json
    #[arg(long, value_enum, conflicts_with = "to")]
    pub directions: Option<DirectionKind>,
    /// Draw the plane through MODEL.json and OTHER.json (α = 1 is OTHER)
    #[arg(long, value_name = "OTHER.json")]
    pub to: Option<PathBuf>,
    /// Seed of the random directions [default: 0]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Grid points per axis
    #[arg(long, value_name = "N", default_value_t = 101)]
    pub grid: usize,
    /// Ranges "a:b" (both axes) or "a:b,c:d" [default: -1.5:1.5 for (w₁, w₂); -1:1 for planes;
    /// -0.25:1.25,-0.75:0.75 with --to]
    #[arg(long, value_name = "A:B[,C:D]", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Logarithmic colour scale
    #[arg(long)]
    pub log_color: bool,
    /// Output prefix: writes PREFIX.csv, PREFIX.json, PREFIX.png, PREFIX.svg
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
}

const SURFACE_HELP: &str = "Examples:
  tms-exact surface --n 2 --m 1 --density 0.1 --importance 1,0.5 --both --out fig/pair
  tms-exact surface best.json --directions hessian --grid 81 --out fig/plane
  tms-exact surface a.json --to b.json --out fig/path
The CSV has one row per grid point (header first; w1,w2,loss,b1,b2 for the weight surface);
the JSON names the setting and the marked critical points with their losses.";

pub(crate) fn run(args: &SurfaceArgs, out: &mut dyn Write) -> Result<()> {
    let bar = Bar::new("surface");
    let progress: &dyn tms_exact::progress::Progress = &bar;
    let s = match &args.model {
        None => pair(args, progress)?,
        Some(path) => plane(args, path, progress)?,
    };
    surface::write(&s, &args.out, args.log_color)?;
    write_out(out, &summary(&s, args))
}

fn grid_of(args: &SurfaceArgs, default: ((f64, f64), (f64, f64))) -> Result<GridSpec> {
    let (x, y) = match &args.range {
        Some(r) => surface::parse_range(r)?,
        None => default,
    };
    GridSpec::new(args.grid, x, y)
}

fn pair(args: &SurfaceArgs, progress: &dyn tms_exact::progress::Progress) -> Result<Surface> {
    if args.directions.is_some() || args.to.is_some() || args.seed.is_some() {
        return Err(Error::invalid(
            "--directions, --to and --seed need a model file (surface MODEL.json ...)",
        ));
    }
    match (args.n, args.m) {
        (Some(2), Some(1)) => {}
        (None, _) | (_, None) => {
            return Err(Error::invalid(
                "give a model file, or --n 2 --m 1 for the surface over (w₁, w₂)",
            ))
        }
        (Some(n), Some(m)) => {
            return Err(Error::invalid(format!(
                "the weight surface is for --n 2 --m 1 (got n = {n}, m = {m}); for other models give a model file and --directions"
            )))
        }
    }
    let obj = args.data.objective(2)?;
    let grid = grid_of(args, ((-1.5, 1.5), (-1.5, 1.5)))?;
    let fixed = match &args.bias {
        Some(s) => {
            let b: Vec<f64> = s
                .split(',')
                .map(|t| t.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| Error::invalid(format!("--bias '{s}': expected two numbers b1,b2")))?;
            if b.len() != 2 || b.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "--bias '{s}': expected two finite numbers b1,b2"
                )));
            }
            b
        }
        None => vec![0.0, 0.0],
    };
    let modes = if args.both {
        vec![BiasMode::Fixed(fixed), BiasMode::Profiled]
    } else if args.profile_bias {
        vec![BiasMode::Profiled]
    } else {
        vec![BiasMode::Fixed(fixed)]
    };
    surface::check_outputs(&args.out)?;
    surface::pair_surface(&obj, &grid, &modes, progress)
}

fn plane(
    args: &SurfaceArgs,
    path: &std::path::Path,
    progress: &dyn tms_exact::progress::Progress,
) -> Result<Surface> {
    if args.n.is_some() || args.m.is_some() || args.bias.is_some() || args.profile_bias || args.both
    {
        return Err(Error::invalid(
            "--n, --m, --bias, --profile-bias and --both are for the (w₁, w₂) surface, not a model file's plane",
        ));
    }
    let file = ModelFile::read(path)?;
    let obj = args.data.settings().apply(&file.objective)?;
    let seed = args.seed.unwrap_or(0);
    let name = display_name(path);
    let directions = match (&args.to, args.directions) {
        (Some(other), None) => Directions::Towards {
            other: Box::new(ModelFile::read(other)?.model),
            name: display_name(other),
            seed,
        },
        (None, Some(DirectionKind::Random)) => Directions::Random { seed },
        (None, Some(DirectionKind::Hessian)) => {
            if args.seed.is_some() {
                return Err(Error::invalid(
                    "--seed applies to random directions and --to, not --directions hessian",
                ));
            }
            Directions::Hessian
        }
        _ => {
            return Err(Error::invalid(
                "a model plane needs --directions random|hessian or --to OTHER.json",
            ))
        }
    };
    let grid = grid_of(args, surface::default_plane_range(&directions))?;
    surface::check_outputs(&args.out)?;
    surface::plane_surface(&obj, &file.model, &name, &directions, &grid, progress)
}

fn display_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn summary(s: &Surface, args: &SurfaceArgs) -> String {
    let mut t = format!(
        "{}\n{} × {} grid over {} ∈ [{}, {}], {} ∈ [{}, {}]\n",
        s.title,
        s.xs.len(),
        s.ys.len(),
        s.x_name,
        s.xs[0],
        s.xs[s.xs.len() - 1],
        s.y_name,
        s.ys[0],
        s.ys[s.ys.len() - 1]
    );
    for l in &s.layers {
        let (k, min) = l
            .loss
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .fold(
                (0, f64::INFINITY),
                |a, (k, &v)| if v < a.1 { (k, v) } else { a },
            );
        let nx = s.xs.len();
        t.push_str(&format!(
            "\n{}: lowest grid value {:.10} at ({}, {})\n",
            l.name,
            min,
            s.xs[k % nx],
            s.ys[k / nx]
        ));
        if !l.marks.is_empty() {
            let mut rows = vec![vec![
                s.x_name.clone(),
                s.y_name.clone(),
                "loss".into(),
                "kind".into(),
                "source".into(),
                "basin".into(),
            ]];
            for mk in &l.marks {
                rows.push(vec![
                    format!("{:.6}", mk.x),
                    format!("{:.6}", mk.y),
                    format!("{:.12}", mk.loss),
                    mk.kind.clone(),
                    mk.source.clone(),
                    mk.basin_share
                        .map(|b| format!("{:.1} %", 100.0 * b))
                        .unwrap_or_default(),
                ]);
            }
            t.push_str(&align(&rows));
            if l.marks.iter().any(|m| m.basin_share.is_some()) {
                t.push_str(
                    "basin: share of grid points whose steepest descent on the grid ends at \
                     the minimum\n",
                );
            }
        }
    }
    let paths = surface::output_paths(&args.out);
    t.push_str(&format!(
        "\nwritten: {}\n",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    t
}
