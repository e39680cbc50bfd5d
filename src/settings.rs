//! User settings as given (strings from flags, a notebook or a Python call) turned into
//! library objects — in one place, so every front end (the command line, the Python layer)
//! applies the same policy: which value overrides which, what conflicts, what a name means.

use crate::data::{Data, DataParts, Distribution, PerFeature, PerInstance};
use crate::error::{Error, Result};
use crate::model::Activation;
use crate::objective::{Objective, Reduction};
use crate::optimize::{MinimizeOptions, SearchOptions};
use crate::route::{Method, RouteSettings};
use crate::shape::Shape;

/// Data and objective settings, each optional (`None`: keep the base's value, or the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSettings {
    /// Density: one value, a list "0.1,0.2,…" (per feature), "decay:r", or
    /// "instances:v1,v2,…" (one value per instance of a stack).
    pub density: Option<String>,
    /// Sparsity `1 − density`; same forms.
    pub sparsity: Option<String>,
    /// Importance: one value, a list, "decay:r" or "instances:v1,v2,…".
    pub importance: Option<String>,
    /// relu, linear, leaky_relu[:alpha], gelu, softplus.
    pub activation: Option<String>,
    /// independent, one-hot, one-hot:q1,q2,…
    pub distribution: Option<String>,
    /// sum or mean.
    pub reduction: Option<String>,
}

impl DataSettings {
    /// True when no setting is given at all.
    pub fn is_empty(&self) -> bool {
        *self == DataSettings::default()
    }

    /// The objective for `n` features from the defaults and these settings (no model file).
    pub fn objective(&self, n: usize) -> Result<Objective> {
        self.apply(&Objective::new(Data::new(n)?))
    }

    /// `base` with every given setting overriding its value. A density from `base` is kept only
    /// while the data stay independent (switching to one-hot drops it); an explicit density or
    /// sparsity for non-independent data is an error.
    pub fn apply(&self, base: &Objective) -> Result<Objective> {
        Ok(self.apply_instance(base, 0, 1, &FileData::default())?.0)
    }

    /// The objectives of the `k` instances (n features each) of a weights stack: each setting
    /// may be per instance (`instances:v1,v2,…`); a setting given here overrides the arrays
    /// read from the file (`file`), which override the defaults (density 1, importance 1).
    /// A density or sparsity setting overrides the file's density; a non-independent
    /// distribution drops it.
    pub fn stack_objectives(&self, k: usize, n: usize, file: &FileData) -> Result<StackObjectives> {
        if k == 0 {
            return Err(Error::invalid("the stack has no instances"));
        }
        let base = Objective::new(Data::new(n)?);
        let mut objectives = Vec::with_capacity(k);
        let mut sources = (Source::Default, Source::Default);
        for i in 0..k {
            let (o, d, imp) = self.apply_instance(&base, i, k, file)?;
            objectives.push(o);
            sources = (d, imp);
        }
        Ok(StackObjectives {
            objectives,
            density: sources.0,
            importance: sources.1,
        })
    }

    /// Instance `i` of `k`: the objective and where its density and importance came from.
    fn apply_instance(
        &self,
        base: &Objective,
        i: usize,
        k: usize,
        file: &FileData,
    ) -> Result<(Objective, Source, Source)> {
        let n = base.n();
        let old = base.data();
        let given = |flag: &str, s: &Option<String>| -> Result<Option<PerFeature>> {
            s.as_deref()
                .map(|s| PerInstance::parse(flag, s)?.instance(flag, i, k))
                .transpose()
        };
        let distribution = match &self.distribution {
            Some(s) => s.parse::<Distribution>()?,
            None => old.distribution().clone(),
        };
        let (importance, importance_source) =
            match (given("--importance", &self.importance)?, &file.importance) {
                (Some(p), _) => (p, Source::Setting),
                (None, Some(a)) => (a.instance("importance", i, k)?, Source::File),
                (None, None) => (PerFeature::List(old.importance().to_vec()), Source::Default),
            };
        let density = given("--density", &self.density)?;
        let sparsity = given("--sparsity", &self.sparsity)?;
        let independent = distribution == Distribution::Independent;
        let file_density = match &file.density {
            Some(a) if density.is_none() && sparsity.is_none() && independent => {
                Some(a.instance("density", i, k)?)
            }
            _ => None,
        };
        let density_source = if density.is_some() || sparsity.is_some() {
            Source::Setting
        } else if file_density.is_some() {
            Source::File
        } else {
            Source::Default
        };
        // Density 1 is the default, left unset so the result stays free to change distribution.
        let keep_old_density = density_source == Source::Default
            && independent
            && *old.distribution() == Distribution::Independent
            && old.density().iter().any(|&p| p != 1.0);
        let old_density = keep_old_density.then(|| PerFeature::List(old.density().to_vec()));
        let data = Data::from_parts(
            n,
            &DataParts {
                importance: Some(importance),
                distribution: Some(distribution),
                density: density.or(file_density).or(old_density),
                sparsity,
            },
        )?;
        let activation = match &self.activation {
            Some(s) => s.parse::<Activation>()?,
            None => base.activation(),
        };
        let reduction = match &self.reduction {
            Some(s) => s.parse::<Reduction>()?,
            None => base.reduction(),
        };
        let objective = Objective::new(data)
            .with_activation(activation)
            .with_reduction(reduction);
        Ok((objective, density_source, importance_source))
    }
}

/// Data arrays stored beside the weights of a stack (the notebook's `feature_probability` and
/// `importance`), each already broadcast to `[instances, features]` ([`PerInstance::Array`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileData {
    /// Density per instance and feature.
    pub density: Option<PerInstance>,
    /// Importance per instance and feature.
    pub importance: Option<PerInstance>,
}

/// Where a quantity of a stack's objectives came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A setting (a flag, or a Python argument).
    Setting,
    /// An array read from the weights file.
    File,
    /// The default (density 1, importance 1), or the base objective's value.
    Default,
}

/// The objectives of a stack's instances and the sources of their data.
#[derive(Debug, Clone, PartialEq)]
pub struct StackObjectives {
    /// One objective per instance.
    pub objectives: Vec<Objective>,
    /// Where the densities came from.
    pub density: Source,
    /// Where the importances came from.
    pub importance: Source,
}

/// How critical points are searched for, as given.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    /// Number of seeded starts.
    pub restarts: usize,
    /// Seed of the starts.
    pub seed: u64,
    /// Hold every bias at 0.
    pub no_bias: bool,
    /// Parameters held fixed: "W[h,j]=v", "b[i]=v" or "W_out[i,h]=v".
    pub fix: Vec<String>,
}

impl SearchSettings {
    /// The search these settings describe for models of `shape`.
    pub fn search_options(&self, shape: Shape) -> Result<SearchOptions> {
        let mut opts = MinimizeOptions::new().with_no_bias(self.no_bias);
        let mut seen: Vec<(usize, &str)> = Vec::new();
        for spec in &self.fix {
            let (k, v) = parse_fix(spec, shape)?;
            if let Some((_, first)) = seen.iter().find(|(j, _)| *j == k) {
                return Err(Error::invalid(format!(
                    "--fix '{spec}' and --fix '{first}' fix the same parameter; give it once"
                )));
            }
            if self.no_bias && shape.b().contains(&k) {
                return Err(Error::invalid(format!(
                    "--fix '{spec}' conflicts with --no-bias (which holds every bias at 0)"
                )));
            }
            seen.push((k, spec));
            opts = opts.with_fixed(k, v)?;
        }
        Ok(SearchOptions::new()
            .with_restarts(self.restarts)?
            .with_seed(self.seed)
            .with_minimize(opts))
    }
}

/// Index in [`crate::model::Model::to_vec`] order, and value, of a parameter named like
/// `W[0,1]=v`, `b[2]=v`, `W_out[1,0]=v`.
pub fn parse_fix(spec: &str, shape: Shape) -> Result<(usize, f64)> {
    let (n, m) = (shape.n, shape.m);
    let bad = || {
        Error::invalid(format!(
            "--fix '{spec}': expected W[h,j]=value, b[i]=value or W_out[i,h]=value"
        ))
    };
    let (name, value) = spec.split_once('=').ok_or_else(bad)?;
    let value: f64 = value.trim().parse().map_err(|_| bad())?;
    let (name, idx) = name.trim().split_once('[').ok_or_else(bad)?;
    let idx: Vec<usize> = idx
        .strip_suffix(']')
        .ok_or_else(bad)?
        .split(',')
        .map(|t| t.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let out_of_range = |what: &str| {
        Error::invalid(format!(
            "--fix '{spec}': index out of range for {what} (n = {n}, m = {m})"
        ))
    };
    let index = match (name.trim(), idx.as_slice()) {
        ("W", &[h, j]) => {
            if h >= m || j >= n {
                return Err(out_of_range("W (m×n)"));
            }
            shape.w_index(h, j)
        }
        ("W_out", &[i, h]) => {
            if shape.tied {
                return Err(Error::invalid(format!(
                    "--fix '{spec}': W_out exists only with --untied"
                )));
            }
            if i >= n || h >= m {
                return Err(out_of_range("W_out (n×m)"));
            }
            shape.w_out_index(i, h).ok_or_else(bad)?
        }
        ("b", &[i]) => {
            if i >= n {
                return Err(out_of_range("b"));
            }
            shape.b_index(i)
        }
        _ => return Err(bad()),
    };
    Ok((index, value))
}

/// How a loss is to be computed, as given: the method and the settings of the approximate
/// routes (each only where its method uses it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MethodSettings {
    /// The route; `None` is [`Method::Auto`].
    pub method: Option<Method>,
    /// Monte Carlo samples.
    pub samples: Option<usize>,
    /// Monte Carlo seed.
    pub seed: Option<u64>,
    /// Quadrature error target.
    pub tol: Option<f64>,
}

impl MethodSettings {
    /// The method and the route settings; refuses settings that belong to another method, so a
    /// mistyped method never silently ignores them.
    pub fn resolve(&self) -> Result<(Method, RouteSettings)> {
        let method = self.method.unwrap_or_default();
        let mut s = RouteSettings::new();
        if let Some(k) = self.samples {
            if k == 0 {
                return Err(Error::invalid("--samples must be at least 1"));
            }
            s = s.with_samples(k)?;
        }
        if let Some(t) = self.tol {
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::invalid(format!(
                    "--tol must be a positive number, not {t}"
                )));
            }
            s = s.with_tol(t)?;
        }
        if let Some(seed) = self.seed {
            s = s.with_seed(seed);
        }
        if method != Method::Mc && (self.samples.is_some() || self.seed.is_some()) {
            return Err(Error::invalid(
                "--samples and --seed apply to --method mc only",
            ));
        }
        if !matches!(method, Method::Quadrature | Method::Onedim) && self.tol.is_some() {
            return Err(Error::invalid(
                "--tol applies to --method quadrature (absolute) and onedim (relative) only",
            ));
        }
        Ok((method, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_objective() -> Objective {
        let data = Data::new(3)
            .unwrap()
            .with_importance(&PerFeature::List(vec![1.0, 0.5, 0.25]))
            .unwrap()
            .with_density(&PerFeature::Constant(0.1))
            .unwrap();
        Objective::new(data).with_activation(Activation::LeakyRelu { alpha: 0.1 })
    }

    fn settings(f: impl FnOnce(&mut DataSettings)) -> DataSettings {
        let mut a = DataSettings::default();
        f(&mut a);
        a
    }

    #[test]
    fn no_settings_keep_the_file() {
        let base = file_objective();
        assert_eq!(DataSettings::default().apply(&base).unwrap(), base);
    }

    #[test]
    fn settings_override_only_what_they_name() {
        let base = file_objective();
        let o = settings(|a| a.sparsity = Some("0.75".into()))
            .apply(&base)
            .unwrap();
        assert_eq!(o.data().density(), &[0.25; 3]);
        assert_eq!(o.data().importance(), base.data().importance());
        assert_eq!(o.activation(), base.activation());
        let o = settings(|a| {
            a.importance = Some("decay:0.5".into());
            a.reduction = Some("mean".into());
            a.activation = Some("relu".into());
        })
        .apply(&base)
        .unwrap();
        assert_eq!(o.data().importance(), &[1.0, 0.5, 0.25]);
        assert_eq!(o.data().density(), &[0.1; 3]);
        assert_eq!(
            (o.reduction(), o.activation()),
            (Reduction::Mean, Activation::Relu)
        );
    }

    #[test]
    fn one_hot_drops_the_file_density_but_refuses_an_explicit_density() {
        let base = file_objective();
        let o = settings(|a| a.distribution = Some("one-hot".into()))
            .apply(&base)
            .unwrap();
        assert_eq!(o.data().marginal_density(), vec![1.0 / 3.0; 3]);
        let both = settings(|a| {
            a.distribution = Some("one-hot".into());
            a.density = Some("0.5".into());
        });
        assert!(both.apply(&base).is_err());
        let both = settings(|a| {
            a.density = Some("0.5".into());
            a.sparsity = Some("0.5".into());
        });
        assert!(both.objective(3).is_err());
    }

    #[test]
    fn objective_without_a_file_uses_the_defaults() {
        let o = DataSettings::default().objective(4).unwrap();
        assert_eq!(o, Objective::new(Data::new(4).unwrap()));
        assert!(DataSettings::default().objective(0).is_err());
    }

    fn file_data(k: usize, n: usize) -> FileData {
        let density: Vec<f64> = (0..k).flat_map(|i| vec![0.1 * (i + 1) as f64; n]).collect();
        FileData {
            density: Some(PerInstance::Array {
                k,
                n,
                values: density,
            }),
            importance: Some(PerInstance::Array {
                k,
                n,
                values: vec![0.5; k * n],
            }),
        }
    }

    #[test]
    fn stacks_take_per_instance_settings_and_file_arrays() {
        let s = settings(|a| {
            a.density = Some("instances:0.05,0.5".into());
            a.importance = Some("decay:0.5".into());
        });
        let st = s.stack_objectives(2, 3, &FileData::default()).unwrap();
        assert_eq!(st.objectives[0].data().density(), &[0.05; 3]);
        assert_eq!(st.objectives[1].data().density(), &[0.5; 3]);
        assert_eq!(st.objectives[1].data().importance(), &[1.0, 0.5, 0.25]);
        assert_eq!(
            (st.density, st.importance),
            (Source::Setting, Source::Setting)
        );
        // From the file when no setting names the quantity.
        let st = DataSettings::default()
            .stack_objectives(2, 3, &file_data(2, 3))
            .unwrap();
        assert_eq!(st.objectives[1].data().density(), &[0.2; 3]);
        assert_eq!(st.objectives[0].data().importance(), &[0.5; 3]);
        assert_eq!((st.density, st.importance), (Source::File, Source::File));
        // A sparsity setting overrides the file's density; importance still from the file.
        let st = settings(|a| a.sparsity = Some("instances:0.9,0.8".into()))
            .stack_objectives(2, 3, &file_data(2, 3))
            .unwrap();
        assert_eq!(
            st.objectives[0].data().sparsity_given(),
            Some(&[0.9; 3][..])
        );
        assert_eq!((st.density, st.importance), (Source::Setting, Source::File));
        // One-hot data drop the file's density.
        let st = settings(|a| a.distribution = Some("one-hot".into()))
            .stack_objectives(2, 3, &file_data(2, 3))
            .unwrap();
        assert_eq!(st.density, Source::Default);
        // Wrong lengths name the flag and both counts.
        let e = settings(|a| a.density = Some("instances:0.1,0.2,0.3".into()))
            .stack_objectives(2, 3, &FileData::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--density") && e.contains("3 values") && e.contains("2 instances"));
        // A single model is one instance.
        let o = settings(|a| a.density = Some("instances:0.25".into()))
            .objective(2)
            .unwrap();
        assert_eq!(o.data().density(), &[0.25; 2]);
    }

    #[test]
    fn fix_names_index_the_flat_layout() {
        let s = Shape::new(3, 2, false);
        assert_eq!(parse_fix("W[1,2]=0.5", s).unwrap(), (5, 0.5));
        assert_eq!(parse_fix("W_out[2,1]=1", s).unwrap(), (6 + 2 + 3, 1.0));
        assert_eq!(parse_fix("b[0]=-1", s).unwrap(), (12, -1.0));
        assert!(parse_fix("W_out[0,0]=1", Shape::new(3, 2, true)).is_err());
        assert!(parse_fix("W[2,0]=1", s).is_err());
        assert!(parse_fix("x[0]=1", s).is_err());
    }

    #[test]
    fn method_settings_belong_to_their_method() {
        let ok = MethodSettings {
            method: Some(Method::Mc),
            samples: Some(10),
            seed: Some(3),
            tol: None,
        };
        let (m, s) = ok.resolve().unwrap();
        assert_eq!((m, s.samples(), s.seed()), (Method::Mc, 10, 3));
        let bad = MethodSettings {
            method: Some(Method::Closed),
            samples: Some(10),
            ..MethodSettings::default()
        };
        assert!(bad.resolve().is_err());
        let bad = MethodSettings {
            tol: Some(1e-8),
            ..MethodSettings::default()
        };
        assert!(bad.resolve().is_err());
    }
}
