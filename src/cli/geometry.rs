//! `tms-exact geometry`: per-feature geometry of a model, its shape, and a picture.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::output::{align, write_out};
use super::DataArgs;
use tms_exact::error::Result;
use tms_exact::geometry::{self, Geometry};
use tms_exact::io::model_file::ModelFile;

/// Arguments of `tms-exact geometry`.
#[derive(Debug, Args)]
pub struct GeometryArgs {
    /// The model file (JSON)
    #[arg(value_name = "MODEL.json")]
    pub model: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Draw the feature directions: writes PREFIX.png and PREFIX.svg
    #[arg(long, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub(crate) fn run(args: &GeometryArgs, out: &mut dyn Write) -> Result<()> {
    let file = ModelFile::read(&args.model)?;
    let obj = args.data.settings().apply(&file.objective)?;
    obj.check_model(&file.model)?;
    let model = &file.model;
    if let Some(prefix) = &args.out {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        tms_exact::io::check_output_path(&png)?;
        tms_exact::io::check_output_path(&svg)?;
    }
    let g = geometry::geometry(model);
    let groups = geometry::recognize(model.w(), &g.dropped);
    let importance = obj.data().importance().to_vec();
    if let Some(prefix) = &args.out {
        let name = args
            .model
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = format!(
            "{name}: n = {}, m = {} · {}",
            model.n(),
            model.m(),
            tms_exact::surface::describe(&obj)
        );
        tms_exact::plot::render(&geometry::figure(model, &importance, &title), prefix)?;
    }
    let text = if args.json {
        let mut v = serde_json::to_value(&g).expect("JSON of plain numbers");
        v["groups"] = serde_json::to_value(&groups).expect("JSON of plain numbers");
        v["importance"] = serde_json::json!(importance);
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
        )
    } else {
        text(&g, &groups, &importance, model.m())
    };
    write_out(out, &text)?;
    if let (Some(prefix), false) = (&args.out, args.json) {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        write_out(
            out,
            &format!("picture written to {}, {}\n", png.display(), svg.display()),
        )?;
    }
    Ok(())
}

fn text(g: &Geometry, groups: &[geometry::ShapeGroup], importance: &[f64], m: usize) -> String {
    let mut rows = vec![vec![
        "i".to_string(),
        "importance".into(),
        "‖W_i‖".into(),
        "superposition".into(),
        "D_i".into(),
    ]];
    for (i, imp) in importance.iter().enumerate().take(g.norms.len()) {
        rows.push(vec![
            i.to_string(),
            format!("{imp:.6}"),
            format!("{:.6}", g.norms[i]),
            format!("{:.6}", g.superposition[i]),
            format!("{:.6}", g.dimensionality[i]),
        ]);
    }
    let mut s = align(&rows);
    s.push_str(&format!(
        "\nD* = m / ‖W‖²_F = {:.6} (m = {m})\n",
        g.dimensions_per_feature
    ));
    let list = |v: &[usize]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    s.push_str(&format!("dropped: {}\n", list(&g.dropped)));
    s.push_str(&format!(
        "antipodal pairs: {}\n",
        if g.antipodal_pairs.is_empty() {
            "none".into()
        } else {
            g.antipodal_pairs
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    s.push_str(&format!("shape: {}\n", g.shape));
    for gr in groups {
        s.push_str(&format!(
            "  {} (features {}; {} dimension{})\n",
            gr.name,
            list(&gr.features),
            gr.dims,
            if gr.dims == 1 { "" } else { "s" }
        ));
    }
    s
}
