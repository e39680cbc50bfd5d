//! `tms-exact boundary --method theory`: the exact phase boundary between two fixed
//! configurations of the paper's theoretical diagrams — the densities for a rational r, or the
//! boundary as a rational function of r with its validity interval.

use std::io::Write;

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
    let BoundaryMethod::Theory = args.method;
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
