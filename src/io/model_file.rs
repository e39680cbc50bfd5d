//! The model file: one JSON object holding a model and what its loss is measured on.
//!
//! ```json
//! {
//!   "W": [[1.0, -1.0]],
//!   "b": [0.0, 0.0],
//!   "W_out": [[1.0], [-1.0]],
//!   "activation": "relu",
//!   "data": {"density": 0.1, "importance": "decay:0.9", "distribution": "independent"},
//!   "reduction": "sum"
//! }
//! ```
//!
//! `W` is m rows of n entries (column i is feature i's direction), `b` has n entries, the
//! optional untied read-out `W_out` is n rows of m. Everything but `W` and `b` is optional
//! (relu, density 1, importance 1, independent, sum). Unknown keys are errors, so a typo never
//! silently falls back to a default.
//!
//! Numbers are read exactly (correctly rounded) and written in the shortest form that reads
//! back to the same f64, so `read(write(f)) == f` bit for bit: files written by the optimiser
//! reproduce its loss exactly.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::strict_json::parse_exact;
use crate::data::{Data, DataParts, Distribution, PerFeature};
use crate::error::{Error, Result};
use crate::model::{matrix_from_rows, Activation, Model};
use crate::objective::{Objective, Reduction};

/// A model with the objective (activation, data, reduction) its file describes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// The parameters.
    pub model: Model,
    /// Activation, data distribution with importances, reduction.
    pub objective: Objective,
}

impl ModelFile {
    /// Reads and validates a model file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = super::read_text(path)?;
        Self::from_json_str(&text, path)
    }

    /// Parses and validates model-file text; `path` only names the source in messages.
    pub fn from_json_str(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // A UTF-8 byte-order mark (some Windows editors write one) is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value = parse_exact(text).map_err(|e| {
            let mut msg = e.to_string();
            if msg.starts_with("number out of range") {
                msg.push_str(" (numbers must be finite f64 values)");
            }
            Error::format(path, msg)
        })?;
        from_value(value, path).map_err(|e| located(e, path))
    }

    /// The file's JSON text: pretty, one matrix row per line, every f64 in its shortest
    /// round-trip form (so reading it back gives the same bits).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\n");
        let model = &self.model;
        let w_rows: Vec<Vec<f64>> = (0..model.m())
            .map(|r| model.w().row(r).iter().copied().collect())
            .collect();
        let _ = writeln!(s, "  \"W\": {},", matrix_json(&w_rows));
        let _ = writeln!(s, "  \"b\": {},", list_json(model.b().as_slice()));
        if let Some(wo) = model.w_out() {
            let rows: Vec<Vec<f64>> = (0..wo.nrows())
                .map(|r| wo.row(r).iter().copied().collect())
                .collect();
            let _ = writeln!(s, "  \"W_out\": {},", matrix_json(&rows));
        }
        let obj = &self.objective;
        let data = obj.data();
        let _ = writeln!(s, "  \"activation\": \"{}\",", obj.activation());
        s.push_str("  \"data\": {\n");
        if *data.distribution() == Distribution::Independent {
            let _ = writeln!(s, "    \"density\": {},", list_json(data.density()));
        }
        let _ = writeln!(s, "    \"importance\": {},", list_json(data.importance()));
        let dist = match data.distribution() {
            Distribution::Independent => Value::from("independent"),
            Distribution::OneHot {
                probabilities: None,
            } => Value::from("one-hot"),
            Distribution::OneHot {
                probabilities: Some(q),
            } => single("one-hot", serde_json::json!(q)),
            Distribution::ActiveSets(sets) => single("active_sets", serde_json::json!(sets)),
        };
        let _ = writeln!(s, "    \"distribution\": {dist}");
        s.push_str("  },\n");
        let _ = writeln!(s, "  \"reduction\": \"{}\"", obj.reduction());
        s.push_str("}\n");
        s
    }

    /// Writes [`ModelFile::to_json`] atomically (never a partial file).
    pub fn write(&self, path: &Path) -> Result<()> {
        Self::check_output(path)?;
        super::write_atomic(path, self.to_json().as_bytes())
    }

    /// Checks, before a computation, that a model file can be written at `path`: a `.json`
    /// name (model files are JSON; a `.npy` name would be a lie) whose directory exists.
    /// Special files such as `/dev/null` are accepted and written through.
    pub fn check_output(path: &Path) -> Result<()> {
        super::check_output_path(path)?;
        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if !json && !special {
            return Err(Error::invalid(format!(
                "--out {}: model files are JSON; give a name ending in .json (writing .npy, .npz \
                 or .safetensors is not supported)",
                path.display()
            )));
        }
        Ok(())
    }
}

fn single(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), v);
    Value::Object(m)
}

/// A list of f64 on one line, each in serde_json's shortest round-trip form.
fn list_json(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| num_json(*x)).collect();
    format!("[{}]", items.join(", "))
}

fn num_json(x: f64) -> String {
    // Finite by construction (Model and Data reject non-finite values).
    serde_json::to_string(&x).unwrap_or_else(|_| "null".into())
}

fn matrix_json(rows: &[Vec<f64>]) -> String {
    let lines: Vec<String> = rows
        .iter()
        .map(|r| format!("    {}", list_json(r)))
        .collect();
    format!("[\n{}\n  ]", lines.join(",\n"))
}

/// Validation errors of the model or data become errors about the file.
fn located(e: Error, path: &Path) -> Error {
    match e {
        Error::Invalid(msg) => Error::format(path, msg),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// From JSON value to model.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "W")]
    w: Value,
    b: Value,
    #[serde(rename = "W_out", default)]
    w_out: Option<Value>,
    #[serde(default)]
    activation: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    reduction: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    #[serde(default)]
    density: Option<Value>,
    #[serde(default)]
    sparsity: Option<Value>,
    #[serde(default)]
    importance: Option<Value>,
    #[serde(default)]
    distribution: Option<Value>,
}

fn from_value(value: Value, path: &Path) -> Result<ModelFile> {
    if !value.is_object() {
        return Err(Error::format(
            path,
            format!(
                "a model file is a JSON object with keys \"W\" and \"b\" (and optionally \
                 \"W_out\", \"activation\", \"data\", \"reduction\"), not {}",
                kind(&value)
            ),
        ));
    }
    refuse_nulls(&value, "").map_err(|e| located(e, path))?;
    let raw: RawFile =
        serde_json::from_value(value).map_err(|e| Error::format(path, e.to_string()))?;
    let mut model = Model::from_rows(&rows(&raw.w, "W")?, &numbers(&raw.b, "b")?)?;
    if let Some(wo) = &raw.w_out {
        model = model.with_w_out(matrix_from_rows("W_out", &rows(wo, "W_out")?)?)?;
    }
    let n = model.n();

    let activation = match &raw.activation {
        Some(v) => string(v, "activation")?.parse::<Activation>()?,
        None => Activation::Relu,
    };
    let reduction = match &raw.reduction {
        Some(v) => string(v, "reduction")?.parse::<Reduction>()?,
        None => Reduction::Sum,
    };
    let data = match raw.data {
        None => Data::new(n)?,
        Some(v) => {
            if !v.is_object() {
                return Err(Error::invalid(format!(
                    "\"data\" must be an object with keys density or sparsity, importance, \
                     distribution; found {}",
                    kind(&v)
                )));
            }
            let d: RawData = serde_json::from_value(v)
                .map_err(|e| Error::invalid(format!("in \"data\": {e}")))?;
            let parts = DataParts {
                density: d
                    .density
                    .as_ref()
                    .map(|v| per_feature(v, "density"))
                    .transpose()?,
                sparsity: d
                    .sparsity
                    .as_ref()
                    .map(|v| per_feature(v, "sparsity"))
                    .transpose()?,
                importance: d
                    .importance
                    .as_ref()
                    .map(|v| per_feature(v, "importance"))
                    .transpose()?,
                distribution: d.distribution.as_ref().map(distribution).transpose()?,
            };
            Data::from_parts(n, &parts)?
        }
    };
    let objective = Objective::new(data)
        .with_activation(activation)
        .with_reduction(reduction);
    Ok(ModelFile { model, objective })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn number(v: &Value, what: &str) -> Result<f64> {
    match v {
        // Finite: the parser refuses anything else.
        Value::Number(x) => Ok(x.as_f64().unwrap_or(f64::NAN)),
        other => Err(Error::invalid(format!(
            "{what} must be a number, found {}",
            kind(other)
        ))),
    }
}

fn numbers(v: &Value, what: &str) -> Result<Vec<f64>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(k, x)| number(x, &format!("{what}[{k}]")))
            .collect(),
        other => Err(Error::invalid(format!(
            "{what} must be a list of numbers, found {}",
            kind(other)
        ))),
    }
}

fn rows(v: &Value, what: &str) -> Result<Vec<Vec<f64>>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(k, r)| numbers(r, &format!("{what}[{k}]")))
            .collect(),
        other => Err(Error::invalid(format!(
            "{what} must be a list of rows (lists of numbers), found {}",
            kind(other)
        ))),
    }
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::invalid(format!("{what} must be a string, found {}", kind(v))))
}

/// A null where a value belongs would read as "use the default": refused, so that a typo never
/// falls back to a default (a key is left out to mean the default).
fn refuse_nulls(v: &Value, within: &str) -> Result<()> {
    if let Value::Object(map) = v {
        for (key, value) in map {
            let name = if within.is_empty() {
                format!("\"{key}\"")
            } else {
                format!("\"{within}.{key}\"")
            };
            if value.is_null() {
                return Err(Error::invalid(format!(
                    "{name} is null; give a value or leave the key out for the default"
                )));
            }
            if key == "data" && within.is_empty() {
                refuse_nulls(value, "data")?;
            }
        }
    }
    Ok(())
}

/// A number, a list of numbers, or the one string form `"decay:r"` (numbers are numbers:
/// `"0.1"` in quotes is refused rather than read).
fn per_feature(v: &Value, what: &str) -> Result<PerFeature> {
    match v {
        Value::Number(_) => Ok(PerFeature::Constant(number(v, what)?)),
        Value::Array(_) => Ok(PerFeature::List(numbers(v, what)?)),
        Value::String(s) if s.trim().starts_with("decay:") => PerFeature::parse(what, s),
        Value::String(s) => Err(Error::invalid(format!(
            "{what} must be a number, a list of numbers or \"decay:r\", found the string \
             \"{s}\" (write numbers without quotes)"
        ))),
        other => Err(Error::invalid(format!(
            "{what} must be a number, a list of numbers or \"decay:r\", found {}",
            kind(other)
        ))),
    }
}

fn distribution(v: &Value) -> Result<Distribution> {
    let expected = "distribution must be \"independent\", \"one-hot\", {\"one-hot\": [q…]} or \
                    {\"active_sets\": [[[i, j, …], p], …]}";
    match v {
        Value::String(s) => s.parse::<Distribution>(),
        Value::Object(m) if m.len() == 1 => {
            let (key, val) = m.iter().next().expect("one entry");
            match key.as_str() {
                "one-hot" => Ok(Distribution::OneHot {
                    probabilities: Some(numbers(val, "one-hot probabilities")?),
                }),
                "active_sets" => active_sets(val).map(Distribution::ActiveSets),
                other => Err(Error::invalid(format!("{expected}; found key \"{other}\""))),
            }
        }
        other => Err(Error::invalid(format!("{expected}; found {}", kind(other)))),
    }
}

fn active_sets(v: &Value) -> Result<Vec<(Vec<usize>, f64)>> {
    let bad = |k: usize| {
        Error::invalid(format!(
            "active set {k} must be [[feature indices…], probability], e.g. [[0, 2], 0.3]"
        ))
    };
    let items = v.as_array().ok_or_else(|| {
        Error::invalid(format!(
            "active_sets must be a list of [[feature indices…], probability], found {}",
            kind(v)
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let pair = item
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| bad(k))?;
            let set = pair[0].as_array().ok_or_else(|| bad(k))?;
            let set = set
                .iter()
                .map(|j| {
                    j.as_u64().map(|j| j as usize).ok_or_else(|| {
                        Error::invalid(format!(
                            "active set {k}: feature index {j} is not a non-negative integer"
                        ))
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            let p = number(&pair[1], &format!("probability of active set {k}"))?;
            Ok((set, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModelFile> {
        ModelFile::from_json_str(text, "t.json")
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let f = parse(r#"{"W": [[1, -1]], "b": [0, 0]}"#).unwrap();
        assert_eq!((f.model.m(), f.model.n()), (1, 2));
        assert_eq!(f.objective.activation(), Activation::Relu);
        assert_eq!(f.objective.reduction(), Reduction::Sum);
        assert_eq!(f.objective.data().density(), &[1.0, 1.0]);
        assert_eq!(f.objective.data().importance(), &[1.0, 1.0]);
    }

    #[test]
    fn full_file_parses() {
        let f = parse(
            r#"{"W": [[1, 0, 0.5], [0, 1, 0.5]], "b": [0, 0, -0.1],
                "W_out": [[1, 0], [0, 1], [0.5, 0.5]], "activation": "leaky_relu:0.01",
                "data": {"sparsity": [0.9, 0.8, 0.7], "importance": "decay:0.5"},
                "reduction": "mean"}"#,
        )
        .unwrap();
        assert!(!f.model.is_tied());
        assert_eq!(f.objective.data().importance(), &[1.0, 0.5, 0.25]);
        assert!((f.objective.data().density()[0] - 0.1).abs() < 1e-15);
        let f = parse(
            r#"{"W": [[1, 0, 0.5]], "b": [0, 0, 0],
                "data": {"distribution": {"active_sets": [[[0, 2], 0.3], [[1], 0.7]]}}}"#,
        )
        .unwrap();
        assert_eq!(
            f.objective.data().distribution(),
            &Distribution::ActiveSets(vec![(vec![0, 2], 0.3), (vec![1], 0.7)])
        );
        let f = parse(
            r#"{"W": [[1, 0]], "b": [0, 0], "data": {"distribution": {"one-hot": [0.25, 0.75]}}}"#,
        )
        .unwrap();
        assert_eq!(f.objective.data().marginal_density(), vec![0.25, 0.75]);
    }

    #[test]
    fn bad_files_have_one_clear_message() {
        let cases = [
            (r#"{"W": [[1, 0], [1]], "b": [0, 0]}"#, "ragged"),
            (r#"{"W": [[1, 0]], "b": [0]}"#, "b has 1 entries"),
            (r#"{"W": [], "b": []}"#, "W has no rows"),
            (r#"{"W": [[]], "b": []}"#, "empty"),
            (r#"{"W": [[1e999]], "b": [0]}"#, "number out of range"),
            (r#"{"W": [["1"]], "b": [0]}"#, "W[0][0] must be a number"),
            (
                r#"{"W": [[1]], "b": [0], "activaton": "relu"}"#,
                "unknown field `activaton`",
            ),
            (
                r#"{"W": [[1]], "b": [0], "data": {"densty": 1}}"#,
                "unknown field `densty`",
            ),
            (
                r#"{"W": [[1]], "b": [0], "data": {"density": 1, "sparsity": 0}}"#,
                "not both",
            ),
            (
                r#"{"W": [[1]], "b": [0], "data": {"density": 1.5}}"#,
                "outside [0, 1]",
            ),
            (
                r#"{"W": [[1]], "b": [0], "data": {"importance": [-1]}}"#,
                "≥ 0",
            ),
            (
                r#"{"W": [[1]], "b": [0], "activation": "tanh"}"#,
                "unknown activation",
            ),
            (
                r#"{"W": [[1]], "b": [0], "data": {"distribution": "zipf"}}"#,
                "unknown distribution",
            ),
            (
                r#"{"W": [[1, 1]], "b": [0, 0], "data": {"distribution": {"active_sets": [[[0], 0.5]]}}}"#,
                "sum to 0.5",
            ),
            (r#"{"W": [[1]], "b": [0], "W": [[2]]}"#, "duplicate"),
            (r#"{"W": [[1]], "b": [0]"#, "EOF while parsing"),
            (r#"{"W": [[1]], "b": [0]} x"#, "trailing characters"),
            (r#"[1, 2]"#, "JSON object"),
            (r#"{"b": [0]}"#, "missing field `W`"),
            (r#"{"W": [[NaN]], "b": [0]}"#, "expected value"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text}: got '{e}', want '{want}'");
            assert!(e.starts_with("t.json: "), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn round_trip_is_exact_for_random_bits() {
        // xorshift over raw bit patterns (subnormals, huge, tiny) and over [0, 1): with
        // serde_json's own float parsing ~40% of these would come back one ulp off.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || loop {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = if s % 3 == 0 {
                (s >> 11) as f64 / (1u64 << 53) as f64
            } else {
                f64::from_bits(s)
            };
            if x.is_finite() {
                return x;
            }
        };
        for _ in 0..300 {
            let w: Vec<Vec<f64>> = (0..2).map(|_| (0..3).map(|_| next()).collect()).collect();
            let b = [next(), -0.0, next()];
            let importance: Vec<f64> = (0..3).map(|_| next().abs()).collect();
            let density: Vec<f64> = (0..3).map(|_| next().abs() % 1.0).collect();
            let data = Data::from_parts(
                3,
                &DataParts {
                    importance: Some(PerFeature::List(importance)),
                    density: Some(PerFeature::List(density)),
                    ..DataParts::default()
                },
            )
            .unwrap();
            let f = ModelFile {
                model: Model::from_rows(&w, &b).unwrap(),
                objective: Objective::new(data)
                    .with_activation(Activation::LeakyRelu { alpha: next() }),
            };
            let text = f.to_json();
            let g = parse(&text).unwrap();
            let bits = |f: &ModelFile| {
                let d = f.objective.data();
                let mut v: Vec<u64> = f.model.to_vec().iter().map(|x| x.to_bits()).collect();
                v.extend(
                    d.density()
                        .iter()
                        .chain(d.importance())
                        .map(|x| x.to_bits()),
                );
                v
            };
            assert_eq!(bits(&f), bits(&g), "{text}");
            assert_eq!(g.objective.activation(), f.objective.activation());
            assert_eq!(g.to_json(), text);
        }
    }

    #[test]
    fn round_trip_keeps_structure() {
        for text in [
            r#"{"W": [[1, 0.5]], "b": [0, 0.1], "W_out": [[1], [2]], "activation": "gelu", "reduction": "mean",
                "data": {"distribution": {"active_sets": [[[0, 1], 0.25], [[], 0.75]]}, "importance": [1, 0.5]}}"#,
            r#"{"W": [[1, 0.5]], "b": [0, 0.1], "data": {"distribution": {"one-hot": [0.5, 0.5]}}}"#,
            r#"{"W": [[1, 0.5]], "b": [0, 0.1], "data": {"distribution": "one-hot"}}"#,
        ] {
            let f = parse(text).unwrap();
            let g = parse(&f.to_json()).unwrap();
            assert_eq!(f, g, "{}", f.to_json());
        }
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        let f = parse(r#"{"W": [[0.1, 0.2]], "b": [0.3, 0]}"#).unwrap();
        f.write(&p).unwrap();
        let g = ModelFile::read(&p).unwrap();
        // Not `g == f`: the written file states the density explicitly, which `Data` records.
        assert_eq!(g.model, f.model);
        assert_eq!(g.objective.data().density(), f.objective.data().density());
        assert_eq!(g.to_json(), f.to_json());
    }
}
