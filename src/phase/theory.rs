//! The `theory` method: the cheapest of a few fixed configurations at each cell (nothing
//! optimised) — the paper's (`crate::configurations`) or configurations from a file.

use std::path::Path;

use serde_json::Value;

use super::{Engine, Setting};
use crate::configurations::{configurations, Configuration};
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::Model;

/// A bias entry of a fixed configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BiasSpec {
    /// A fixed value.
    Value(f64),
    /// Half the density, `s/2` (a dropped feature's mean, as in the literature).
    HalfDensity,
}

/// One fixed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    /// W as m rows of n entries.
    pub w: Vec<Vec<f64>>,
    pub bias: Vec<BiasSpec>,
}

impl Candidate {
    /// From one of the paper's configurations.
    pub fn from_configuration(c: &Configuration) -> Self {
        Candidate {
            name: c.name.to_string(),
            w: c.w.clone(),
            bias: (0..c.n())
                .map(|i| {
                    if c.dropped.contains(&i) {
                        BiasSpec::HalfDensity
                    } else {
                        BiasSpec::Value(0.0)
                    }
                })
                .collect(),
        }
    }

    /// The model at density `s` (biases 0 when the setting holds them at 0).
    pub fn model(&self, s: f64, no_bias: bool) -> Result<Model> {
        let b: Vec<f64> = self
            .bias
            .iter()
            .map(|b| match (no_bias, b) {
                (true, _) => 0.0,
                (false, BiasSpec::Value(v)) => *v,
                (false, BiasSpec::HalfDensity) => s / 2.0,
            })
            .collect();
        Model::from_rows(&self.w, &b)
    }
}

/// The paper's configurations for the setting's (n, m).
pub fn default_candidates(setting: &Setting) -> Result<Vec<Candidate>> {
    Ok(configurations(setting.n, setting.m)?
        .iter()
        .map(Candidate::from_configuration)
        .collect())
}

/// Configurations from a JSON file: a list whose entries are either objects
/// `{"name": "...", "W": [[…], …], "b": [0, "s/2", …]}` (a bias may be the string `"s/2"`) or
/// paths of model files (relative to the list's directory; named by the file stem, biases as
/// in the file). Every entry must have the setting's n and m; names must be distinct.
pub fn read_candidates(path: &Path, setting: &Setting) -> Result<Vec<Candidate>> {
    let text = crate::io::read_text(path)?;
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| Error::format(path, format!("not JSON: {e}")))?;
    let list = value.as_array().ok_or_else(|| {
        Error::format(
            path,
            "expected a JSON list of configurations ({\"name\", \"W\", \"b\"} or model-file paths)",
        )
    })?;
    if list.is_empty() {
        return Err(Error::format(path, "the list of configurations is empty"));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out: Vec<Candidate> = Vec::new();
    for (k, entry) in list.iter().enumerate() {
        let cand = match entry {
            Value::String(file) => {
                let p = dir.join(file);
                let mf = ModelFile::read(&p)?;
                if !mf.model.is_tied() {
                    return Err(Error::format(
                        path,
                        format!("entry {k} ({file}) is untied; phase diagrams use tied models"),
                    ));
                }
                let w = mf.model.w();
                Candidate {
                    name: Path::new(file)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| format!("config-{k}")),
                    w: (0..w.nrows())
                        .map(|r| w.row(r).iter().copied().collect())
                        .collect(),
                    bias: mf.model.b().iter().map(|&v| BiasSpec::Value(v)).collect(),
                }
            }
            Value::Object(o) => object_candidate(o, k).map_err(|e| Error::format(path, e))?,
            _ => {
                return Err(Error::format(
                    path,
                    format!("entry {k} is neither an object nor a model-file path"),
                ))
            }
        };
        let (m, n) = (cand.w.len(), cand.w.first().map_or(0, |r| r.len()));
        if n != setting.n || m != setting.m || cand.bias.len() != setting.n {
            return Err(Error::format(
                path,
                format!(
                    "configuration '{}' has n = {n}, m = {m} ({} biases) but the diagram is for \
                     n = {}, m = {}",
                    cand.name,
                    cand.bias.len(),
                    setting.n,
                    setting.m
                ),
            ));
        }
        if out.iter().any(|c| c.name == cand.name) {
            return Err(Error::format(
                path,
                format!("two configurations are named '{}'", cand.name),
            ));
        }
        cand.model(0.5, false)
            .map_err(|e| Error::format(path, format!("configuration '{}': {e}", cand.name)))?;
        out.push(cand);
    }
    Ok(out)
}

fn object_candidate(
    o: &serde_json::Map<String, Value>,
    k: usize,
) -> std::result::Result<Candidate, String> {
    for key in o.keys() {
        if !["name", "W", "b"].contains(&key.as_str()) {
            return Err(format!(
                "entry {k}: unknown key '{key}' (expected name, W, b)"
            ));
        }
    }
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("entry {k} needs a \"name\" string"))?
        .to_string();
    if name.is_empty() || name.contains([',', '\n', '"']) {
        return Err(format!(
            "entry {k}: the name '{name}' must be non-empty without commas or quotes"
        ));
    }
    let rows = o
        .get("W")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("configuration '{name}' needs \"W\": a list of rows"))?;
    let w: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.as_array()
                .and_then(|r| r.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .ok_or_else(|| format!("configuration '{name}': W rows must be lists of numbers"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let bias = match o.get("b") {
        None => vec![BiasSpec::Value(0.0); w.first().map_or(0, |r| r.len())],
        Some(Value::Array(b)) => b
            .iter()
            .map(|v| match v {
                Value::Number(x) => x
                    .as_f64()
                    .map(BiasSpec::Value)
                    .ok_or_else(|| format!("configuration '{name}': bias {v} is not a number")),
                Value::String(t) if t.replace(' ', "") == "s/2" => Ok(BiasSpec::HalfDensity),
                _ => Err(format!(
                    "configuration '{name}': a bias is a number or \"s/2\", not {v}"
                )),
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err(format!("configuration '{name}': \"b\" must be a list")),
    };
    Ok(Candidate { name, w, bias })
}

/// One theory cell: every candidate's loss and the cheapest.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryCell {
    /// Index of the cheapest candidate (the first on an exact tie).
    pub best: usize,
    /// The candidates' losses, in the candidates' order.
    pub losses: Vec<f64>,
}

/// The candidates' losses at (r, s) through the setting's engine.
pub fn losses(setting: &Setting, cands: &[Candidate], r: f64, s: f64) -> Result<Vec<f64>> {
    let engine: Engine = setting.engine(r, s)?;
    cands
        .iter()
        .map(|c| engine.loss(&c.model(s, setting.no_bias)?))
        .collect()
}

/// The theory cell at (r, s).
pub fn cell(setting: &Setting, cands: &[Candidate], r: f64, s: f64) -> Result<TheoryCell> {
    let losses = losses(setting, cands, r, s)?;
    let mut best = 0;
    for (k, &l) in losses.iter().enumerate() {
        if l < losses[best] {
            best = k;
        }
    }
    Ok(TheoryCell { best, losses })
}
