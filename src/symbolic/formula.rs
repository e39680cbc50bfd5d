//! The loss as a formula: `L = Σ_i I_i P_i`, each `P_i` a rational function of the model's
//! symbols (the density `s`, and optionally the entries of W and b), valid in the region of
//! parameter space where the signs of the cube-vertex values of every affine pre-activation
//! stay fixed.
//!
//! The integration is symbolic (not interpolation): the same vertex formula as the exact
//! route ([`crate::route::rational`]), with polynomial instead of integer vertex values, so
//! the tests can compare the two at rational points.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use num_bigint::BigInt;
use num_traits::{One, Signed, Zero};

use super::poly::{Mono, Poly, UPoly, Q};
use super::print::{self, Style};
use super::ratfunc::RatFunc;
use super::roots::{real_roots, RealRoot};
use crate::error::{Error, Result};
use crate::model::{Activation, Model};

/// Most monomial operations the expansion may cost (the estimate
/// [`SymbolicModel::expansion_size`], computed before expanding), about 1.5 µs each here
/// (release, 2 shared cores): n = 4, m = 2 with every entry of W and b a symbol costs 0.4 s;
/// n = 5, m = 2 (estimate 4.5·10⁶) 16–22 s; numeric W (the density polynomial) n = 8 1.6 s and
/// n = 10 (1.2·10⁷) 19 s. The limit keeps a request to a few seconds.
pub const MAX_MONOMIALS: f64 = 4.0e6;

/// Monomial operations charged per cube vertex besides its power (measured: the numeric
/// n = 10 density polynomial costs as much as 21 monomials per vertex).
const VERTEX_OVERHEAD: f64 = 20.0;

/// A point: values of symbols.
pub type Point = BTreeMap<String, Q>;

/// Names of the symbols a formula uses for the density and the importances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbols {
    /// The density shared by every feature (default `s`).
    pub density: String,
    /// Importance of feature i (1-based) is `{prefix}{i}` (default `I`: `I1`, `I2`, …).
    pub importance_prefix: String,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            density: "s".into(),
            importance_prefix: "I".into(),
        }
    }
}

/// Names sympy predefines (a formula using them would not parse back as symbols).
const SYMPY_RESERVED: [&str; 12] = [
    "I", "E", "S", "N", "O", "Q", "pi", "oo", "nan", "zoo", "beta", "gamma",
];

impl Symbols {
    /// Importance symbol of feature `i` (0-based index; printed 1-based).
    pub fn importance(&self, i: usize) -> String {
        format!("{}{}", self.importance_prefix, i + 1)
    }

    /// Fails when a name is not an identifier, is one sympy predefines, or clashes with
    /// another symbol of the formula (`taken`: the model's own symbols).
    pub fn check(&self, n: usize, taken: &BTreeSet<String>) -> Result<()> {
        let ident = |s: &str| {
            let mut c = s.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        };
        if !ident(&self.density) || !ident(&self.importance_prefix) {
            return Err(Error::invalid(format!(
                "symbol names must be identifiers (a letter, then letters, digits or _): \
                 density '{}', importance prefix '{}'",
                self.density, self.importance_prefix
            )));
        }
        let mut all: Vec<String> = (0..n).map(|i| self.importance(i)).collect();
        all.push(self.density.clone());
        if let Some(r) = all.iter().find(|x| SYMPY_RESERVED.contains(&x.as_str())) {
            return Err(Error::invalid(format!(
                "symbol '{r}' clashes with a name sympy predefines; choose another"
            )));
        }
        let mut seen: BTreeSet<&str> = taken.iter().map(String::as_str).collect();
        for a in &all {
            if !seen.insert(a) {
                return Err(Error::invalid(format!(
                    "symbol '{a}' clashes with another symbol of the formula (the model's \
                     weights and biases use w…, u…, b…); choose another name"
                )));
            }
        }
        Ok(())
    }
}

/// The output activations with a closed form, with an exact leaky slope.
#[derive(Debug, Clone, PartialEq)]
pub enum SymActivation {
    /// ReLU.
    Relu,
    /// Identity.
    Linear,
    /// Leaky ReLU with slope α.
    LeakyRelu(Q),
}

impl SymActivation {
    /// From the crate's activation; smooth ones have no closed form.
    pub fn from_activation(a: Activation) -> Result<Self> {
        match a {
            Activation::Relu => Ok(SymActivation::Relu),
            Activation::Linear => Ok(SymActivation::Linear),
            Activation::LeakyRelu { alpha } => Ok(SymActivation::LeakyRelu(exact(alpha)?)),
            _ => Err(Error::invalid(format!(
                "the {a} activation has no closed form, so no formula"
            ))),
        }
    }
}

/// The exact rational value of a finite f64.
pub fn exact(x: f64) -> Result<Q> {
    Q::from_float(x)
        .ok_or_else(|| Error::invalid(format!("non-finite value {x} has no exact rational")))
}

/// A model whose Gram entries `M_ij` and biases `b_i` are polynomials.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolicModel {
    gram: Vec<Vec<Poly>>,
    bias: Vec<Poly>,
    activation: SymActivation,
}

impl SymbolicModel {
    /// From polynomial `M` (n×n) and `b` (n).
    pub fn new(gram: Vec<Vec<Poly>>, bias: Vec<Poly>, activation: SymActivation) -> Result<Self> {
        let n = bias.len();
        if n == 0 || gram.len() != n || gram.iter().any(|r| r.len() != n) {
            return Err(Error::invalid(
                "M must be n×n and b must have n entries, n ≥ 1",
            ));
        }
        Ok(SymbolicModel {
            gram,
            bias,
            activation,
        })
    }

    /// A numeric model: every entry an exact rational constant (`bias`: replaces b, e.g. by
    /// polynomials in the density).
    pub fn numeric(model: &Model, act: Activation, bias: Option<Vec<Poly>>) -> Result<Self> {
        let gm = exact_gram(model)?;
        let b = match bias {
            Some(b) => b,
            None => model
                .b()
                .iter()
                .map(|&x| exact(x).map(Poly::constant))
                .collect::<Result<_>>()?,
        };
        if b.len() != model.n() {
            return Err(Error::invalid("the bias must have one entry per feature"));
        }
        let gram = gm
            .into_iter()
            .map(|r| r.into_iter().map(Poly::constant).collect())
            .collect();
        SymbolicModel::new(gram, b, SymActivation::from_activation(act)?)
    }

    /// Every entry of W (and W_out when untied) a symbol, and every bias a symbol unless
    /// `fix_bias` (then b keeps the model's values). Returns the model and the point (the
    /// given model's values of the symbols). Names: `w{j}` / `w{h}_{j}` for W (1-based, h the
    /// hidden row), `u{i}` / `u{i}_{h}` for W_out, `b{i}`.
    pub fn weights(model: &Model, act: Activation, fix_bias: bool) -> Result<(Self, Point)> {
        let (m, n) = (model.m(), model.n());
        let mut point = Point::new();
        let mut sym = |name: String, v: f64| -> Result<Poly> {
            point.insert(name.clone(), exact(v)?);
            Ok(Poly::var(&name))
        };
        let wname = |p: &str, a: usize, b: usize, one: bool| {
            if one {
                format!("{p}{}", a + 1)
            } else {
                format!("{p}{}_{}", a + 1, b + 1)
            }
        };
        let mut w = vec![vec![Poly::zero(); n]; m];
        for (h, row) in w.iter_mut().enumerate() {
            for (j, e) in row.iter_mut().enumerate() {
                *e = sym(
                    wname("w", if m == 1 { j } else { h }, j, m == 1),
                    model.w()[(h, j)],
                )?;
            }
        }
        let read: Vec<Vec<Poly>> = match model.w_out() {
            Some(wo) => (0..n)
                .map(|i| {
                    (0..m)
                        .map(|h| sym(wname("u", i, h, m == 1), wo[(i, h)]))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?,
            None => (0..n)
                .map(|i| (0..m).map(|h| w[h][i].clone()).collect())
                .collect(),
        };
        let bias = (0..n)
            .map(|i| {
                if fix_bias {
                    exact(model.b()[i]).map(Poly::constant)
                } else {
                    sym(format!("b{}", i + 1), model.b()[i])
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let gram = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..m).fold(Poly::zero(), |acc, h| acc.add(&read[i][h].mul(&w[h][j]))))
                    .collect()
            })
            .collect();
        Ok((
            SymbolicModel::new(gram, bias, SymActivation::from_activation(act)?)?,
            point,
        ))
    }

    /// Number of features.
    pub fn n(&self) -> usize {
        self.bias.len()
    }

    /// `M_ij`.
    pub fn gram(&self) -> &[Vec<Poly>] {
        &self.gram
    }

    /// `b_i`.
    pub fn bias(&self) -> &[Poly] {
        &self.bias
    }

    /// The symbols in M and b.
    pub fn variables(&self) -> BTreeSet<String> {
        self.gram
            .iter()
            .flatten()
            .chain(&self.bias)
            .flat_map(Poly::variables)
            .collect()
    }

    /// An upper estimate of the monomials the expansion produces (see [`MAX_MONOMIALS`]):
    /// over outputs i and active sets A, `2^|A|` vertex values, each a power `|A| + 2` of a sum
    /// of at most `t` distinct monomials (those of `b_i` and `M_ij`, j ∈ A), which has at most
    /// `C(t + |A| + 1, |A| + 2)` monomials.
    pub fn expansion_size(&self) -> f64 {
        let n = self.n();
        let mut total = 0.0;
        for i in 0..n {
            for mask in 0usize..(1 << n) {
                let k = mask.count_ones() as i32;
                let mut monos: HashSet<&Mono> = self.bias[i].terms().map(|(m, _)| m).collect();
                for j in (0..n).filter(|j| mask >> j & 1 == 1) {
                    monos.extend(self.gram[i][j].terms().map(|(m, _)| m));
                }
                let t = monos.len().max(1) as f64;
                let d = (k + 2) as f64;
                // + a fixed overhead per vertex (set bookkeeping, the density polynomial).
                total += 2f64.powi(k) * (binomial(t + d - 1.0, d).min(1e12) + VERTEX_OVERHEAD);
            }
        }
        total
    }
}

/// `M = W_out W` (tied: `Wᵀ W`) with exact rational entries.
fn exact_gram(model: &Model) -> Result<Vec<Vec<Q>>> {
    let (m, n) = (model.m(), model.n());
    let w = |h: usize, j: usize| exact(model.w()[(h, j)]);
    let read = |i: usize, h: usize| match model.w_out() {
        Some(wo) => exact(wo[(i, h)]),
        None => w(h, i),
    };
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..m).try_fold(Q::zero(), |acc, h| Ok(acc + read(i, h)? * w(h, j)?)))
                .collect()
        })
        .collect()
}

fn binomial(a: f64, k: f64) -> f64 {
    let mut r = 1.0;
    let mut j = 0.0;
    while j < k {
        r *= (a - j) / (j + 1.0);
        j += 1.0;
    }
    r.max(1.0)
}

/// How a condition's polynomial compares with 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rel {
    /// `> 0`
    Pos,
    /// `< 0`
    Neg,
    /// `= 0`
    Zero,
    /// `≠ 0`
    NonZero,
}

/// One inequality (or equation) defining a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    /// A primitive polynomial with integer coefficients and positive leading coefficient.
    pub poly: Poly,
    /// Its relation to 0.
    pub rel: Rel,
}

impl Condition {
    /// `p rel 0`, normalised (so `−p > 0` becomes `p < 0`).
    pub fn new(p: &Poly, rel: Rel) -> Self {
        let (np, flip) = normalise(p);
        let rel = match (rel, flip) {
            (Rel::Pos, true) => Rel::Neg,
            (Rel::Neg, true) => Rel::Pos,
            (r, _) => r,
        };
        Condition { poly: np, rel }
    }

    /// Whether it holds at a point (`None` when a symbol is missing).
    pub fn holds(&self, point: &Point) -> Option<bool> {
        let v = self.poly.eval(point)?;
        Some(match self.rel {
            Rel::Pos => v.is_positive(),
            Rel::Neg => v.is_negative(),
            Rel::Zero => v.is_zero(),
            Rel::NonZero => !v.is_zero(),
        })
    }

    /// Printed in a style (sympy: a relational sympy parses, `Eq`/`Ne` for equations).
    pub fn render(&self, style: Style) -> String {
        let p = print::poly(&self.poly, style);
        match (style, self.rel) {
            (Style::Sympy, Rel::Zero) => format!("Eq({p}, 0)"),
            (Style::Sympy, Rel::NonZero) => format!("Ne({p}, 0)"),
            (_, Rel::Pos) => format!("{p} > 0"),
            (_, Rel::Neg) => format!("{p} < 0"),
            (Style::Latex, Rel::Zero) => format!("{p} = 0"),
            (Style::Latex, Rel::NonZero) => format!("{p} \\neq 0"),
            (_, Rel::Zero) => format!("{p} = 0"),
            (_, Rel::NonZero) => format!("{p} != 0"),
        }
    }
}

/// `p / c` with `c` making it primitive with integer coefficients and a positive leading
/// coefficient; `true` when `c < 0`.
fn normalise(p: &Poly) -> (Poly, bool) {
    if p.is_zero() {
        return (Poly::zero(), false);
    }
    let c = p.content();
    let neg = p.leading().expect("non-zero").1.is_negative();
    let c = if neg { -c } else { c };
    (p.scale(&(Q::one() / c)), neg)
}

/// The loss formula of one region: `L = Σ_i I_i P_i` (reduction `sum`).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionFormula {
    /// `P_i`, the expected squared error of feature i.
    pub per_feature: Vec<RatFunc>,
    /// The conditions defining the region (strict inequalities, and equations for Gram
    /// entries that vanish there); constant conditions are omitted.
    pub conditions: Vec<Condition>,
}

impl RegionFormula {
    /// The value at a point with importances `importance` (symbols not needed).
    pub fn eval(&self, point: &Point, importance: &[Q]) -> Option<Q> {
        let mut acc = Q::zero();
        for (p, w) in self.per_feature.iter().zip(importance) {
            if !w.is_zero() {
                acc += p.eval(point)? * w;
            }
        }
        Some(acc)
    }

    /// Features with the same `P_i` grouped: `(importance symbols, P_i)`.
    pub fn groups(&self, symbols: &Symbols) -> Vec<(Vec<String>, RatFunc)> {
        let mut out: Vec<(Vec<String>, RatFunc)> = Vec::new();
        for (i, p) in self.per_feature.iter().enumerate() {
            match out.iter_mut().find(|(_, q)| q == p) {
                Some((names, _)) => names.push(symbols.importance(i)),
                None => out.push((vec![symbols.importance(i)], p.clone())),
            }
        }
        out
    }

    /// `Σ I_i P_i` printed.
    pub fn render(&self, symbols: &Symbols, style: Style) -> String {
        print::weighted_sum(&self.groups(symbols), style)
    }
}

/// The result of locating a point.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// The point is inside one region (or stratum, when Gram entries vanish).
    Inside(RegionFormula),
    /// The point is on the boundary of several regions: the vanishing vertex forms and the
    /// formulas of the regions met by small perturbations of the point.
    OnBoundary {
        forms: Vec<Poly>,
        adjacent: Vec<RegionFormula>,
    },
}

/// Cube-vertex values of the pre-activation of output `i` on active set `a`, after dropping
/// Gram entries that are identically zero or (when `point` says so) vanish.
struct Cut {
    /// Indices into the row of the kept coefficients.
    nz: Vec<usize>,
    /// Vertex value for each subset mask of `nz`.
    vertices: Vec<Poly>,
}

fn cut(b: &Poly, row: &[Poly], set: &[usize], kept: &[bool]) -> Cut {
    let nz: Vec<usize> = set.iter().copied().filter(|&j| kept[j]).collect();
    let mut vertices = vec![b.clone()];
    for &j in &nz {
        let len = vertices.len();
        for t in 0..len {
            let v = vertices[t].add(&row[j]);
            vertices.push(v);
        }
    }
    Cut { nz, vertices }
}

fn factorial(k: usize) -> Q {
    Q::from_integer((1..=k).fold(BigInt::one(), |a, j| a * BigInt::from(j)))
}

/// The sign of a vertex form at the point: `Some(±1)`, `Some(0)` if it vanishes there but not
/// identically (a region boundary), `None` when identically zero.
fn sign_of(p: &Poly, point: &Point) -> Result<Option<i32>> {
    if p.is_zero() {
        return Ok(None);
    }
    let v = p.eval(point).ok_or_else(|| {
        Error::invalid(format!(
            "the point gives no value to every symbol of {}",
            print::poly(p, Style::Plain)
        ))
    })?;
    Ok(Some(if v.is_zero() {
        0
    } else if v.is_positive() {
        1
    } else {
        -1
    }))
}

/// Active sets of n independent features with their probability as a polynomial in `s`.
fn active_sets(n: usize, s: &str) -> Vec<(Vec<usize>, Poly)> {
    let sp = Poly::var(s);
    let sq = Poly::one().sub(&sp);
    (0usize..(1 << n))
        .map(|mask| {
            let set: Vec<usize> = (0..n).filter(|j| mask >> j & 1 == 1).collect();
            let k = set.len() as u32;
            (set, sp.pow(k).mul(&sq.pow(n as u32 - k)))
        })
        .collect()
}

/// The formula valid at `point` (values for every symbol of M and b), with its region.
/// Vertex forms vanishing at the point are collected in the second value (then the formula
/// is that of the closure side where they are ≤ 0, and the caller reports a boundary).
fn formula_at(
    model: &SymbolicModel,
    point: &Point,
    symbols: &Symbols,
) -> Result<(RegionFormula, Vec<Poly>)> {
    let n = model.n();
    let s = &symbols.density;
    let sets = active_sets(n, s);
    let mut conditions: Vec<Condition> = Vec::new();
    let mut seen: HashSet<Condition> = HashSet::new();
    let mut vanishing: Vec<Poly> = Vec::new();
    let mut vanishing_seen: HashSet<Poly> = HashSet::new();
    let mut add_cond = |c: Condition, conditions: &mut Vec<Condition>| {
        if !c.poly.is_constant() && seen.insert(c.clone()) {
            conditions.push(c);
        }
    };
    let mut per_feature = Vec::with_capacity(n);
    for i in 0..n {
        let row = &model.gram[i];
        let b = &model.bias[i];
        if model.activation == SymActivation::Linear {
            per_feature.push(RatFunc::poly(linear_error(i, row, b, &sets)));
            continue;
        }
        // Which coefficients stay: identically zero ones go; vanishing ones go with an
        // equation in the region (a lower-dimensional stratum).
        let mut kept = vec![false; n];
        for j in 0..n {
            match sign_of(&row[j], point)? {
                None => {}
                Some(0) => add_cond(Condition::new(&row[j], Rel::Zero), &mut conditions),
                Some(_) => {
                    kept[j] = true;
                    add_cond(Condition::new(&row[j], Rel::NonZero), &mut conditions);
                }
            }
        }
        let nzrow: Vec<usize> = (0..n).filter(|&j| kept[j]).collect();
        let own_factor = kept[i];
        // Common denominator G = Π_{j kept} M_ij · M_ii^[i kept].
        let mut g = nzrow.iter().fold(Poly::one(), |acc, &j| acc.mul(&row[j]));
        if own_factor {
            g = g.mul(&row[i]);
        }
        let alpha = match &model.activation {
            SymActivation::LeakyRelu(a) => Some(a.clone()),
            _ => None,
        };
        let mut acc = Poly::zero();
        for (set, prob) in &sets {
            let c = cut(b, row, set, &kept);
            let mut signs = Vec::with_capacity(c.vertices.len());
            for v in &c.vertices {
                let sg = sign_of(v, point)?;
                match sg {
                    Some(0) => {
                        let (np, _) = normalise(v);
                        if vanishing_seen.insert(np.clone()) {
                            vanishing.push(np);
                        }
                    }
                    Some(x) => add_cond(
                        Condition::new(v, if x > 0 { Rel::Pos } else { Rel::Neg }),
                        &mut conditions,
                    ),
                    None => {}
                }
                signs.push(sg.unwrap_or(0));
            }
            // Π_{kept j ∉ A} M_ij: the factors of G the set's own denominator lacks.
            let missing = nzrow
                .iter()
                .filter(|j| !c.nz.contains(j))
                .fold(Poly::one(), |a, &j| a.mul(&row[j]));
            let own = if c.nz.contains(&i) {
                Own::At(c.nz.iter().position(|&j| j == i).expect("contains"))
            } else if set.contains(&i) {
                Own::Zero
            } else {
                Own::Absent
            };
            let ci = own_factor.then(|| &row[i]);
            let pos = cut_moments(&c, row, own, &signs, false, ci, &missing);
            // E[(x_i − f₊ + α f₋)²] − E[x_i²] = E f₊² − 2E[x_i f₊] + α² E f₋² + 2α E[x_i f₋].
            let mut t = pos.f2.sub(&pos.xf.scale(&Q::from_integer(BigInt::from(2))));
            if let Some(a) = &alpha {
                let neg = cut_moments(&c, row, own, &signs, true, ci, &missing);
                t = t.add(&neg.f2.scale(&(a * a)));
                t = t.add(&neg.xf.scale(&(a * Q::from_integer(BigInt::from(2)))));
            }
            acc.add_assign(&prob.mul(&t));
        }
        // + E[x_i²] = s/3 (x_i ~ U[0,1] with probability s).
        let third = Poly::var(s).scale(&Q::new(BigInt::one(), BigInt::from(3)));
        let mut p = RatFunc::new(acc.add(&g.mul(&third)), g);
        let cands: Vec<Poly> = nzrow.iter().map(|&j| row[j].clone()).collect();
        p.cancel(&cands);
        per_feature.push(p);
    }
    Ok((
        RegionFormula {
            per_feature,
            conditions: simplify(conditions),
        },
        vanishing,
    ))
}

/// An equivalent, shorter list of conditions: a monomial's `= 0` / `≠ 0` only depends on its
/// variables (`w1^2 ≠ 0` is `w1 ≠ 0`; `≠ 0` of a product splits into one per variable); a
/// polynomial that is never negative (even powers, positive coefficients) is `> 0` exactly
/// where it is `≠ 0`; `≠ 0` is dropped next to a strict inequality on the same polynomial.
fn simplify(conds: Vec<Condition>) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::new();
    let push = |c: Condition, out: &mut Vec<Condition>| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for c in conds {
        let single = c.poly.num_terms() == 1;
        let nonneg = c
            .poly
            .terms()
            .all(|(m, k)| k.is_positive() && m.factors().iter().all(|(_, e)| e % 2 == 0));
        // Even powers with positive coefficients and a positive constant: always > 0.
        if nonneg && c.rel != Rel::Zero && c.poly.terms().any(|(m, _)| m.degree() == 0) {
            continue;
        }
        let rel = if nonneg && c.rel == Rel::Pos {
            Rel::NonZero
        } else {
            c.rel
        };
        match (single, rel) {
            (true, Rel::NonZero) => {
                for v in c.poly.variables() {
                    push(Condition::new(&Poly::var(&v), Rel::NonZero), &mut out);
                }
            }
            (true, Rel::Zero) => {
                let m = c
                    .poly
                    .variables()
                    .iter()
                    .fold(Poly::one(), |a, v| a.mul(&Poly::var(v)));
                push(Condition::new(&m, Rel::Zero), &mut out);
            }
            _ => push(Condition { poly: c.poly, rel }, &mut out),
        }
    }
    let strict: Vec<Poly> = out
        .iter()
        .filter(|c| matches!(c.rel, Rel::Pos | Rel::Neg))
        .map(|c| c.poly.clone())
        .collect();
    out.retain(|c| c.rel != Rel::NonZero || !strict.contains(&c.poly));
    out
}

/// Where the weighted coordinate stands (see `integrals::rational`).
#[derive(Debug, Clone, Copy)]
enum Own {
    At(usize),
    Zero,
    Absent,
}

/// Numerators over the common denominator G of `E[f₊²]` (`f2`) and `E[x_i f₊]` (`xf`).
struct Moments {
    f2: Poly,
    xf: Poly,
}

/// Moments of `f₊` (or of `f₋ = (−f)₊` when `neg`) over the common denominator G.
///
/// # Formula
///
/// With `k` kept coefficients, vertex values `N_S = b + Σ_{j∈S} c_j`, `σ_S = (−1)^{k−|S|}` and
/// `T_r = Σ_{S: N_S>0} σ_S N_S^r` (`T^{∋o}_r` over the S containing o):
/// `E[f₊²] = 2 T_{k+2} / ((k+2)! Πc)`,
/// `E[x_o f₊] = ((k+2) c_o T^{∋o}_{k+1} − T_{k+2}) / ((k+2)! c_o Πc)`, and for an own coordinate
/// with coefficient 0, `E[x_o f₊] = ½ E[f₊] = T_{k+1} / (2 (k+1)! Πc)`. For `f₋`, b and c
/// change sign (so `Πc` gains `(−1)^k` and `c_o` a sign). Over `G = Π_{kept} c_j · c_i` the
/// missing factors multiply the numerators.
fn cut_moments(
    c: &Cut,
    row: &[Poly],
    own: Own,
    signs: &[i32],
    neg: bool,
    own_entry: Option<&Poly>,
    missing: &Poly,
) -> Moments {
    let k = c.nz.len();
    let flip = if neg { -Q::one() } else { Q::one() };
    let want = if neg { -1 } else { 1 };
    let own_bit = match own {
        Own::At(o) => 1usize << o,
        _ => 0,
    };
    let (mut t2, mut t1own, mut t1all) = (Poly::zero(), Poly::zero(), Poly::zero());
    for (mask, v) in c.vertices.iter().enumerate() {
        if signs[mask] != want {
            continue;
        }
        let v = v.scale(&flip);
        let p1 = v.pow((k + 1) as u32);
        let p2 = p1.mul(&v);
        let sgn = if (k - mask.count_ones() as usize) % 2 == 0 {
            Q::one()
        } else {
            -Q::one()
        };
        t2.add_assign(&p2.scale(&sgn));
        if mask & own_bit != 0 {
            t1own.add_assign(&p1.scale(&sgn));
        }
        if matches!(own, Own::Zero) {
            t1all.add_assign(&p1.scale(&sgn));
        }
    }
    // Π(±c_j) = (±1)^k Πc.
    let prod_sign = if neg && k % 2 == 1 {
        -Q::one()
    } else {
        Q::one()
    };
    let fk2 = factorial(k + 2);
    let ci = |o: usize| &row[c.nz[o]];
    let f2 = {
        let mut x = t2.scale(&(Q::from_integer(BigInt::from(2)) / &fk2 * &prod_sign));
        // G has M_ii once more than this denominator (for the E[x_i f₊] terms).
        if let Some(e) = own_entry {
            x = x.mul(e);
        }
        x.mul(missing)
    };
    let xf = match own {
        Own::At(o) => {
            // ((k+2)(±c_o) T1own − T2) / ((k+2)! (±c_o) (±1)^k Πc): the c_o of G is used.
            let co = ci(o).scale(&flip);
            let num = co
                .mul(&t1own)
                .scale(&Q::from_integer(BigInt::from(k + 2)))
                .sub(&t2);
            num.scale(&(flip.clone() * &prod_sign / &fk2)).mul(missing)
        }
        Own::Zero => {
            // The own coefficient is 0 here, so G has no M_ii factor.
            t1all
                .scale(&(prod_sign / (factorial(k + 1) * Q::from_integer(2.into()))))
                .mul(missing)
        }
        Own::Absent => Poly::zero(),
    };
    Moments { f2, xf }
}

/// Linear output: `Σ_A P(A) E[(x_i − b_i − Σ_{j∈A} M_ij x_j)²]`.
///
/// # Formula
/// With `d_j = δ_ij − M_ij` on A, `r = −b + Σ d_j x_j` has mean `−b + Σ d_j/2` and variance
/// `Σ d_j²/12`, so `E r² = (−b + Σ d_j/2)² + Σ d_j²/12`.
fn linear_error(i: usize, row: &[Poly], b: &Poly, sets: &[(Vec<usize>, Poly)]) -> Poly {
    let half = Q::new(1.into(), 2.into());
    let twelfth = Q::new(1.into(), 12.into());
    let mut acc = Poly::zero();
    for (set, prob) in sets {
        let mut mean = b.neg();
        let mut var = Poly::zero();
        for &j in set {
            let d = if j == i {
                Poly::one().sub(&row[j])
            } else {
                row[j].neg()
            };
            mean = mean.add(&d.scale(&half));
            var = var.add(&d.mul(&d).scale(&twelfth));
        }
        acc = acc.add(&prob.mul(&mean.mul(&mean).add(&var)));
    }
    acc
}

/// Refuses expansions larger than [`MAX_MONOMIALS`].
fn check_size(model: &SymbolicModel) -> Result<()> {
    let size = model.expansion_size();
    if size > MAX_MONOMIALS {
        return Err(Error::TooLarge(format!(
            "expanding this formula would cost about {size:.2e} monomial operations (n = {}, \
             {} symbols; ~1.5 µs each); the limit is {MAX_MONOMIALS:.1e}; fix more entries \
             (numbers instead of symbols) or use a smaller model",
            model.n(),
            model.variables().len()
        )));
    }
    Ok(())
}

/// The formula of the region containing `point`, or, when the point is on a region boundary,
/// the vanishing forms and the formulas of the adjacent regions (found by perturbing the
/// point by a tiny rational step in each symbol, both ways, and in a few mixed directions).
pub fn locate(model: &SymbolicModel, point: &Point, symbols: &Symbols) -> Result<Located> {
    check_size(model)?;
    let (f, vanishing) = formula_at(model, point, symbols)?;
    if vanishing.is_empty() {
        return Ok(Located::Inside(f));
    }
    let vars: Vec<String> = model.variables().into_iter().collect();
    let mut dirs: Vec<Vec<i64>> = Vec::new();
    for k in 0..vars.len() {
        for sgn in [1, -1] {
            let mut d = vec![0; vars.len()];
            d[k] = sgn;
            dirs.push(d);
        }
    }
    // Mixed directions reach regions that touch the point only in a corner.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..vars.len().min(8) {
        dirs.push(
            (0..vars.len())
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 7) as i64 - 3
                })
                .collect(),
        );
    }
    let mut adjacent: Vec<RegionFormula> = Vec::new();
    for d in dirs {
        let mut eps = Q::new(1.into(), BigInt::from(1u64 << 20));
        for _ in 0..40 {
            let mut p = point.clone();
            for (v, dk) in vars.iter().zip(&d) {
                let x = p.get(v).cloned().unwrap_or_else(Q::zero);
                p.insert(v.clone(), x + &eps * Q::from_integer((*dk).into()));
            }
            let (g, van) = formula_at(model, &p, symbols)?;
            // The step must keep every non-vanishing sign of the original point.
            let keeps = f
                .conditions
                .iter()
                .filter(|c| c.rel != Rel::Zero)
                .all(|c| c.holds(&p) == Some(true));
            if van.is_empty() && keeps {
                if !adjacent.iter().any(|a| a.per_feature == g.per_feature) {
                    adjacent.push(g);
                }
                break;
            }
            eps /= Q::from_integer(1024.into());
        }
    }
    Ok(Located::OnBoundary {
        forms: vanishing,
        adjacent,
    })
}

/// One piece of a loss that is piecewise polynomial in the density.
#[derive(Debug, Clone, PartialEq)]
pub struct DensityPiece {
    /// Lower end (0 or a breakpoint).
    pub lo: RealRoot,
    /// Upper end (a breakpoint or 1).
    pub hi: RealRoot,
    /// The formula on `[lo, hi]` (the loss is continuous, so both ends belong to it).
    pub formula: RegionFormula,
}

/// The loss of a model with numeric W (and biases constant or polynomial in the density) as
/// `Σ_i I_i P_i(s)`, piecewise on `0 ≤ s ≤ 1`: a bias that depends on `s` can move a vertex
/// value through 0, which splits the density range at that root.
pub fn density_formula(model: &SymbolicModel, symbols: &Symbols) -> Result<Vec<DensityPiece>> {
    let s = &symbols.density;
    let vars = model.variables();
    if let Some(v) = vars.iter().find(|v| *v != s) {
        return Err(Error::invalid(format!(
            "the density formula needs numeric weights, but the model has the symbol '{v}'"
        )));
    }
    check_size(model)?;
    // Breakpoints: roots in (0, 1) of the vertex values that depend on s.
    let mut forms: HashSet<UPoly> = HashSet::new();
    let n = model.n();
    for (i, row) in model.gram.iter().enumerate() {
        if model.bias[i].is_constant() || model.activation == SymActivation::Linear {
            continue;
        }
        let kept: Vec<bool> = row.iter().map(|c| !c.is_zero()).collect();
        for mask in 0usize..(1 << n) {
            let set: Vec<usize> = (0..n).filter(|j| mask >> j & 1 == 1).collect();
            for v in cut(&model.bias[i], row, &set, &kept).vertices {
                if !v.is_constant() {
                    let u = UPoly::from_poly(&v, s).expect("only the density symbol");
                    forms.insert(u.monic());
                }
            }
        }
    }
    let product = forms.iter().fold(UPoly::new(vec![Q::one()]), |a, f| {
        UPoly::from_poly(&a.to_poly(s).mul(&f.to_poly(s)), s).expect("univariate")
    });
    let (zero, one) = (Q::zero(), Q::one());
    let mut breaks: Vec<RealRoot> = vec![RealRoot::Rational(zero.clone())];
    if product.degree().unwrap_or(0) > 0 {
        breaks.extend(real_roots(&product, &zero, &one, false, false)?);
    }
    breaks.push(RealRoot::Rational(one));
    let mut pieces = Vec::new();
    for k in 0..breaks.len() - 1 {
        let (mut a, mut b) = (breaks[k].clone(), breaks[k + 1].clone());
        while a.upper() >= b.lower() {
            let wa = a.upper() - a.lower();
            let wb = b.upper() - b.lower();
            a.refine(&(wa / Q::from_integer(2.into())));
            b.refine(&(wb / Q::from_integer(2.into())));
        }
        let mid = (a.upper() + b.lower()) / Q::from_integer(2.into());
        let mut point = Point::new();
        point.insert(s.clone(), mid);
        let (f, van) = formula_at(model, &point, symbols)?;
        debug_assert!(van.is_empty(), "sample points avoid every breakpoint");
        pieces.push(DensityPiece {
            lo: breaks[k].clone(),
            hi: breaks[k + 1].clone(),
            formula: RegionFormula {
                per_feature: f.per_feature,
                conditions: Vec::new(),
            },
        });
    }
    Ok(pieces)
}

/// The polynomial `P(s)` of a one-piece density formula with every importance replaced
/// (e.g. by 1 and a symbol `r`): `Σ_i weight_i · P_i(s)`.
pub fn weighted_poly(piece: &RegionFormula, weights: &[Poly]) -> Result<Poly> {
    let mut acc = Poly::zero();
    for (p, w) in piece.per_feature.iter().zip(weights) {
        if !p.is_poly() {
            return Err(Error::invalid("the formula is not a polynomial"));
        }
        acc = acc.add(&p.num().mul(w));
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;

    #[test]
    fn dropped_feature_with_half_density_bias() {
        // W = [1, 0], b = [0, s/2]: P = (0, s/3 − s²/4).
        let model = Model::from_rows(&[vec![1.0, 0.0]], &[0.0, 0.0]).unwrap();
        let b = vec![Poly::zero(), Poly::var("s").scale(&q(1, 2))];
        let sm = SymbolicModel::numeric(&model, Activation::Relu, Some(b)).unwrap();
        let pieces = density_formula(&sm, &Symbols::default()).unwrap();
        assert_eq!(pieces.len(), 1);
        let f = &pieces[0].formula;
        assert!(f.per_feature[0].is_zero());
        let s = Poly::var("s");
        let want = s.scale(&q(1, 3)).sub(&s.pow(2).scale(&q(1, 4)));
        assert_eq!(f.per_feature[1], RatFunc::poly(want));
    }
}
