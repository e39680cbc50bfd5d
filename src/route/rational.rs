//! The exact loss as a rational number: the ground truth the other routes are checked against.
//!
//! Every finite f64 is a dyadic rational `m·2^e`, so `M = W_out W` (tied: `Wᵀ W`), `b`, the
//! densities, importances and the leaky slope are exact rationals, and so is the loss of a
//! piecewise-linear model. This module computes it with a formula deliberately *different*
//! from the crate's closed form ([`crate::integrals::cutcube`]): inclusion–exclusion over the
//! cube's vertices, which cancels catastrophically in floating point but is exact here.
//!
//! Inside one affine function all arithmetic is on integers: with `s` the smallest binary
//! exponent among `b_i` and the row's coefficients, `β = B·2^s` and `c_j = C_j·2^s` with
//! integers `B`, `C_j`, and the vertex values `β + c_S = N_S·2^s` are integer sums.
//!
//! Cost: `Σ_i Σ_A 2^{|A|}` big-integer powers, i.e. `n·3^k` for independent data with `k`
//! features of non-zero density; requests above [`MAX_TERMS`] are refused with
//! [`Error::TooLarge`].

use num_bigint::{BigInt, Sign};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::data::{ActiveSetFamily, Data};
use crate::error::{Error, Result};
use crate::model::{Activation, Model};
use crate::objective::{Objective, Reduction};
use crate::route::{Accuracy, Cost, Evaluation, Route};
use crate::shape::Shape;

/// Most vertex terms (`n·3^k` for independent data) the exact route accepts. Measured on this
/// machine (opt-level 2, random parameters, 2 shared cores): ~0.35 µs per term, so n = 8
/// independent features take 25 ms, n = 10 0.2 s, n = 12 (6.4·10⁶ terms) 2.4 s, and n = 13
/// (2.1·10⁷ terms, ~8 s) is refused. Tiny or huge coefficients make the integers longer and
/// the terms somewhat slower.
pub const MAX_TERMS: f64 = 7.0e6;

/// The exact loss and its per-feature terms (each already weighted, summing to `loss`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExactLoss {
    /// The loss `Σ_i w_i E[(x_i − x'_i)²]`.
    pub loss: BigRational,
    /// `w_i E[(x_i − x'_i)²]`, with `w_i = I_i` (sum) or `I_i / n` (mean).
    pub per_feature: Vec<BigRational>,
}

/// `"p/q"` in lowest terms (`q = 1` is printed too, so the form is always the same).
pub fn fraction_string(r: &BigRational) -> String {
    format!("{}/{}", r.numer(), r.denom())
}

/// The nearest f64 to `r` (infinite if out of range).
pub fn to_f64(r: &BigRational) -> f64 {
    r.to_f64().unwrap_or(if r.is_negative() {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    })
}

/// An exact dyadic rational `m·2^e` (what every finite f64 is).
#[derive(Debug, Clone, PartialEq)]
struct Dyadic {
    m: BigInt,
    e: i64,
}

impl Dyadic {
    fn zero() -> Self {
        Dyadic {
            m: BigInt::zero(),
            e: 0,
        }
    }

    /// The exact value of a finite f64.
    fn from_f64(x: f64) -> Self {
        if x == 0.0 {
            return Dyadic::zero();
        }
        let bits = x.to_bits();
        let neg = bits >> 63 == 1;
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp - 1075)
        };
        let m = BigInt::from(mant);
        Dyadic {
            m: if neg { -m } else { m },
            e,
        }
        .normalized()
    }

    /// Strips trailing zero bits so integers stay small.
    fn normalized(mut self) -> Self {
        if self.m.is_zero() {
            return Dyadic::zero();
        }
        let tz = self.m.trailing_zeros().unwrap_or(0);
        if tz > 0 {
            self.m >>= tz as usize;
            self.e += tz as i64;
        }
        self
    }

    fn mul(&self, o: &Dyadic) -> Dyadic {
        Dyadic {
            m: &self.m * &o.m,
            e: self.e + o.e,
        }
    }

    fn add(&self, o: &Dyadic) -> Dyadic {
        if self.m.is_zero() {
            return o.clone();
        }
        if o.m.is_zero() {
            return self.clone();
        }
        let e = self.e.min(o.e);
        Dyadic {
            m: (&self.m << (self.e - e) as usize) + (&o.m << (o.e - e) as usize),
            e,
        }
    }

    fn one() -> Self {
        Dyadic {
            m: BigInt::one(),
            e: 0,
        }
    }

    fn neg(&self) -> Dyadic {
        Dyadic {
            m: -&self.m,
            e: self.e,
        }
    }

    /// `self · x` for an integer `x`.
    fn times_int(&self, x: &BigInt) -> Dyadic {
        Dyadic {
            m: &self.m * x,
            e: self.e,
        }
    }

    /// The mantissa scaled to exponent `e ≤ self.e`.
    fn at_exponent(&self, e: i64) -> BigInt {
        if self.m.is_zero() {
            return BigInt::zero();
        }
        debug_assert!(e <= self.e);
        &self.m << (self.e - e) as usize
    }

    fn to_rational(&self) -> BigRational {
        BigRational::from_integer(self.m.clone()) * pow2(self.e)
    }
}

/// `2^e` as a rational.
fn pow2(e: i64) -> BigRational {
    let p = BigInt::one() << e.unsigned_abs() as usize;
    if e >= 0 {
        p.into()
    } else {
        BigRational::new(BigInt::one(), p)
    }
}

fn rat(x: f64) -> BigRational {
    Dyadic::from_f64(x).to_rational()
}

fn factorial(k: usize) -> BigInt {
    (1..=k).fold(BigInt::one(), |a, j| a * BigInt::from(j))
}

/// Where the weighted ("own") coordinate `x_o` stands in a moment `E[x_o f₊]`.
#[derive(Debug, Clone, Copy)]
enum Own {
    /// Among the non-zero coefficients, at this index.
    At(usize),
    /// Active but with coefficient 0: `E[x_o f₊] = ½ E[f₊]`.
    Zero,
    /// Not active: the term is not needed.
    Absent,
}

/// Integer numerators of `(E[f₊²], E[x_o f₊])` for `f = (B + Σ_j C_j x_j)·2^s`,
/// `x ~ U[0,1]^k`, every `C_j ≠ 0`.
///
/// # Formula
///
/// Inclusion–exclusion over the vertices (the B-spline / truncated-power identity): with
/// `N_S = B + Σ_{j∈S} C_j` and `σ_S = (−1)^{k−|S|}`,
///
/// ```text
/// E[f₊^p]     = p!/(p+k)! · 1/Πc · Σ_S σ_S (β + c_S)₊^{p+k}
/// E[x_o f₊^p] = 1/(p+1) ∂/∂c_o E[f₊^{p+1}]
///             = p!/(q+1)! · [ (q+1)/Πc Σ_{S∋o} σ_S (β+c_S)₊^q − 1/(c_o Πc) Σ_S σ_S (β+c_S)₊^{q+1} ],  q = p+k
/// ```
///
/// In integer units (`β + c_S = N_S 2^s`, `Πc = ΠC·2^{sk}`), with `T_r = Σ_S σ_S (N_S)₊^r`:
/// `E[f₊²] = 2·T_{k+2}·2^{2s} / ((k+2)! ΠC)`,
/// `E[x_o f₊] = ((k+2) C_o T^{∋o}_{k+1} − T_{k+2})·2^s / ((k+2)! C_o ΠC)`, and for a zero
/// own coefficient `½ E[f₊] = ½ T_{k+1}·2^s / ((k+1)! ΠC)`. For k = 0 these are `β₊²`, `½β₊`.
///
/// Returned as [`CutSums`]: `E[f₊²] = f2_num·2^{2s}/f2_den`, `E[x_o f₊] = xf_num·2^s/xf_den`.
fn cut_moments(b: &BigInt, c: &[BigInt], own: Own) -> CutSums {
    let k = c.len();
    // Vertex values N_S by subset mask.
    let mut vals: Vec<BigInt> = Vec::with_capacity(1 << k);
    vals.push(b.clone());
    for cj in c {
        let len = vals.len();
        for t in 0..len {
            let v = &vals[t] + cj;
            vals.push(v);
        }
    }
    let own_bit = match own {
        Own::At(o) => 1usize << o,
        _ => 0,
    };
    let need_all1 = matches!(own, Own::Zero);
    let (mut t2, mut t1own, mut t1all) = (BigInt::zero(), BigInt::zero(), BigInt::zero());
    for (mask, v) in vals.iter().enumerate() {
        if v.sign() != Sign::Plus {
            continue;
        }
        let p1 = v.pow((k + 1) as u32);
        let p2 = &p1 * v;
        let positive = (k - mask.count_ones() as usize) % 2 == 0;
        if positive {
            t2 += p2;
        } else {
            t2 -= p2;
        }
        if mask & own_bit != 0 || need_all1 {
            let target = if need_all1 { &mut t1all } else { &mut t1own };
            if positive {
                *target += &p1;
            } else {
                *target -= &p1;
            }
        }
    }
    let prod_c: BigInt = c.iter().fold(BigInt::one(), |a, x| a * x);
    let fk2 = factorial(k + 2);
    let f2_den = &fk2 * &prod_c;
    let (xf_num, xf_den) = match own {
        Own::At(o) => {
            let co = &c[o];
            (BigInt::from(k + 2) * co * t1own - &t2, fk2 * co * &prod_c)
        }
        Own::Zero => (t1all, BigInt::from(2) * factorial(k + 1) * prod_c),
        Own::Absent => (BigInt::zero(), BigInt::one()),
    };
    CutSums {
        f2_num: BigInt::from(2) * t2,
        f2_den,
        xf_num,
        xf_den,
    }
}

/// `E[f₊²] = f2_num·2^{2s}/f2_den` and `E[x_o f₊] = xf_num·2^s/xf_den` (see [`cut_moments`]).
#[derive(Debug, Clone)]
struct CutSums {
    f2_num: BigInt,
    f2_den: BigInt,
    xf_num: BigInt,
    xf_den: BigInt,
}

/// One active set with its exact (dyadic) probability.
type WeightedSet = (Vec<usize>, Dyadic);

/// The data's probabilities as exact rationals: a density given as a sparsity `s` is exactly
/// `1 − s` (not the f64 nearest it), and default one-hot data have probability exactly `1/n`.
enum ExactProbabilities {
    /// Independent coordinates: (feature, P(active), P(inactive)), each an exact dyadic.
    Product(Vec<(usize, Dyadic, Dyadic)>),
    /// Listed sets: (set, probability as a dyadic) and a common factor all probabilities
    /// are multiplied by (`1/n` for uniform one-hot data, whose dyadic parts are 1).
    List(Vec<(Vec<usize>, Dyadic)>, BigRational),
}

fn exact_probabilities(data: &Data) -> ExactProbabilities {
    match data.active_sets() {
        ActiveSetFamily::Product { coords, density } => {
            let sparsity = data.sparsity_given();
            ExactProbabilities::Product(
                coords
                    .iter()
                    .zip(&density)
                    .map(|(&j, &p)| match sparsity {
                        Some(s) => {
                            let s = Dyadic::from_f64(s[j]);
                            (j, Dyadic::one().add(&s.neg()).normalized(), s)
                        }
                        None => {
                            let p = Dyadic::from_f64(p);
                            (j, p.clone(), Dyadic::one().add(&p.neg()).normalized())
                        }
                    })
                    .collect(),
            )
        }
        ActiveSetFamily::List(sets) if data.is_uniform_one_hot() => ExactProbabilities::List(
            sets.into_iter().map(|(s, _)| (s, Dyadic::one())).collect(),
            BigRational::new(BigInt::one(), BigInt::from(data.n())),
        ),
        ActiveSetFamily::List(sets) => ExactProbabilities::List(
            sets.into_iter()
                .map(|(s, p)| (s, Dyadic::from_f64(p)))
                .collect(),
            BigRational::one(),
        ),
    }
}

/// The active sets with positive probability, with exact probabilities (each factor is an
/// exact dyadic, and so is their product), and the common rational factor of them all.
fn exact_sets(probs: &ExactProbabilities) -> (Vec<WeightedSet>, BigRational) {
    match probs {
        ExactProbabilities::Product(coords) => {
            let k = coords.len();
            let sets = (0..1usize << k)
                .filter(|mask| (0..k).all(|t| mask >> t & 1 == 1 || !coords[t].2.m.is_zero()))
                .map(|mask| {
                    let set = (0..k)
                        .filter(|t| mask >> t & 1 == 1)
                        .map(|t| coords[t].0)
                        .collect();
                    let prob = (0..k).fold(Dyadic::one(), |acc, t| {
                        acc.mul(if mask >> t & 1 == 1 {
                            &coords[t].1
                        } else {
                            &coords[t].2
                        })
                    });
                    (set, prob.normalized())
                })
                .collect();
            (sets, BigRational::one())
        }
        ExactProbabilities::List(sets, common) => (sets.clone(), common.clone()),
    }
}

/// Seconds per big-integer vertex term (measured, see [`MAX_TERMS`]).
const SECONDS_PER_TERM: f64 = 3.5e-7;

/// The exact rational route.
#[derive(Debug, Clone)]
pub struct ExactRational {
    obj: Objective,
    /// Vertex terms one evaluation visits (`n·3^k` for independent data).
    terms: f64,
}

impl ExactRational {
    /// The route; fails for smooth activations (no closed form) and requests above
    /// [`MAX_TERMS`] vertex terms.
    pub fn new(obj: Objective) -> Result<Self> {
        let n = obj.n() as f64;
        let terms = match obj.data().active_sets() {
            ActiveSetFamily::Product { coords, .. } => n * 3f64.powi(coords.len() as i32),
            ActiveSetFamily::List(sets) => sets
                .iter()
                .map(|(s, _)| n * 2f64.powi(s.len() as i32))
                .sum(),
        };
        let route = ExactRational { obj, terms };
        route.cost(Shape::new(route.obj.n(), 1, true))?;
        Ok(route)
    }
}

impl Route for ExactRational {
    fn name(&self) -> &'static str {
        "exact"
    }

    fn objective(&self) -> &Objective {
        &self.obj
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        let act = self.obj.activation();
        if !act.has_closed_form() {
            return Err(Error::invalid(format!(
                "the {act} activation has no closed form, so no exact rational loss; use the \
                 quadrature or Monte Carlo method"
            )));
        }
        let n = self.obj.n();
        let terms = if act == Activation::Linear {
            (n * n) as f64
        } else {
            self.terms
        };
        if terms > MAX_TERMS {
            return Err(Error::TooLarge(format!(
                "the exact rational loss needs about {terms:.2e} big-integer vertex terms \
                 (n·3^k for k features that can be active together, here n = {n}); the limit is \
                 {MAX_TERMS:.0e} (a few seconds); use the f64 closed form or Monte Carlo"
            )));
        }
        let gram = (shape.n * shape.n * shape.m) as f64;
        let cost = Cost {
            seconds: (terms + gram) * SECONDS_PER_TERM,
            bytes: (terms.min(1e6) + gram) * 64.0,
        };
        crate::limits::check_memory(cost.bytes, "the exact rational loss")?;
        Ok(cost)
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        let exact = exact_loss(model, &self.obj)?;
        let mut e = Evaluation::from_terms(
            exact.per_feature.iter().map(to_f64).collect(),
            Accuracy::Exact,
        );
        e.loss = to_f64(&exact.loss);
        e.exact = Some(exact);
        Ok(e)
    }
}

/// The exact rational loss of a ReLU, leaky-ReLU or linear model.
///
/// Fails with [`Error::Invalid`] for smooth activations (no closed form) or mismatched
/// shapes, and with [`Error::TooLarge`] when the inclusion–exclusion would visit more than
/// [`MAX_TERMS`] vertex terms.
pub fn exact_loss(model: &Model, obj: &Objective) -> Result<ExactLoss> {
    obj.check_model(model)?;
    ExactRational::new(obj.clone())?.cost(model.shape())?;
    let act = obj.activation();
    let n = model.n();
    let probs = exact_probabilities(obj.data());

    let gram = exact_gram(model);
    let bias: Vec<Dyadic> = model.b().iter().map(|&x| Dyadic::from_f64(x)).collect();
    let scale = match obj.reduction() {
        Reduction::Sum => BigRational::one(),
        Reduction::Mean => BigRational::new(BigInt::one(), BigInt::from(n)),
    };
    let weights: Vec<BigRational> = obj
        .data()
        .importance()
        .iter()
        .map(|&w| rat(w) * &scale)
        .collect();

    let per_feature: Vec<BigRational> = match act {
        Activation::Linear => (0..n)
            .map(|i| {
                if weights[i].is_zero() {
                    return BigRational::zero();
                }
                &weights[i] * linear_output(&probs, i, &gram[i], &bias[i])
            })
            .collect(),
        Activation::Relu | Activation::LeakyRelu { .. } => {
            let alpha = match act {
                Activation::LeakyRelu { alpha } => Dyadic::from_f64(alpha),
                _ => Dyadic::zero(),
            };
            let (sets, common) = exact_sets(&probs);
            (0..n)
                .map(|i| {
                    if weights[i].is_zero() {
                        return BigRational::zero();
                    }
                    &weights[i] * &common * relu_output(&sets, i, &gram[i], &bias[i], &alpha)
                })
                .collect()
        }
        Activation::Gelu | Activation::Softplus => unreachable!("checked above"),
    };
    let loss = per_feature.iter().fold(BigRational::zero(), |a, x| a + x);
    Ok(ExactLoss { loss, per_feature })
}

/// `M = W_out W` (tied `Wᵀ W`) exactly, as rows of dyadics.
fn exact_gram(model: &Model) -> Vec<Vec<Dyadic>> {
    let (m, n) = (model.m(), model.n());
    let w: Vec<Vec<Dyadic>> = (0..m)
        .map(|h| {
            (0..n)
                .map(|j| Dyadic::from_f64(model.w()[(h, j)]))
                .collect()
        })
        .collect();
    let read: Vec<Vec<Dyadic>> = match model.w_out() {
        Some(wo) => (0..n)
            .map(|i| (0..m).map(|h| Dyadic::from_f64(wo[(i, h)])).collect())
            .collect(),
        None => (0..n)
            .map(|i| (0..m).map(|h| w[h][i].clone()).collect())
            .collect(),
    };
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    (0..m)
                        .fold(Dyadic::zero(), |acc, h| acc.add(&read[i][h].mul(&w[h][j])))
                        .normalized()
                })
                .collect()
        })
        .collect()
}

/// `Σ_A P(A) E[(x_i − act(b_i + Σ_{j∈A} M_ij x_j))²]` for ReLU (α = 0) and leaky ReLU.
///
/// # Formula
///
/// With `f₋ = (−f)₊` and `f₊ f₋ = 0`:
/// `E[(x_i − f₊ + α f₋)²] = 1[i∈A]/3 − 2E[x_i f₊] + 2αE[x_i f₋] + E[f₊²] + α²E[f₋²]`;
/// the moments come from [`cut_moments`] (of `f` and of `−f`).
///
/// To avoid a gcd per active set, every term is put over one integer denominator
/// `G = 2 (K+2)! C_i Π_j C_j` (K the largest set, the product over the row's non-zero
/// coefficients, all on the row's common exponent `s`), which every set's denominator divides;
/// the sums over sets are then exact dyadic additions, and one rational is formed per output.
fn relu_output(
    sets: &[WeightedSet],
    i: usize,
    row: &[Dyadic],
    bi: &Dyadic,
    alpha: &Dyadic,
) -> BigRational {
    let s = row
        .iter()
        .chain(std::iter::once(bi))
        .filter(|d| !d.m.is_zero())
        .map(|d| d.e)
        .min()
        .unwrap_or(0);
    let b_int = bi.at_exponent(s);
    let c_int: Vec<BigInt> = row.iter().map(|d| d.at_exponent(s)).collect();
    let k_max = sets.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    let mut g = BigInt::from(2) * factorial(k_max + 2);
    for c in c_int.iter().filter(|c| !c.is_zero()) {
        g *= c;
    }
    if !c_int[i].is_zero() {
        g *= &c_int[i];
    }
    let over_g = |num: &BigInt, den: &BigInt| -> BigInt {
        debug_assert!((&g % den).is_zero());
        num * (&g / den)
    };
    let two = BigInt::from(2);
    let (mut acc2, mut acc1, mut acc0) = (Dyadic::zero(), Dyadic::zero(), Dyadic::zero());
    for (set, prob) in sets {
        // Zero coefficients do not change f: drop them (the own one becomes Own::Zero).
        let nz: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&j| !c_int[j].is_zero())
            .collect();
        let c: Vec<BigInt> = nz.iter().map(|&j| c_int[j].clone()).collect();
        let own = match nz.iter().position(|&j| j == i) {
            Some(o) => Own::At(o),
            None if set.contains(&i) => Own::Zero,
            None => Own::Absent,
        };
        let pos = cut_moments(&b_int, &c, own);
        acc2 = acc2.add(&prob.times_int(&over_g(&pos.f2_num, &pos.f2_den)));
        if !matches!(own, Own::Absent) {
            acc0 = acc0.add(prob);
            acc1 = acc1.add(&prob.times_int(&(-&two * over_g(&pos.xf_num, &pos.xf_den))));
        }
        if !alpha.m.is_zero() {
            let neg_c: Vec<BigInt> = c.iter().map(|x| -x).collect();
            let neg = cut_moments(&(-&b_int), &neg_c, own);
            let pa = prob.mul(alpha);
            acc2 = acc2.add(&pa.mul(alpha).times_int(&over_g(&neg.f2_num, &neg.f2_den)));
            if !matches!(own, Own::Absent) {
                acc1 = acc1.add(&pa.times_int(&(&two * over_g(&neg.xf_num, &neg.xf_den))));
            }
        }
    }
    let g = BigRational::from_integer(g);
    (acc2.to_rational() * pow2(2 * s) + acc1.to_rational() * pow2(s)) / g
        + acc0.to_rational() / BigRational::from_integer(BigInt::from(3))
}

/// Linear output: exact polynomial moments of `r = x_i − b_i − Σ_j M_ij x_j`.
///
/// # Formula
///
/// With `d_j = δ_ij − M_ij`, `r = −b + Σ_j d_j x_j`, and independent active coordinates with
/// `μ_j = E x_j`, `ν_j = E x_j²` (independent data: `p_j/2`, `p_j/3`; a listed set: `1/2`,
/// `1/3`): `E r² = b² − 2b Σ d_j μ_j + Σ d_j² ν_j + (Σ d_j μ_j)² − Σ d_j² μ_j²`.
fn linear_output(probs: &ExactProbabilities, i: usize, row: &[Dyadic], bi: &Dyadic) -> BigRational {
    let b = bi.to_rational();
    let d = |j: usize| {
        let mij = row[j].to_rational();
        if j == i {
            BigRational::one() - mij
        } else {
            -mij
        }
    };
    let group = |items: &[(usize, BigRational)]| {
        // items: (feature, activation probability)
        let two = BigInt::from(2);
        let three = BigInt::from(3);
        let mut lin = BigRational::zero();
        let mut quad = BigRational::zero();
        let mut diag = BigRational::zero();
        for (j, p) in items {
            let dj = d(*j);
            let mu = p / BigRational::from_integer(two.clone());
            let nu = p / BigRational::from_integer(three.clone());
            lin += &dj * &mu;
            quad += &dj * &dj * nu;
            diag += &dj * &dj * &mu * &mu;
        }
        &b * &b - BigRational::from_integer(two) * &b * &lin + quad + &lin * &lin - diag
    };
    match probs {
        ExactProbabilities::Product(coords) => {
            let items: Vec<(usize, BigRational)> = coords
                .iter()
                .map(|(j, p, _)| (*j, p.to_rational()))
                .collect();
            group(&items)
        }
        ExactProbabilities::List(sets, common) => {
            common
                * sets
                    .iter()
                    .map(|(s, p)| {
                        let items: Vec<(usize, BigRational)> =
                            s.iter().map(|&j| (j, BigRational::one())).collect();
                        p.to_rational() * group(&items)
                    })
                    .fold(BigRational::zero(), |a, x| a + x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dyadic_is_exact() {
        for x in [1.0, -0.75, 5e-324, 1e300, 0.1, -3.0e-12] {
            assert_eq!(to_f64(&rat(x)), x);
            assert_eq!(BigRational::from_float(x).unwrap(), rat(x));
        }
        assert_eq!(fraction_string(&rat(0.75)), "3/4");
        assert_eq!(fraction_string(&rat(2.0)), "2/1");
    }

    #[test]
    fn one_dimensional_moments() {
        // f = β + c x with β = -1/2, c = 1 (units 2^-1: B = -1, C = 2):
        // E f₊² = ∫_{1/2}^1 (x − 1/2)² = 1/24; E[x f₊] = ∫_{1/2}^1 x(x − 1/2) = 5/48.
        let cs = cut_moments(&BigInt::from(-1), &[BigInt::from(2)], Own::At(0));
        let f2 = BigRational::new(cs.f2_num, cs.f2_den) * pow2(-2);
        let xf = BigRational::new(cs.xf_num, cs.xf_den) * pow2(-1);
        assert_eq!(f2, BigRational::new(1.into(), 24.into()));
        assert_eq!(xf, BigRational::new(5.into(), 48.into()));
    }
}
