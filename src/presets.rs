//! Built-in example models ("presets"), so a newcomer can run the tool before having a file.

use crate::data::{Data, DataParts, PerFeature};
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::Model;
use crate::objective::Objective;

/// Names accepted by [`example`].
pub const EXAMPLE_NAMES: [&str; 3] = ["antipodal", "dropped", "pentagon"];

/// What each example is, as listed by `tms-exact loss --example list`.
pub const EXAMPLES_HELP: &str = "Built-in examples (--example NAME):
  antipodal  n=2, m=1: W = [1, −1], b = 0, density 0.1 (an antipodal pair)
  dropped    n=2, m=1: W = [1, 0], b = [0, 0.45], importance (1, 0.5), density 0.9
             (feature 1 not represented; its bias is its mean p/2)
  pentagon   n=5, m=2: a regular pentagon of unit vectors, b = 0, density 0.05";

/// A built-in example model by name (see [`EXAMPLES_HELP`]).
pub fn example(name: &str) -> Result<ModelFile> {
    let (rows, b, density, importance): (Vec<Vec<f64>>, Vec<f64>, f64, Vec<f64>) = match name {
        "antipodal" => (vec![vec![1.0, -1.0]], vec![0.0, 0.0], 0.1, vec![1.0, 1.0]),
        "dropped" => (vec![vec![1.0, 0.0]], vec![0.0, 0.45], 0.9, vec![1.0, 0.5]),
        "pentagon" => {
            let angle = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / 5.0;
            (
                vec![
                    (0..5).map(|k| angle(k).cos()).collect(),
                    (0..5).map(|k| angle(k).sin()).collect(),
                ],
                vec![0.0; 5],
                0.05,
                vec![1.0; 5],
            )
        }
        other => {
            return Err(Error::invalid(format!(
                "unknown example '{other}' (examples: {})",
                EXAMPLE_NAMES.join(", ")
            )))
        }
    };
    let model = Model::from_rows(&rows, &b)?;
    let data = Data::from_parts(
        model.n(),
        &DataParts {
            importance: Some(PerFeature::List(importance)),
            density: Some(PerFeature::Constant(density)),
            ..DataParts::default()
        },
    )?;
    Ok(ModelFile {
        model,
        objective: Objective::new(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_builds_and_unknown_names_are_refused() {
        for name in EXAMPLE_NAMES {
            let f = example(name).unwrap();
            f.objective.check_model(&f.model).unwrap();
        }
        assert!(example("hexagon")
            .unwrap_err()
            .to_string()
            .contains("antipodal"));
    }
}
