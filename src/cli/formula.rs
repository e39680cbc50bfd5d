//! `tms-exact formula`: the loss as a formula — a polynomial in the density, a rational
//! function of the weights in the region around a model, or McGrath's complete n = 2, m = 1
//! piecewise formula — in plain text, LaTeX or sympy syntax.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::output::write_out;
use tms_exact::configurations;
use tms_exact::data::Distribution;
use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::model::{Activation, Model};
use tms_exact::objective::Reduction;
use tms_exact::route::rational::{exact_loss, fraction_string};
use tms_exact::symbolic::formula::{
    density_formula, exact, locate, DensityPiece, Located, Point, RegionFormula, SymbolicModel,
    Symbols,
};
use tms_exact::symbolic::mcgrath;
use tms_exact::symbolic::poly::Q;
use tms_exact::symbolic::print::{self, Style};
use tms_exact::symbolic::roots::RealRoot;

/// Arguments of `tms-exact formula`.
#[derive(Debug, Args)]
pub struct FormulaArgs {
    /// The model file (JSON); its W and b are exact rationals
    #[arg(value_name = "MODEL.json")]
    pub model: Option<PathBuf>,
    /// A fixed configuration of the paper's theory diagrams instead of a file (see
    /// `tms-exact boundary --help`); with --n and --m
    #[arg(long, value_name = "NAME", conflicts_with_all = ["model", "mcgrath", "weights"])]
    pub config: Option<String>,
    /// Number of features of --config
    #[arg(long, value_name = "N", default_value_t = 2, requires = "config")]
    pub n: usize,
    /// Hidden dimensions of --config
    #[arg(long, value_name = "M", default_value_t = 1, requires = "config")]
    pub m: usize,
    /// The loss as a rational function of the entries of W and b, valid in the region around
    /// the model's point, with the inequalities defining that region
    #[arg(long, requires = "model")]
    pub weights: bool,
    /// With --weights: keep the biases at the model's values instead of symbols
    #[arg(long, requires = "weights")]
    pub fix_bias: bool,
    /// The complete piecewise formula of n = 2, m = 1 without bias over the (w1, w2) plane
    /// (McGrath's exactly solvable case)
    #[arg(long, conflicts_with_all = ["model", "weights"])]
    pub mcgrath: bool,
    /// With --mcgrath: the stationary points of the loss at --density and --importance,
    /// solved exactly (resultants of the stationarity equations, exact root isolation), each
    /// classified (minimum, saddle, …)
    #[arg(long, requires = "mcgrath")]
    pub minima: bool,
    /// With --minima: the density (exact: 1/10, 0.1, 1e-1)
    #[arg(long, value_name = "S", requires = "minima")]
    pub density: Option<String>,
    /// With --minima: the two importances, comma-separated (exact: 1,1/2)
    #[arg(long, value_name = "I1,I2", requires = "minima")]
    pub importance: Option<String>,
    /// With --minima: digits printed (every printed digit is exact)
    #[arg(long, value_name = "N", default_value_t = 20, requires = "minima")]
    pub digits: usize,
    /// Print LaTeX
    #[arg(long, conflicts_with = "sympy")]
    pub latex: bool,
    /// Print one line sympy parses, and nothing else
    #[arg(long)]
    pub sympy: bool,
    /// Symbol of the density shared by all features
    #[arg(long, value_name = "NAME", default_value = "s")]
    pub density_symbol: String,
    /// Importance symbols are PREFIX1, PREFIX2, …
    #[arg(long, value_name = "PREFIX", default_value = "I")]
    pub importance_prefix: String,
}

impl FormulaArgs {
    fn style(&self) -> Style {
        if self.latex {
            Style::Latex
        } else if self.sympy {
            Style::Sympy
        } else {
            Style::Plain
        }
    }

    fn symbols(&self) -> Symbols {
        Symbols {
            density: self.density_symbol.clone(),
            importance_prefix: self.importance_prefix.clone(),
        }
    }
}

/// Runs `tms-exact formula`.
pub fn run(args: &FormulaArgs, out: &mut dyn Write) -> Result<()> {
    let style = args.style();
    let symbols = args.symbols();
    if args.minima {
        return run_minima(args, style, out);
    }
    if args.mcgrath {
        return run_mcgrath(&symbols, style, out);
    }
    if let Some(name) = &args.config {
        let c = configurations::find(args.n, args.m, name)?;
        let model = SymbolicModel::numeric(
            &c.model(0.0)?,
            Activation::Relu,
            Some(c.bias_poly(&symbols.density)),
        )?;
        let mut taken = model.variables();
        taken.remove(&symbols.density);
        symbols.check(c.n(), &taken)?;
        let pieces = density_formula(&model, &symbols)?;
        let mut text = render_density(&pieces, &symbols, style);
        if style == Style::Plain {
            text = format!("# {}: {}\n{text}", c.name, c.description);
        }
        return write_out(out, &text);
    }
    let path = args.model.as_ref().ok_or_else(|| {
        Error::invalid("give a model file (MODEL.json), --config NAME or --mcgrath")
    })?;
    let file = ModelFile::read(path)?;
    let obj = &file.objective;
    if *obj.data().distribution() != Distribution::Independent {
        return Err(Error::invalid(format!(
            "formulas are derived for independent features with one shared density; the model \
             file has {} data",
            obj.data().distribution()
        )));
    }
    let act = obj.activation();
    if args.weights {
        let (model, point) = SymbolicModel::weights(&file.model, act, args.fix_bias)?;
        symbols.check(model.n(), &model.variables())?;
        match locate(&model, &point, &symbols)? {
            Located::Inside(f) => {
                let mut text = render_region(&f, &symbols, style);
                if style == Style::Plain {
                    text.push_str(&check_line(&file, &f, &point, &symbols)?);
                }
                write_out(out, &text)
            }
            Located::OnBoundary { forms, adjacent } => {
                Err(on_boundary(&forms, &adjacent, &symbols))
            }
        }
    } else {
        let model = SymbolicModel::numeric(&file.model, act, None)?;
        symbols.check(model.n(), &Default::default())?;
        let pieces = density_formula(&model, &symbols)?;
        let mut text = render_density(&pieces, &symbols, style);
        if style == Style::Plain {
            // Constant biases: a single piece.
            text.push_str(&check_line(
                &file,
                &pieces[0].formula,
                &Point::new(),
                &symbols,
            )?);
        }
        write_out(out, &text)
    }
}

/// The point is on a boundary: one line naming the vanishing forms and the adjacent formulas.
fn on_boundary(
    forms: &[tms_exact::symbolic::poly::Poly],
    adjacent: &[RegionFormula],
    symbols: &Symbols,
) -> Error {
    let f: Vec<String> = forms
        .iter()
        .map(|p| format!("{} = 0", print::poly(p, Style::Plain)))
        .collect();
    let adj: Vec<String> = adjacent
        .iter()
        .map(|r| {
            format!(
                "[{}: loss = {}]",
                mcgrath::region_text(&r.conditions, Style::Plain),
                r.render(symbols, Style::Plain)
            )
        })
        .collect();
    let mut list = adj.join("; ");
    // A line of megabytes helps nobody: beyond this the formulas are left out (the count
    // and the vanishing forms still say where the point is).
    const MAX_LINE: usize = 20_000;
    if list.len() > MAX_LINE {
        list = format!(
            "left out ({} characters; move the point into a region, or use --fix-bias)",
            list.len()
        );
    }
    Error::invalid(format!(
        "the model's point is on a region boundary ({}), where the loss has no single region \
         formula; the {} adjacent regions: {list}",
        f.join(", "),
        adjacent.len(),
    ))
}

/// "check: …" — the formula at the file's density and importances against the exact rational
/// loss (skipped, with a note, when the densities differ between features).
fn check_line(
    file: &ModelFile,
    f: &RegionFormula,
    point: &Point,
    symbols: &Symbols,
) -> Result<String> {
    let data = file.objective.data();
    let dens = data.density();
    if dens.iter().any(|&p| p != dens[0]) {
        return Ok(
            "note: the file's densities differ between features; the formula uses one shared \
             density, so it was not checked against the file\n"
                .into(),
        );
    }
    let mut pt = point.clone();
    pt.insert(symbols.density.clone(), exact(dens[0])?);
    let imp: Vec<Q> = data
        .importance()
        .iter()
        .map(|&x| exact(x))
        .collect::<Result<_>>()?;
    let value = f
        .eval(&pt, &imp)
        .ok_or_else(|| Error::Numerical("the formula cannot be evaluated at the model".into()))?;
    let obj = file.objective.clone().with_reduction(Reduction::Sum);
    let want = exact_loss(&file.model, &obj)?.loss;
    if value != want {
        return Err(Error::Numerical(format!(
            "the formula gives {} at the model but the exact loss is {}",
            fraction_string(&value),
            fraction_string(&want)
        )));
    }
    let mean = if file.objective.reduction() == Reduction::Mean {
        " (reduction sum; the file's mean reduction divides by n)"
    } else {
        ""
    };
    Ok(format!(
        "check: at {} = {} (the f64's exact value) and the file's importances this equals the \
         exact rational loss {} = {:.17e}{mean}\n",
        symbols.density,
        dens[0],
        fraction_string(&want),
        tms_exact::route::rational::to_f64(&want)
    ))
}

fn end_text(r: &RealRoot, style: Style, var: &str) -> String {
    match r {
        RealRoot::Rational(x) => print::rational(x, style),
        RealRoot::Algebraic { poly, lo, hi } => match style {
            Style::Sympy => format!(
                "CRootOf({}, {})",
                print::poly(&poly.to_poly(var), Style::Sympy),
                tms_exact::symbolic::roots::crootof_index(r)
            ),
            _ => format!(
                "{} (the root of {} in ({}, {}))",
                r.decimal(20),
                print::poly(&poly.to_poly(var), style),
                print::rational(lo, style),
                print::rational(hi, style)
            ),
        },
    }
}

/// The density formula, one line per piece.
fn render_density(pieces: &[DensityPiece], symbols: &Symbols, style: Style) -> String {
    let s = &symbols.density;
    if pieces.len() == 1 {
        let e = pieces[0].formula.render(symbols, style);
        return match style {
            Style::Sympy => format!("{e}\n"),
            Style::Latex => format!("L = {e}\n"),
            Style::Plain => format!("loss = {e}    (0 <= {s} <= 1)\n"),
        };
    }
    match style {
        Style::Sympy => {
            let parts: Vec<String> = pieces
                .iter()
                .map(|p| {
                    format!(
                        "({}, And({s} >= {}, {s} <= {}))",
                        p.formula.render(symbols, style),
                        end_text(&p.lo, style, s),
                        end_text(&p.hi, style, s)
                    )
                })
                .collect();
            format!("Piecewise({}, (nan, True))\n", parts.join(", "))
        }
        Style::Latex => {
            let rows: Vec<String> = pieces
                .iter()
                .map(|p| {
                    format!(
                        "{} & {} \\le {s} \\le {}",
                        p.formula.render(symbols, style),
                        end_text(&p.lo, style, s),
                        end_text(&p.hi, style, s)
                    )
                })
                .collect();
            format!(
                "L = \\begin{{cases}} {} \\end{{cases}}\n",
                rows.join(" \\\\ ")
            )
        }
        Style::Plain => pieces
            .iter()
            .map(|p| {
                format!(
                    "for {} <= {s} <= {}: loss = {}\n",
                    end_text(&p.lo, style, s),
                    end_text(&p.hi, style, s),
                    p.formula.render(symbols, style)
                )
            })
            .collect(),
    }
}

/// A region formula with its conditions.
fn render_region(f: &RegionFormula, symbols: &Symbols, style: Style) -> String {
    let e = f.render(symbols, style);
    let conds = mcgrath::region_text(&f.conditions, style);
    match style {
        Style::Sympy if f.conditions.is_empty() => format!("{e}\n"),
        Style::Sympy => format!("Piecewise(({e}, {conds}), (nan, True))\n"),
        Style::Latex if f.conditions.is_empty() => format!("L = {e}\n"),
        Style::Latex => format!("L = {e} \\quad \\text{{for }} {conds}\n"),
        Style::Plain => {
            let mut s = String::from("region:\n");
            if f.conditions.is_empty() {
                s.push_str("  everywhere\n");
            }
            for c in &f.conditions {
                s.push_str(&format!("  {}\n", c.render(Style::Plain)));
            }
            s.push_str(&format!("loss = {e}\n"));
            s
        }
    }
}

fn run_mcgrath(symbols: &Symbols, style: Style, out: &mut dyn Write) -> Result<()> {
    let pieces = mcgrath::pieces(symbols)?;
    let text = match style {
        Style::Sympy => format!("{}\n", mcgrath::sympy_piecewise(&pieces, symbols)),
        Style::Latex => format!("{}\n", mcgrath::latex_cases(&pieces, symbols)),
        Style::Plain => {
            let mut s = String::from(
                "# n = 2, m = 1, no bias: L(w1, w2) piecewise; on w1 + w2 = 0 the neighbouring \
                 formulas agree\n",
            );
            for p in &pieces {
                s.push_str(&format!(
                    "region: {}\n  loss = {}\n",
                    mcgrath::union_text(&p.regions, Style::Plain),
                    p.formula.render(symbols, Style::Plain)
                ));
            }
            s.push_str(&mcgrath_check(&pieces, symbols)?);
            s
        }
    };
    write_out(out, &text)
}

/// Every piece at its sample points, at density 3/8 and importances (1, 1/2), against the
/// exact rational loss of the numeric engine.
fn mcgrath_check(pieces: &[mcgrath::Piece], symbols: &Symbols) -> Result<String> {
    let (s, imp) = (0.375, [1.0, 0.5]);
    let data = tms_exact::data::Data::new(2)?
        .with_density(&tms_exact::data::PerFeature::Constant(s))?
        .with_importance(&tms_exact::data::PerFeature::List(imp.to_vec()))?;
    let obj = tms_exact::objective::Objective::new(data);
    let mut count = 0;
    for p in pieces {
        for (a, b) in &p.samples {
            let w = [q_to_f64(a), q_to_f64(b)];
            let model = Model::from_rows(&[w.to_vec()], &[0.0, 0.0])?;
            let want = exact_loss(&model, &obj)?.loss;
            let mut pt = Point::new();
            pt.insert("w1".into(), a.clone());
            pt.insert("w2".into(), b.clone());
            pt.insert(symbols.density.clone(), exact(s)?);
            let got = p
                .formula
                .eval(&pt, &[exact(imp[0])?, exact(imp[1])?])
                .ok_or_else(|| Error::Numerical("a McGrath piece cannot be evaluated".into()))?;
            if got != want {
                return Err(Error::Numerical(format!(
                    "McGrath piece at w = ({a}, {b}) gives {got} but the exact loss is {want}"
                )));
            }
            count += 1;
        }
    }
    Ok(format!(
        "check: {count} sample points (one per sector, half-axis and the origin) at s = 3/8, \
         I = (1, 1/2) equal the exact rational loss\n"
    ))
}

fn q_to_f64(x: &Q) -> f64 {
    tms_exact::route::rational::to_f64(x)
}

/// Most digits `--minima` prints (each digit is exact; more cost bisection steps).
const MAX_MINIMA_DIGITS: usize = 1000;

/// `formula --mcgrath --minima`: the exact stationary points at one density and importances.
fn run_minima(args: &FormulaArgs, style: Style, out: &mut dyn Write) -> Result<()> {
    use super::boundary::parse_rational;
    use tms_exact::symbolic::stationary::{stationary_points, Kind};
    let density = parse_rational(
        "--density",
        args.density
            .as_deref()
            .ok_or_else(|| Error::invalid("--minima needs --density (e.g. 1/10)"))?,
    )?;
    let imp_text = args
        .importance
        .as_deref()
        .ok_or_else(|| Error::invalid("--minima needs --importance I1,I2 (e.g. 1,1/2)"))?;
    let importance: Vec<Q> = imp_text
        .split(',')
        .map(|t| parse_rational("--importance", t))
        .collect::<Result<_>>()?;
    if args.digits > MAX_MINIMA_DIGITS {
        return Err(Error::invalid(format!(
            "--digits {} exceeds {MAX_MINIMA_DIGITS}",
            args.digits
        )));
    }
    if args.density_symbol != "s" || args.importance_prefix != "I" {
        return Err(Error::invalid(
            "--minima substitutes numbers for the density and importances; \
             --density-symbol and --importance-prefix do not apply",
        ));
    }
    let reports = stationary_points(&density, &importance, args.digits)?;
    let digits = args.digits;
    let coord = |c: &tms_exact::symbolic::stationary::Coordinate, var: &str| -> String {
        match &c.root {
            RealRoot::Rational(x) => match style {
                Style::Sympy => print::rational(x, style),
                _ => format!(
                    "{} (exactly {})",
                    c.refined.decimal(digits),
                    print::rational(x, style)
                ),
            },
            RealRoot::Algebraic { lo, hi, .. } => {
                let p = c.poly.to_poly(var);
                let p = p.scale(&(Q::from_integer(1.into()) / p.content()));
                match style {
                    Style::Sympy => format!(
                        "CRootOf({}, {})",
                        print::poly(&p, style),
                        tms_exact::symbolic::roots::crootof_index(&c.root)
                    ),
                    _ => format!(
                        "{}  [the root of {} in ({}, {}); degree {}]",
                        c.refined.decimal(digits),
                        print::poly(&p, style),
                        print::rational(lo, style),
                        print::rational(hi, style),
                        c.poly.degree().unwrap_or(0)
                    ),
                }
            }
        }
    };
    let interval_text = |i: &tms_exact::symbolic::stationary::Interval| -> String {
        let (a, b) = (
            tms_exact::symbolic::roots::decimal_of(&i.lo, digits),
            tms_exact::symbolic::roots::decimal_of(&i.hi, digits),
        );
        if i.lo == i.hi {
            format!("{a} (exactly {})", print::rational(&i.lo, style))
        } else if a == b {
            format!(
                "{a} (truncated; the exact value lies in an interval of width {:.1e})",
                tms_exact::route::rational::to_f64(&i.width())
            )
        } else {
            format!("between {a} and {b}")
        }
    };
    let mut text = String::new();
    if style == Style::Sympy {
        for r in &reports {
            if let Some(n) = &r.note {
                return Err(Error::invalid(format!(
                    "a region was not solved ({n}); use the plain output"
                )));
            }
            for p in &r.points {
                text.push_str(&format!(
                    "({}, {})\n",
                    coord(&p.w1, "w1"),
                    coord(&p.w2, "w2")
                ));
            }
        }
        return write_out(out, &text);
    }
    text.push_str(&format!(
        "# Stationary points of McGrath's loss (n = 2, m = 1, no bias) at s = {}, I = ({}, {}), \
         solved exactly\n\
         # Per region: the numerators P1, P2 of dL/dw1, dL/dw2; eliminants Res_w2(P1, P2) in w1 \
         and Res_w1(P1, P2) in w2 (square-free parts, not factored: their degrees bound the \
         minimal polynomials'); real roots isolated exactly (Sturm); a pair (w1, w2) is reported \
         only when the exact interval enclosures of P1 and P2 over its box of width <= 1e-{} \
         both contain 0 and the region's conditions hold on the whole box. Kinds from the exact \
         Hessian's enclosure. W and -W have the same loss: one point of each pair is printed.\n",
        print::rational(&density, Style::Plain),
        print::rational(&importance[0], Style::Plain),
        print::rational(&importance[1], Style::Plain),
        (tms_exact::tolerance::STATIONARY_WIDTH_EXPONENT as usize).max(digits + 10),
    ));
    let mut minima = Vec::new();
    for r in &reports {
        text.push_str(&format!(
            "region: {}\n",
            mcgrath::union_text(&r.regions, style)
        ));
        match r.degrees.as_slice() {
            [a, b] => text.push_str(&format!(
                "  eliminants (square-free): degree {a} in w1, degree {b} in w2\n"
            )),
            [a] => text.push_str(&format!(
                "  dL along the axis (square-free numerator): degree {a}\n"
            )),
            _ => {}
        }
        if r.points.is_empty() && r.note.is_none() {
            text.push_str("  no stationary point in this region\n");
        }
        for p in &r.points {
            let mirror = if p.mirrored {
                " (and its mirror -W)"
            } else {
                ""
            };
            text.push_str(&format!(
                "  {}{mirror} in {}\n    w1 = {}\n    w2 = {}\n    loss = {}\n",
                p.kind.name(),
                mcgrath::region_text(&p.region, style),
                coord(&p.w1, "w1"),
                coord(&p.w2, "w2"),
                interval_text(&p.loss)
            ));
            if let Some(a) = &p.axis {
                let side = |v: &Option<tms_exact::symbolic::stationary::Interval>, z: bool| {
                    if z {
                        "0 (exactly)".to_string()
                    } else {
                        v.as_ref().map_or("not evaluable".into(), &interval_text)
                    }
                };
                text.push_str(&format!(
                    "    a stationary point of the loss along the axis; across it, dL/d{v} from \
                     {v} > 0 is {} and from {v} < 0 is {}{}\n",
                    side(&a.plus, a.plus_zero),
                    side(&a.minus, a.minus_zero),
                    if a.plus_zero && a.minus_zero {
                        " (both vanish: a critical point of the full loss)"
                    } else {
                        " (not a critical point of the full loss)"
                    },
                    v = a.variable
                ));
            }
            if matches!(p.kind, Kind::Minimum | Kind::KinkMinimum) {
                minima.push((
                    p.w1.refined.decimal(12),
                    p.w2.refined.decimal(12),
                    interval_text(&p.loss),
                ));
            }
        }
        if let Some(n) = &r.note {
            text.push_str(&format!("  note: {n}\n"));
        }
    }
    text.push_str(&format!(
        "local minima (one per pair W, -W): {}\n",
        minima.len()
    ));
    for (a, b, l) in &minima {
        text.push_str(&format!("  W = ({a}, {b}), loss = {l}\n"));
    }
    write_out(out, &text)
}
