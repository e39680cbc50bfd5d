//! The data distribution: which features are active, their importances.
//!
//! Conventions (`shared/reference/model.md`): feature i has density p_i (probability of being
//! non-zero; sparsity S_i = 1 − p_i) and importance I_i ≥ 0. Active values are i.i.d. `U[0,1]`.
//! Every distribution here is a distribution over *active sets*; [`Data::active_sets`] exposes
//! it in the form the exact integrals use.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};

use crate::error::{ensure_finite, Error, Result};

/// Which features are active together.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Features independent, feature i active with its density p_i (the paper's data).
    Independent,
    /// Exactly one feature active; feature i with probability `probabilities[i]`
    /// (default 1/n): Chen et al.'s high-sparsity limit.
    OneHot { probabilities: Option<Vec<f64>> },
    /// An explicit list of active sets (feature indices) with their probabilities.
    ActiveSets(Vec<(Vec<usize>, f64)>),
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Independent => write!(f, "independent"),
            Distribution::OneHot { .. } => write!(f, "one-hot"),
            Distribution::ActiveSets(sets) => write!(f, "active-sets({})", sets.len()),
        }
    }
}

/// A per-feature quantity given as one value, one value per feature, or a geometric decay.
#[derive(Debug, Clone, PartialEq)]
pub enum PerFeature {
    /// The same value for every feature.
    Constant(f64),
    /// One value per feature.
    List(Vec<f64>),
    /// `r^i` for feature i = 0, 1, …, n−1 (e.g. importance `decay:0.9`).
    Decay(f64),
}

impl PerFeature {
    /// The values for n features; `what` names the quantity in messages.
    pub fn resolve(&self, what: &str, n: usize) -> Result<Vec<f64>> {
        let v = match self {
            PerFeature::Constant(x) => vec![*x; n],
            PerFeature::List(v) => {
                if v.len() != n {
                    return Err(Error::invalid(format!(
                        "{what} has {} entries but the model has {n} features",
                        v.len()
                    )));
                }
                v.clone()
            }
            PerFeature::Decay(r) => {
                ensure_finite(what, &[*r])?;
                (0..n).map(|i| r.powi(i as i32)).collect()
            }
        };
        ensure_finite(what, &v)?;
        Ok(v)
    }

    /// Parses `0.5`, `1,0.5,0.25` or `decay:0.9`.
    pub fn parse(what: &str, s: &str) -> Result<Self> {
        let s = s.trim();
        let num = |t: &str| -> Result<f64> {
            t.trim()
                .parse::<f64>()
                .map_err(|_| Error::invalid(format!("{what}: '{t}' is not a number")))
        };
        if let Some(r) = s.strip_prefix("decay:") {
            return Ok(PerFeature::Decay(num(r)?));
        }
        if s.starts_with("instances:") {
            return Err(Error::invalid(format!(
                "{what}: '{s}' gives one value per instance, which applies to 3-D [instances, \
                 features, hidden] weight stacks only"
            )));
        }
        if s.contains(',') {
            return Ok(PerFeature::List(
                s.split(',').map(num).collect::<Result<Vec<_>>>()?,
            ));
        }
        Ok(PerFeature::Constant(num(s)?))
    }
}

/// A data quantity (density, sparsity or importance) for a stack of `k` instances: one
/// per-feature form shared by every instance, or one value per instance.
#[derive(Debug, Clone, PartialEq)]
pub enum PerInstance {
    /// The same per-feature values for every instance (`0.5`, `1,0.5,…`, `decay:0.9`).
    Shared(PerFeature),
    /// One value per instance, the same for every feature of it (`instances:v1,v2,…`).
    Instances(Vec<f64>),
    /// An array broadcast to `[instances, features]` (C order, `k·n` values), e.g. the
    /// notebook's `feature_probability` read from a weights file.
    Array {
        k: usize,
        n: usize,
        values: Vec<f64>,
    },
}

impl PerInstance {
    /// Parses `instances:v1,v2,…` or any [`PerFeature`] form; `what` names the quantity.
    pub fn parse(what: &str, s: &str) -> Result<Self> {
        match s.trim().strip_prefix("instances:") {
            Some(list) => Ok(PerInstance::Instances(
                list.split(',')
                    .map(|t| {
                        t.trim().parse::<f64>().map_err(|_| {
                            Error::invalid(format!("{what} instances: '{t}' is not a number"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            )),
            None => Ok(PerInstance::Shared(PerFeature::parse(what, s)?)),
        }
    }

    /// The per-feature form of instance `i` of `k`; refuses a per-instance list or array that
    /// does not have `k` instances (the message names `what` and both counts).
    pub fn instance(&self, what: &str, i: usize, k: usize) -> Result<PerFeature> {
        match self {
            PerInstance::Shared(p) => Ok(p.clone()),
            PerInstance::Instances(v) => {
                if v.len() != k {
                    return Err(Error::invalid(format!(
                        "{what} instances:… has {} value{} but there {} {k} instance{} (one value \
                         per instance of a 3-D [instances, features, hidden] stack)",
                        v.len(),
                        if v.len() == 1 { "" } else { "s" },
                        if k == 1 { "is" } else { "are" },
                        if k == 1 { "" } else { "s" },
                    )));
                }
                Ok(PerFeature::Constant(v[i]))
            }
            PerInstance::Array { k: ak, n, values } => {
                if *ak != k {
                    return Err(Error::invalid(format!(
                        "{what} has {ak} instances but there {} {k}",
                        if k == 1 { "is" } else { "are" }
                    )));
                }
                Ok(PerFeature::List(values[i * n..(i + 1) * n].to_vec()))
            }
        }
    }
}

/// Broadcasts an array of shape `shape` (C order `values`) to `[k, n]` = `[instances,
/// features]` by numpy's rule (trailing axes aligned; each axis equal or 1; rank ≤ 2), so a
/// scalar, `[n]`, `[1, n]`, `[k, 1]` and `[k, n]` are accepted. The one broadcasting rule of
/// the crate: the weights-file reader and the Python layer both use it.
pub fn broadcast_to_instances(
    what: &str,
    shape: &[usize],
    values: &[f64],
    k: usize,
    n: usize,
) -> Result<Vec<f64>> {
    let refuse = || {
        Error::invalid(format!(
            "{what} has shape {shape:?}, which does not broadcast to [instances, features] = \
             [{k}, {n}] (one value per instance needs shape [{k}, 1]; one per feature [{n}])"
        ))
    };
    // Leading axes of length 1 broadcast away (numpy aligns trailing axes); pad to rank 2.
    let lead = shape.len().saturating_sub(2);
    if shape[..lead].iter().any(|&d| d != 1) {
        return Err(refuse());
    }
    let (rows, cols) = match shape[lead..] {
        [] => (1, 1),
        [c] => (1, c),
        [r, c] => (r, c),
        _ => return Err(refuse()),
    };
    if !(rows == 1 || rows == k) || !(cols == 1 || cols == n) {
        return Err(refuse());
    }
    if values.len() != rows * cols {
        return Err(Error::invalid(format!(
            "{what} has {} values but its shape {shape:?} needs {}",
            values.len(),
            rows * cols
        )));
    }
    ensure_finite(what, values)?;
    Ok((0..k)
        .flat_map(|i| {
            let r = if rows == 1 { 0 } else { i };
            (0..n).map(move |j| values[r * cols + if cols == 1 { 0 } else { j }])
        })
        .collect())
}

/// The active-set distribution in the form the exact integrals consume.
#[derive(Debug, Clone, PartialEq)]
pub enum ActiveSetFamily {
    /// Every subset A of `coords` is possible, with probability
    /// Π_{j∈A} p_j · Π_{j∈coords∖A} (1 − p_j); features outside `coords` are never active.
    Product {
        coords: Vec<usize>,
        density: Vec<f64>,
    },
    /// An explicit list of (sorted active set, probability); probabilities sum to 1.
    List(Vec<(Vec<usize>, f64)>),
}

/// One active set as [`ActiveSetFamily::expand`] lists it: the bit mask over the family's
/// coordinates (product data) or over the set itself (listed data), the features, and the
/// probability.
pub type ExpandedSet<P> = (usize, Vec<usize>, P);

impl ActiveSetFamily {
    /// Size of the largest set of features that can be active together.
    pub fn max_set_size(&self) -> usize {
        match self {
            ActiveSetFamily::Product { coords, .. } => coords.len(),
            ActiveSetFamily::List(sets) => sets.iter().map(|(s, _)| s.len()).max().unwrap_or(0),
        }
    }

    /// Every active set of positive probability, with its probability built by `factor`:
    /// starting from `one`, `factor(acc, p, active)` folds in each coordinate's density `p`
    /// (the factor is `p` if active, `1 − p` if not) or, for listed sets, the set's
    /// probability once as active. Callers choose the arithmetic (f64, or exact rationals).
    ///
    /// Product data: sets in increasing mask order, where bit t is `coords[t]`; a set is left
    /// out exactly when an inactive coordinate has density 1 (never-active features are
    /// not coordinates at all).
    pub fn expand<P>(
        &self,
        one: impl Fn() -> P,
        factor: impl Fn(P, f64, bool) -> P,
    ) -> Vec<ExpandedSet<P>> {
        match self {
            ActiveSetFamily::Product { coords, density } => {
                let k = coords.len();
                (0..1usize << k)
                    .filter(|mask| (0..k).all(|t| mask >> t & 1 == 1 || density[t] < 1.0))
                    .map(|mask| {
                        let set = (0..k)
                            .filter(|t| mask >> t & 1 == 1)
                            .map(|t| coords[t])
                            .collect();
                        let prob = (0..k)
                            .fold(one(), |acc, t| factor(acc, density[t], mask >> t & 1 == 1));
                        (mask, set, prob)
                    })
                    .collect()
            }
            ActiveSetFamily::List(sets) => sets
                .iter()
                .map(|(s, p)| ((1usize << s.len()) - 1, s.clone(), factor(one(), *p, true)))
                .collect(),
        }
    }

    /// [`ActiveSetFamily::expand`] with f64 probabilities.
    pub fn expand_f64(&self) -> Vec<ExpandedSet<f64>> {
        self.expand(
            || 1.0,
            |acc, p, active| acc * if active { p } else { 1.0 - p },
        )
    }
}

/// The data distribution and importances for n features.
#[derive(Debug, Clone)]
pub struct Data {
    n: usize,
    density: Vec<f64>,
    density_given: bool,
    /// The sparsities as given, when the density was set through them (so the exact route can
    /// use `1 − s` exactly rather than the f64 nearest it).
    sparsity: Option<Vec<f64>>,
    importance: Vec<f64>,
    distribution: Distribution,
}

impl Data {
    /// Density 1, importance 1, independent features.
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("the model has no features"));
        }
        Ok(Data {
            n,
            density: vec![1.0; n],
            density_given: false,
            sparsity: None,
            importance: vec![1.0; n],
            distribution: Distribution::Independent,
        })
    }

    /// Sets the density p_i (probability that feature i is non-zero), each in [0, 1].
    pub fn with_density(mut self, density: &PerFeature) -> Result<Self> {
        let d = density.resolve("density", self.n)?;
        if let Some((i, x)) = d
            .iter()
            .enumerate()
            .find(|(_, x)| !(0.0..=1.0).contains(*x))
        {
            return Err(Error::invalid(format!(
                "density of feature {i} is {x}, outside [0, 1]"
            )));
        }
        self.density = d;
        self.density_given = true;
        self.sparsity = None;
        self.check_density_applies()?;
        Ok(self)
    }

    /// Sets the sparsity S_i = 1 − p_i, each in [0, 1].
    pub fn with_sparsity(self, sparsity: &PerFeature) -> Result<Self> {
        let s = sparsity.resolve("sparsity", self.n)?;
        if let Some((i, x)) = s
            .iter()
            .enumerate()
            .find(|(_, x)| !(0.0..=1.0).contains(*x))
        {
            return Err(Error::invalid(format!(
                "sparsity of feature {i} is {x}, outside [0, 1]"
            )));
        }
        let mut data = self.with_density(&PerFeature::List(s.iter().map(|s| 1.0 - s).collect()))?;
        data.sparsity = Some(s);
        Ok(data)
    }

    /// The sparsities as given, when the density was set through them.
    pub fn sparsity_given(&self) -> Option<&[f64]> {
        self.sparsity.as_deref()
    }

    /// True for one-hot data with the default probabilities, exactly `1/n` each.
    pub fn is_uniform_one_hot(&self) -> bool {
        matches!(
            self.distribution,
            Distribution::OneHot {
                probabilities: None
            }
        )
    }

    /// Sets the importances I_i ≥ 0.
    pub fn with_importance(mut self, importance: &PerFeature) -> Result<Self> {
        let v = importance.resolve("importance", self.n)?;
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| **x < 0.0) {
            return Err(Error::invalid(format!(
                "importance of feature {i} is {x}; importances must be ≥ 0"
            )));
        }
        self.importance = v;
        Ok(self)
    }

    /// Sets the distribution, validating one-hot probabilities and active-set lists.
    pub fn with_distribution(mut self, distribution: Distribution) -> Result<Self> {
        let n = self.n;
        let distribution = match distribution {
            Distribution::Independent => Distribution::Independent,
            Distribution::OneHot { probabilities } => {
                if let Some(q) = &probabilities {
                    if q.len() != n {
                        return Err(Error::invalid(format!(
                            "one-hot probabilities have {} entries but the model has {n} features",
                            q.len()
                        )));
                    }
                    check_probabilities("one-hot probabilities", q)?;
                }
                Distribution::OneHot { probabilities }
            }
            Distribution::ActiveSets(sets) => {
                if sets.is_empty() {
                    return Err(Error::invalid("the list of active sets is empty"));
                }
                let mut clean = Vec::with_capacity(sets.len());
                for (k, (set, p)) in sets.into_iter().enumerate() {
                    let mut s = set.clone();
                    s.sort_unstable();
                    if let Some(&j) = s.iter().find(|&&j| j >= n) {
                        return Err(Error::invalid(format!(
                            "active set {k} names feature {j}, but features are 0..{}",
                            n - 1
                        )));
                    }
                    if s.windows(2).any(|w| w[0] == w[1]) {
                        return Err(Error::invalid(format!(
                            "active set {k} lists a feature twice"
                        )));
                    }
                    clean.push((s, p));
                }
                let probs: Vec<f64> = clean.iter().map(|(_, p)| *p).collect();
                check_probabilities("active-set probabilities", &probs)?;
                Distribution::ActiveSets(clean)
            }
        };
        self.distribution = distribution;
        self.check_density_applies()?;
        Ok(self)
    }

    fn check_density_applies(&self) -> Result<()> {
        if self.density_given && self.distribution != Distribution::Independent {
            return Err(Error::invalid(format!(
                "density/sparsity applies to independent data only; {} data fix which features are active",
                self.distribution
            )));
        }
        Ok(())
    }

    /// Number of features.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Densities p_i (for independent data; see [`Data::marginal_density`] for any data).
    pub fn density(&self) -> &[f64] {
        &self.density
    }

    /// Importances I_i.
    pub fn importance(&self) -> &[f64] {
        &self.importance
    }

    /// The distribution.
    pub fn distribution(&self) -> &Distribution {
        &self.distribution
    }

    /// P(feature i is active) under the distribution.
    pub fn marginal_density(&self) -> Vec<f64> {
        match &self.distribution {
            Distribution::Independent => self.density.clone(),
            Distribution::OneHot { probabilities } => match probabilities {
                Some(q) => q.clone(),
                None => vec![1.0 / self.n as f64; self.n],
            },
            Distribution::ActiveSets(sets) => {
                let mut d = vec![0.0; self.n];
                for (s, p) in sets {
                    for &j in s {
                        d[j] += p;
                    }
                }
                d
            }
        }
    }

    /// The active-set distribution for the integrals. Zero-probability sets and features
    /// that are never active are left out (they contribute nothing).
    pub fn active_sets(&self) -> ActiveSetFamily {
        match &self.distribution {
            Distribution::Independent => {
                let coords: Vec<usize> = (0..self.n).filter(|&j| self.density[j] > 0.0).collect();
                let density = coords.iter().map(|&j| self.density[j]).collect();
                ActiveSetFamily::Product { coords, density }
            }
            Distribution::OneHot { .. } => ActiveSetFamily::List(
                self.marginal_density()
                    .into_iter()
                    .enumerate()
                    .filter(|(_, q)| *q > 0.0)
                    .map(|(j, q)| (vec![j], q))
                    .collect(),
            ),
            Distribution::ActiveSets(sets) => {
                ActiveSetFamily::List(sets.iter().filter(|(_, p)| *p > 0.0).cloned().collect())
            }
        }
    }

    /// Draws one input vector into `x` (length n): active features ~ `U[0,1]`, others 0.
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, x: &mut [f64]) {
        debug_assert_eq!(x.len(), self.n);
        match &self.distribution {
            Distribution::Independent => {
                // Same order of draws as the notebook's batch: a value and a keep-draw per feature.
                for (j, xj) in x.iter_mut().enumerate() {
                    let v: f64 = rng.random();
                    let keep: f64 = rng.random();
                    *xj = if keep < self.density[j] { v } else { 0.0 };
                }
            }
            Distribution::OneHot { probabilities } => {
                x.iter_mut().for_each(|v| *v = 0.0);
                let j = match probabilities {
                    None => rng.random_range(0..self.n),
                    Some(q) => pick(rng, q.iter().copied()),
                };
                x[j] = rng.random();
            }
            Distribution::ActiveSets(sets) => {
                x.iter_mut().for_each(|v| *v = 0.0);
                let k = pick(rng, sets.iter().map(|(_, p)| *p));
                for &j in &sets[k].0 {
                    x[j] = rng.random();
                }
            }
        }
    }
}

/// Equal when they describe the same distribution and importances (whether the density was
/// stated explicitly or left at its default does not matter).
impl PartialEq for Data {
    fn eq(&self, o: &Self) -> bool {
        self.n == o.n
            && self.density == o.density
            && self.importance == o.importance
            && self.distribution == o.distribution
    }
}

/// Index drawn with probability proportional to `weights` (which sum to ≈ 1).
fn pick<R: Rng + ?Sized>(rng: &mut R, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let u: f64 = rng.random::<f64>() * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (k, w) in weights.enumerate() {
        if w > 0.0 {
            last = k;
            acc += w;
            if u < acc {
                return k;
            }
        }
    }
    last
}

/// Probabilities must be finite, ≥ 0 and sum to 1 within 1e-9.
fn check_probabilities(what: &str, p: &[f64]) -> Result<()> {
    ensure_finite(what, p)?;
    if let Some((k, x)) = p.iter().enumerate().find(|(_, x)| **x < 0.0) {
        return Err(Error::invalid(format!(
            "{what}: entry {k} is negative ({x})"
        )));
    }
    let s: f64 = p.iter().sum();
    if (s - 1.0).abs() > crate::tolerance::PROBABILITY_SUM {
        return Err(Error::invalid(format!("{what} sum to {s}, not 1")));
    }
    Ok(())
}

/// The optional parts data are built from (a model file's `data` object, or flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataParts {
    /// Importances.
    pub importance: Option<PerFeature>,
    /// Which features are active together.
    pub distribution: Option<Distribution>,
    /// Densities (exclusive with `sparsity`).
    pub density: Option<PerFeature>,
    /// Sparsities `1 − density`.
    pub sparsity: Option<PerFeature>,
}

impl Data {
    /// Data for n features from optional parts; every validation is [`Data`]'s own. Density
    /// and sparsity are exclusive; the distribution is set before the density so that a
    /// density given for non-independent data is refused with `Data`'s message.
    pub fn from_parts(n: usize, parts: &DataParts) -> Result<Data> {
        let mut data = Data::new(n)?;
        if let Some(i) = &parts.importance {
            data = data.with_importance(i)?;
        }
        if let Some(d) = &parts.distribution {
            data = data.with_distribution(d.clone())?;
        }
        match (&parts.density, &parts.sparsity) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "give either density or sparsity (= 1 − density), not both",
                ))
            }
            (Some(d), None) => data = data.with_density(d)?,
            (None, Some(s)) => data = data.with_sparsity(s)?,
            (None, None) => {}
        }
        Ok(data)
    }
}

impl FromStr for Distribution {
    type Err = Error;

    /// Parses `independent`, `one-hot` or `one-hot:q1,q2,…`.
    fn from_str(s: &str) -> Result<Distribution> {
        let s = s.trim();
        match s {
            "independent" => Ok(Distribution::Independent),
            "one-hot" => Ok(Distribution::OneHot {
                probabilities: None,
            }),
            _ => match s.strip_prefix("one-hot:") {
                Some(q) => match PerFeature::parse("one-hot probabilities", q)? {
                    PerFeature::List(q) => Ok(Distribution::OneHot {
                        probabilities: Some(q),
                    }),
                    PerFeature::Constant(x) => Ok(Distribution::OneHot {
                        probabilities: Some(vec![x]),
                    }),
                    PerFeature::Decay(_) => Err(Error::invalid(
                        "one-hot probabilities must be a list like one-hot:0.5,0.3,0.2",
                    )),
                },
                None => Err(Error::invalid(format!(
                "unknown distribution '{s}' (expected independent, one-hot or one-hot:q1,q2,…; \
                 explicit active sets go in a model file)"
            ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_instance_forms_give_each_instance_its_values() {
        let d = PerInstance::parse("density", "instances:0.1, 0.2,1").unwrap();
        assert_eq!(d, PerInstance::Instances(vec![0.1, 0.2, 1.0]));
        assert_eq!(
            d.instance("density", 1, 3).unwrap(),
            PerFeature::Constant(0.2)
        );
        let e = d.instance("density", 0, 10).unwrap_err().to_string();
        assert!(e.contains("density") && e.contains("3 values") && e.contains("10 instances"));
        let s = PerInstance::parse("importance", "decay:0.9").unwrap();
        assert_eq!(
            s.instance("importance", 4, 10).unwrap(),
            PerFeature::Decay(0.9)
        );
        assert!(PerInstance::parse("density", "instances:0.1,x").is_err());
        assert!(PerFeature::parse("density", "instances:0.1").is_err());
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let (k, n) = (2, 3);
        let b = |shape: &[usize], v: &[f64]| broadcast_to_instances("x", shape, v, k, n);
        assert_eq!(b(&[], &[0.5]).unwrap(), vec![0.5; 6]);
        assert_eq!(
            b(&[3], &[1.0, 2.0, 3.0]).unwrap(),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            b(&[1, 3], &[1.0, 2.0, 3.0]).unwrap(),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            b(&[2, 1], &[1.0, 2.0]).unwrap(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        let full: Vec<f64> = (0..6).map(f64::from).collect();
        assert_eq!(b(&[2, 3], &full).unwrap(), full);
        // [k] alone aligns with features, as in numpy: refused unless k == n.
        assert!(b(&[2], &[1.0, 2.0])
            .unwrap_err()
            .to_string()
            .contains("[2, 1]"));
        assert!(b(&[3, 3], &[0.0; 9]).is_err());
        assert_eq!(b(&[1, 2, 3], &full).unwrap(), full);
        assert!(b(&[2, 2, 3], &[0.0; 12]).is_err());
        assert!(b(&[2, 1], &[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn per_feature_parses_three_forms() {
        assert_eq!(
            PerFeature::parse("x", "0.5").unwrap(),
            PerFeature::Constant(0.5)
        );
        assert_eq!(
            PerFeature::parse("x", "1,0.5").unwrap(),
            PerFeature::List(vec![1.0, 0.5])
        );
        assert_eq!(
            PerFeature::parse("x", "decay:0.9").unwrap(),
            PerFeature::Decay(0.9)
        );
        let v = PerFeature::Decay(0.9).resolve("x", 3).unwrap();
        assert_eq!(v, vec![1.0, 0.9, 0.9 * 0.9]);
        assert!(PerFeature::parse("x", "a,b").is_err());
    }

    #[test]
    fn rejects_bad_data() {
        let d = Data::new(2).unwrap();
        assert!(d.clone().with_density(&PerFeature::Constant(1.5)).is_err());
        assert!(d
            .clone()
            .with_importance(&PerFeature::List(vec![1.0, -1.0]))
            .is_err());
        assert!(d
            .clone()
            .with_distribution(Distribution::ActiveSets(vec![(vec![0], 0.5)]))
            .is_err());
        assert!(d
            .clone()
            .with_distribution(Distribution::ActiveSets(vec![(vec![2], 1.0)]))
            .is_err());
        assert!(d
            .with_distribution(Distribution::OneHot {
                probabilities: None
            })
            .unwrap()
            .with_density(&PerFeature::Constant(0.5))
            .is_err());
    }

    #[test]
    fn expanded_sets_cover_the_distribution() {
        // Feature 2 is always active: sets without it have probability 0 and are left out.
        let d = Data::new(3)
            .unwrap()
            .with_density(&PerFeature::List(vec![0.5, 0.25, 1.0]))
            .unwrap();
        let sets = d.active_sets().expand_f64();
        assert_eq!(sets.len(), 4);
        assert!(sets
            .iter()
            .all(|(mask, set, _)| mask & 0b100 != 0 && set.contains(&2)));
        let total: f64 = sets.iter().map(|s| s.2).sum();
        assert_eq!(total, 1.0);
        assert_eq!(sets[0], (0b100, vec![2], 0.5 * 0.75));
        let listed = Data::new(3)
            .unwrap()
            .with_distribution(Distribution::ActiveSets(vec![
                (vec![2, 0], 0.3),
                (vec![1], 0.7),
            ]))
            .unwrap();
        assert_eq!(
            listed.active_sets().expand_f64(),
            vec![(0b11, vec![0, 2], 0.3), (0b1, vec![1], 0.7)]
        );
    }

    #[test]
    fn product_family_drops_never_active_features() {
        let d = Data::new(3)
            .unwrap()
            .with_density(&PerFeature::List(vec![0.5, 0.0, 1.0]))
            .unwrap();
        assert_eq!(
            d.active_sets(),
            ActiveSetFamily::Product {
                coords: vec![0, 2],
                density: vec![0.5, 1.0]
            }
        );
    }
}
