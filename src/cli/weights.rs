//! Weights files as `verify` and `loss` read them: the flags naming the layout and the arrays,
//! and a file plus the data flags turned into models, each with its own objective.

use std::path::Path;

use clap::Args;
use nalgebra::DVector;

use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::io::weights::{read_weights_and_data, DataArray, DataNames, Layout, WeightNames};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::settings::{DataSettings, FileData, Source};

/// Flags of weights files (.npy, .npz, .safetensors, .pt/.pth).
#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// Layout of W in .npy/.npz/.safetensors/.pt: features-hidden (the notebook's
    /// W[instance, feature, hidden]; default) or hidden-features (ARENA's)
    #[arg(long, value_name = "LAYOUT")]
    pub layout: Option<String>,
    /// Name of the weight array/tensor [default: W, then w]
    #[arg(long, value_name = "NAME")]
    pub w_name: Option<String>,
    /// Name of the bias array/tensor [default: b_final, then b, then bias; none → b = 0]
    #[arg(long, value_name = "NAME")]
    pub b_name: Option<String>,
    /// Name of the density array in the weights file, shaped [instances, features] or
    /// broadcastable ([instances, 1], [1, features], [features], scalar); --density or
    /// --sparsity override it [default: feature_probability, if present]
    #[arg(long, value_name = "NAME")]
    pub density_key: Option<String>,
    /// Name of the importance array in the weights file (shapes as --density-key);
    /// --importance overrides it [default: importance, if present]
    #[arg(long, value_name = "NAME")]
    pub importance_key: Option<String>,
}

/// Models read from a weights file, with their objectives.
pub struct Loaded {
    /// One (model, objective) per instance.
    pub models: Vec<(Model, Objective)>,
    /// True for a 3-D `[instances, ·, ·]` stack.
    pub stacked: bool,
    /// Notes on the input that belong in the output (a missing bias).
    pub notes: Vec<String>,
    /// Which data settings were used, for stderr once every input is accepted (arrays read
    /// from the file, or the defaults assumed when nothing was given).
    pub source_note: Option<String>,
}

impl WeightsArgs {
    /// True when any of these flags is given (they do not apply to model files).
    pub fn any(&self) -> bool {
        self.layout.is_some()
            || self.w_name.is_some()
            || self.b_name.is_some()
            || self.density_key.is_some()
            || self.importance_key.is_some()
    }

    /// Refuses these flags for a model file (JSON), which has its own data section.
    pub fn refuse_for_model_file(&self) -> Result<()> {
        if self.any() {
            return Err(Error::invalid(
                "--layout, --w-name, --b-name, --density-key and --importance-key apply to \
                 .npy/.npz/.safetensors/.pt files, not model files",
            ));
        }
        Ok(())
    }

    /// Reads `path` and builds each instance's objective from `data` (flags) over the file's
    /// data arrays over the defaults.
    pub fn load(&self, path: &Path, data: &DataSettings) -> Result<Loaded> {
        let layout = self
            .layout
            .as_deref()
            .map(str::parse::<Layout>)
            .transpose()?;
        let names = WeightNames {
            w: self.w_name.clone(),
            b: self.b_name.clone(),
        };
        let data_names = DataNames {
            density: self.density_key.clone(),
            importance: self.importance_key.clone(),
        };
        let weights = read_weights_and_data(path, layout, &names, &data_names)?;
        let k = weights.instances.len();
        let n = weights.instances[0].w.ncols();
        let file = FileData {
            density: weights.density.as_ref().map(|a| a.values.clone()),
            importance: weights.importance.as_ref().map(|a| a.values.clone()),
        };
        let stack = data.stack_objectives(k, n, &file)?;
        let mut notes = Vec::new();
        let mut models = Vec::with_capacity(k);
        for (inst, obj) in weights.instances.into_iter().zip(stack.objectives) {
            let b = match inst.b {
                Some(b) => b,
                None => {
                    if notes.is_empty() {
                        notes.push(format!("{} has no bias; using b = 0", path.display()));
                    }
                    DVector::zeros(n)
                }
            };
            models.push((Model::new(inst.w, b)?, obj));
        }
        let shown = |a: &Option<DataArray>, source: Source, default: &str| match (a, source) {
            (Some(a), Source::File) => format!("'{}' {:?}", a.name, a.shape),
            (_, Source::Setting) => "the flags".to_string(),
            _ => default.to_string(),
        };
        let source_note = if stack.density == Source::File || stack.importance == Source::File {
            Some(format!(
                "data read from {}: density from {}, importance from {} (flags override them){}",
                path.display(),
                shown(&weights.density, stack.density, "the default 1"),
                shown(&weights.importance, stack.importance, "the default 1"),
                if weights.stacked && data.reduction.is_none() {
                    "; reduction sum (the notebook's runs use --reduction mean)"
                } else {
                    ""
                }
            ))
        } else if data.is_empty() {
            // A weights file without data arrays carries no data settings: say what is
            // assumed rather than judge a sparse model against dense data without a word.
            Some(format!(
                "no data settings given for {}: assuming density 1, importance 1, independent \
                 data, reduction sum; give --density/--importance as trained{}",
                path.display(),
                if weights.stacked {
                    " (the notebook's [instances, features, hidden] runs use --reduction mean)"
                } else {
                    ""
                }
            ))
        } else {
            None
        };
        Ok(Loaded {
            models,
            stacked: weights.stacked,
            notes,
            source_note,
        })
    }

    /// Reads a model file (`.json`: one model, its own data section under the flags) or a
    /// weights file (as [`WeightsArgs::load`]).
    pub fn load_any(&self, path: &Path, data: &DataSettings) -> Result<Loaded> {
        if is_model_file(path) {
            self.refuse_for_model_file()?;
            let file = ModelFile::read(path)?;
            let obj = data.apply(&file.objective)?;
            return Ok(Loaded {
                models: vec![(file.model, obj)],
                stacked: false,
                notes: Vec::new(),
                source_note: None,
            });
        }
        self.load(path, data)
    }
}

/// True for a model file (`.json`), false for weights files.
pub fn is_model_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}
