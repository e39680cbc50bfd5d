//! `tms-exact boundary --method theory`: the exact phase boundary between two fixed
//! configurations of the paper's theoretical diagrams — the densities for a rational r, or the
//! boundary as a rational function of r with its validity interval.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};

use super::output::write_out;
use tms_exact::configurations;
use tms_exact::error::{Error, Result};
use tms_exact::model::Activation;
use tms_exact::symbolic::boundary::{
    boundary_at, boundary_symbolic, difference, BoundaryAtR, End, Interval, R,
};
use tms_exact::symbolic::poly::Q;
use tms_exact::symbolic::print::{self, Style};
use tms_exact::symbolic::roots::{crootof_index, RealRoot};

/// How the phases' losses are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BoundaryMethod {
    /// Fixed configurations (nothing optimised), exact
    Theory,
    /// Each phase's exact optimum, followed by continuation from its configuration (with
    /// --r-range: root finding on the difference of the optimal losses, to 1e-10 in density)
    Exact,
}

/// Arguments of `tms-exact boundary`.
#[derive(Debug, Args)]
pub struct BoundaryArgs {
    /// Where the phases come from
    #[arg(long, value_enum)]
    pub method: BoundaryMethod,
    /// Number of features (2 or 3)
    #[arg(long, value_name = "N")]
    pub n: usize,
    /// Hidden dimensions (1 or 2)
    #[arg(long, value_name = "M")]
    pub m: usize,
    /// The two configurations, e.g. "not-represented,antipodal" (n=2, m=1: not-represented,
    /// dedicated, antipodal; n=3, m=2: not-represented, dedicated, antipodal,
    /// others-antipodal, or kernels perp-001, …)
    #[arg(long, value_name = "A,B")]
    pub between: String,
    /// Importance of the extra feature, exact: "1", "0.25" or "3/2" (prints the boundary
    /// densities)
    #[arg(
        long,
        value_name = "R",
        conflicts_with = "symbolic",
        allow_hyphen_values = true
    )]
    pub r: Option<String>,
    /// The boundary as a rational function of r (the default without --r)
    #[arg(long)]
    pub symbolic: bool,
    /// Print only sympy-parsable lines
    #[arg(long)]
    pub sympy: bool,
    /// Digits after the decimal point for numeric roots
    #[arg(long, value_name = "D", default_value_t = 15)]
    pub digits: usize,
    /// The boundary curve over r in [A, B] (log-spaced): root finding along the density at
    /// each r (both methods; the default for --method exact is 0.1:10)
    #[arg(long, value_name = "A:B", conflicts_with_all = ["r", "symbolic", "sympy"])]
    pub r_range: Option<String>,
    /// Values of r on the curve
    #[arg(long, value_name = "K", default_value_t = 50)]
    pub points: usize,
    /// Densities scanned for sign changes before root finding (log-spaced over
    /// --density-range)
    #[arg(long, value_name = "K", default_value_t = 60)]
    pub scan: usize,
    /// Density range scanned for the boundary
    #[arg(long, value_name = "A:B", default_value = "0.0001:1")]
    pub density_range: String,
    /// Write the curve as CSV: r,density,transition
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// A formula in r to compare the curve with, e.g. "4*r/(2+5*r)": prints the largest
    /// deviation
    #[arg(long, value_name = "EXPR")]
    pub compare: Option<String>,
    /// Output activation of the curve (relu, leaky_relu[:alpha], …)
    #[arg(long, value_name = "ACT", default_value = "relu")]
    pub activation: String,
    /// Hold every bias at 0 on the curve (dropped features then get no s/2 bias either)
    #[arg(long)]
    pub no_bias: bool,
}

/// Most digits printed (each digit is exact; more cost bisection steps).
const MAX_DIGITS: usize = 10_000;

/// A rational from "3/2", "0.25", "1e-3" or an integer, exactly as written.
pub fn parse_rational(what: &str, s: &str) -> Result<Q> {
    let bad = || {
        Error::invalid(format!(
            "{what} '{s}' is not a finite rational number (forms: 3/2, 0.25, 1e-3)"
        ))
    };
    let t = s.trim();
    if let Some((a, b)) = t.split_once('/') {
        let a: BigInt = a.trim().parse().map_err(|_| bad())?;
        let b: BigInt = b.trim().parse().map_err(|_| bad())?;
        if b.is_zero() {
            return Err(bad());
        }
        return Ok(Q::new(a, b));
    }
    let (mant, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if ip.trim_start_matches(['-', '+']).is_empty() && fp.is_empty() {
        return Err(bad());
    }
    if !fp.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let digits = format!("{ip}{fp}");
    let digits = if digits == "-" || digits == "+" {
        format!("{digits}0")
    } else {
        digits
    };
    let n: BigInt = digits.parse().map_err(|_| bad())?;
    let e = exp - fp.len() as i32;
    if e.unsigned_abs() > 1000 {
        return Err(bad());
    }
    let p = BigInt::from(10).pow(e.unsigned_abs());
    Ok(if e >= 0 {
        Q::from_integer(n * p)
    } else {
        Q::new(n, p)
    })
}

/// Runs `tms-exact boundary`.
pub fn run(args: &BoundaryArgs, out: &mut dyn Write) -> Result<()> {
    let curve_mode = args.method == BoundaryMethod::Exact || args.r_range.is_some();
    if curve_mode {
        return curve(args, out);
    }
    if args.compare.is_some() || args.csv.is_some() {
        return Err(Error::invalid(
            "--compare and --csv need a curve: give --r-range A:B (or --method exact)",
        ));
    }
    if args.digits > MAX_DIGITS {
        return Err(Error::TooLarge(format!(
            "--digits {} exceeds {MAX_DIGITS}",
            args.digits
        )));
    }
    let (a, b) = args.between.split_once(',').ok_or_else(|| {
        Error::invalid(format!(
            "--between '{}' must name two configurations, e.g. not-represented,antipodal",
            args.between
        ))
    })?;
    let ca = configurations::find(args.n, args.m, a.trim())?;
    let cb = configurations::find(args.n, args.m, b.trim())?;
    if ca.name == cb.name {
        return Err(Error::invalid(format!(
            "--between names the same configuration twice ({})",
            ca.name
        )));
    }
    let diff = difference(&ca, &cb, Activation::Relu)?;
    let style = if args.sympy {
        Style::Sympy
    } else {
        Style::Plain
    };
    let mut text = String::new();
    match &args.r {
        Some(rs) => {
            let r = parse_rational("--r", rs)?;
            if !r.is_positive() {
                return Err(Error::invalid(format!("--r must be positive, got {rs}")));
            }
            match boundary_at(&diff, &r)? {
                BoundaryAtR::Everywhere => {
                    if args.sympy {
                        text.push_str("Interval(0, 1, True, False)\n");
                    } else {
                        text.push_str(&format!(
                            "{} and {} have the same loss at every density for r = {}\n",
                            ca.name,
                            cb.name,
                            print::rational(&r, Style::Plain)
                        ));
                    }
                }
                BoundaryAtR::Roots(roots) => {
                    if !args.sympy {
                        text.push_str(&format!(
                            "# boundary {} / {} at r = {}: {} density value(s) in (0, 1] where \
                             the losses are equal\n",
                            ca.name,
                            cb.name,
                            print::rational(&r, Style::Plain),
                            roots.len()
                        ));
                    }
                    for root in &roots {
                        text.push_str(&root_line(root, args.digits, style));
                    }
                }
            }
        }
        None => {
            let sb = boundary_symbolic(&diff)?;
            if !args.sympy {
                text.push_str(&format!(
                    "# boundary {} / {} for r > 0 (r: importance of the extra feature)\n",
                    ca.name, cb.name
                ));
            }
            for br in &sb.branches {
                let e = print::ratfunc(&br.density, style);
                if args.sympy {
                    text.push_str(&format!("{e}\t{}\n", intervals_sympy(&br.valid)));
                } else if br.valid.is_empty() {
                    text.push_str(&format!(
                        "s = {e} never lies in (0, 1] for r > 0: no boundary\n"
                    ));
                } else {
                    text.push_str(&format!(
                        "s = {e}    for r in {}\n",
                        intervals_plain(&br.valid, args.digits)
                    ));
                }
            }
            if let Some(p) = &sb.implicit {
                let e = print::poly(p, style);
                if args.sympy {
                    text.push_str(&format!("Eq({e}, 0)\tInterval(0, oo, True, True)\n"));
                } else {
                    text.push_str(&format!(
                        "the boundary is the curve {e} = 0 (degree {} in s), not a rational \
                         function of r\n",
                        p.degree_in("s")
                    ));
                }
            }
            if !args.sympy && sb.branches.is_empty() && sb.implicit.is_none() {
                text.push_str(
                    "the losses differ at every density in (0, 1] (except where they tie \
                     everywhere, below): no boundary\n",
                );
            }
            if !args.sympy {
                for t in &sb.ties {
                    text.push_str(&format!(
                        "at r = {} the two losses are equal at every density\n",
                        root_value(t, args.digits)
                    ));
                }
            }
        }
    }
    write_out(out, &text)
}

/// `boundary --r-range` (either method) and `boundary --method exact`: the curve by root finding.
fn curve(args: &BoundaryArgs, out: &mut dyn Write) -> Result<()> {
    use tms_exact::phase::boundary::{curve, curve_csv, Transition};
    use tms_exact::phase::grid::{parse_range, LogAxis};
    use tms_exact::phase::theory::Candidate;
    use tms_exact::phase::{PhaseMethod, Setting};
    use tms_exact::symbolic::expr::Expr;
    if args.symbolic || args.sympy {
        return Err(Error::invalid(
            "--symbolic and --sympy print the exact theory boundary; they do not apply to curves",
        ));
    }
    let expr = args.compare.as_deref().map(Expr::parse).transpose()?;
    let activation: Activation = args.activation.parse()?;
    let setting = Setting::new(args.n, args.m, activation, args.no_bias)?;
    let (a, b) = args.between.split_once(',').ok_or_else(|| {
        Error::invalid(format!(
            "--between '{}' must name two phases, e.g. not-represented,antipodal",
            args.between
        ))
    })?;
    let ca = Candidate::from_configuration(&configurations::find(args.n, args.m, a.trim())?);
    let cb = Candidate::from_configuration(&configurations::find(args.n, args.m, b.trim())?);
    if ca.name == cb.name {
        return Err(Error::invalid(format!(
            "--between names the same phase twice ({})",
            ca.name
        )));
    }
    let rs: Vec<f64> = match (&args.r_range, &args.r) {
        (Some(range), _) => {
            let (lo, hi) = parse_range("--r-range", range)?;
            if args.points == 0 {
                return Err(Error::invalid("--points must be at least 1"));
            }
            LogAxis::new("r", lo, hi, args.points)?.values()
        }
        (None, Some(r)) => {
            let v: f64 = r
                .trim()
                .parse()
                .map_err(|_| Error::invalid(format!("--r '{r}' is not a number")))?;
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::invalid(format!("--r must be positive, got {r}")));
            }
            vec![v]
        }
        (None, None) => LogAxis::new("r", 0.1, 10.0, args.points.max(1))?.values(),
    };
    let (d0, d1) = parse_range("--density-range", &args.density_range)?;
    if d1 > 1.0 {
        return Err(Error::invalid(format!(
            "--density-range ends at {d1} but a density is at most 1"
        )));
    }
    if args.scan < 2 {
        return Err(Error::invalid("--scan needs at least 2 densities"));
    }
    let densities = LogAxis::new("density", d0, d1, args.scan)?.values();
    let work = rs.len() as f64 * args.scan as f64;
    if work > 1e7 {
        return Err(Error::TooLarge(format!(
            "{} values of r × {} scanned densities is {work:.0e} evaluations; at most 1e7",
            rs.len(),
            args.scan
        )));
    }
    if let Some(p) = &args.csv {
        tms_exact::io::check_output_path(p)?;
    }
    let method = match args.method {
        BoundaryMethod::Theory => PhaseMethod::Theory,
        BoundaryMethod::Exact => PhaseMethod::Exact,
    };
    let bar = super::output::Bar::new("boundary");
    let points = curve(&setting, method, &ca, &cb, &rs, &densities, &bar)?;
    let mut text = format!(
        "# boundary {} / {} ({}) · {} · {} values of r in [{}, {}] · densities scanned {}…{}\n",
        ca.name,
        cb.name,
        method.name(),
        setting.describe(),
        rs.len(),
        rs[0],
        rs[rs.len() - 1],
        d0,
        d1
    );
    let mut rows = vec![vec!["r".to_string(), "density".into(), "transition".into()]];
    for p in &points {
        let mut row = vec![
            format!("{:.6}", p.r),
            format!("{:.12}", p.density),
            p.transition.name().into(),
        ];
        if let Some(e) = &expr {
            row.push(format!("formula {:.12}", e.eval(p.r)));
        }
        rows.push(row);
    }
    text.push_str(&super::output::align(&rows));
    let missing = rs
        .iter()
        .filter(|&&r| !points.iter().any(|p| p.r == r))
        .count();
    if missing > 0 {
        text.push_str(&format!(
            "no boundary in the scanned densities at {missing} of {} values of r\n",
            rs.len()
        ));
    }
    if let Some(e) = &expr {
        let mut worst: Option<(f64, f64, f64)> = None;
        for p in &points {
            let f = e.eval(p.r);
            if !f.is_finite() {
                return Err(Error::invalid(format!(
                    "--compare '{}' is not finite at r = {}",
                    args.compare.as_deref().unwrap_or(""),
                    p.r
                )));
            }
            let d = (p.density - f).abs();
            if worst.is_none_or(|(w, _, _)| d > w) {
                worst = Some((d, p.r, f));
            }
        }
        match worst {
            Some((d, r, f)) => text.push_str(&format!(
                "largest |density − ({})| = {d:.3e} at r = {r} (formula {f}, relative {:.3e})\n",
                args.compare.as_deref().unwrap_or(""),
                d / f.abs()
            )),
            None => text.push_str("no boundary point to compare with the formula\n"),
        }
    }
    let first = points
        .iter()
        .filter(|p| p.transition == Transition::FirstOrder)
        .count();
    text.push_str(&format!(
        "{} point(s): {first} first-order crossings, {} continuous\n",
        points.len(),
        points.len() - first
    ));
    if let Some(p) = &args.csv {
        tms_exact::io::write_atomic(p, curve_csv(&points).as_bytes())?;
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    write_out(out, &text)
}

fn root_value(r: &RealRoot, digits: usize) -> String {
    match r {
        RealRoot::Rational(x) => {
            let d = tms_exact::symbolic::roots::decimal_of(x, digits);
            if x.denom() == &BigInt::from(1) {
                x.numer().to_string()
            } else {
                format!("{} = {d}…", print::rational(x, Style::Plain))
            }
        }
        RealRoot::Algebraic { poly, lo, hi } => format!(
            "{}… (the root of {} in ({}, {}))",
            r.decimal(digits),
            print::poly(&poly.to_poly(R), Style::Plain),
            print::rational(lo, Style::Plain),
            print::rational(hi, Style::Plain)
        ),
    }
}

fn root_line(root: &RealRoot, digits: usize, style: Style) -> String {
    match (style, root) {
        (Style::Sympy, RealRoot::Rational(x)) => format!("{}\n", print::rational(x, style)),
        (Style::Sympy, RealRoot::Algebraic { poly, .. }) => format!(
            "CRootOf({}, {})\n",
            print::poly(&poly.to_poly("s"), style),
            crootof_index(root)
        ),
        _ => match root {
            RealRoot::Rational(x) => format!(
                "s = {} = {}\n",
                print::rational(x, Style::Plain),
                tms_exact::symbolic::roots::decimal_of(x, digits)
            ),
            RealRoot::Algebraic { poly, .. } => format!(
                "s = {}… (a root of {})\n",
                root.decimal(digits),
                print::poly(&poly.to_poly("s"), Style::Plain)
            ),
        },
    }
}

fn end_sympy(e: &End) -> String {
    match e {
        End::Infinity => "oo".into(),
        End::At(RealRoot::Rational(x)) => print::rational(x, Style::Sympy),
        End::At(r @ RealRoot::Algebraic { poly, .. }) => format!(
            "CRootOf({}, {})",
            print::poly(&poly.to_poly(R), Style::Sympy),
            crootof_index(r)
        ),
    }
}

fn intervals_sympy(v: &[Interval]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|iv| {
            if iv.lo == iv.hi {
                format!("FiniteSet({})", end_sympy(&iv.lo))
            } else {
                format!(
                    "Interval({}, {}, {}, {})",
                    end_sympy(&iv.lo),
                    end_sympy(&iv.hi),
                    if iv.lo_closed { "False" } else { "True" },
                    if iv.hi_closed { "False" } else { "True" }
                )
            }
        })
        .collect();
    match parts.len() {
        0 => "EmptySet".into(),
        1 => parts[0].clone(),
        _ => format!("Union({})", parts.join(", ")),
    }
}

fn intervals_plain(v: &[Interval], digits: usize) -> String {
    let end = |e: &End| match e {
        End::Infinity => "oo".to_string(),
        End::At(r) => root_value(r, digits),
    };
    v.iter()
        .map(|iv| {
            if iv.lo == iv.hi {
                format!("{{{}}}", end(&iv.lo))
            } else {
                format!(
                    "{}{}, {}{}",
                    if iv.lo_closed { "[" } else { "(" },
                    end(&iv.lo),
                    end(&iv.hi),
                    if iv.hi_closed { "]" } else { ")" }
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ∪ ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rationals_as_written() {
        let q = |a: i64, b: i64| Q::new(a.into(), b.into());
        assert_eq!(parse_rational("r", "3/2").unwrap(), q(3, 2));
        assert_eq!(parse_rational("r", "0.1").unwrap(), q(1, 10));
        assert_eq!(parse_rational("r", "1e-3").unwrap(), q(1, 1000));
        assert_eq!(parse_rational("r", "-2.50").unwrap(), q(-5, 2));
        for bad in ["inf", "nan", "1/0", "", ".", "1.2.3", "x"] {
            assert!(parse_rational("r", bad).is_err(), "{bad}");
        }
    }
}
