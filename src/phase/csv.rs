//! The per-cell table of a phase diagram: written as CSV, read back, and shards merged.
//!
//! Layout: one comment line with the diagram's settings, the header, then one line per cell,
//! rows of r in increasing order and densities increasing within a row:
//!
//! ```text
//! # tms-exact phase method=exact n=2 m=1 activation=relu bias=free r=0.1:10 density=0.01:1 grid=200,200 options=restarts:4,seed:0,passes:10
//! r,density,phase,loss,grad_norm,kind,W_0_0,W_0_1,b_0,b_1
//! ```
//!
//! Method columns between `loss` and W: `exact` — `grad_norm,kind`; `theory` — the loss of each
//! configuration (`loss[name]`); `sgd` — `agreement,loss_min,loss_max` (`loss` is the mean of
//! the kept models, W and b the lowest-loss one's). A shard adds ` shard=K/N` to the comment
//! line and holds only its rows; [`merge`] joins shards into exactly the bytes of the
//! unsharded file.

use std::collections::BTreeMap;
use std::path::Path;

use super::grid::{Grid, LogAxis, Shard};
use super::{PhaseMethod, Setting};
use crate::error::{Error, Result};
use crate::model::{Activation, Model};

/// The settings line of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub method: PhaseMethod,
    pub setting: Setting,
    pub grid: Grid,
    /// Method options as written (`restarts:4,seed:0,passes:10`; `configs:paper`; …).
    pub options: String,
    pub shard: Shard,
}

const MAGIC: &str = "# tms-exact phase";

impl Meta {
    /// The comment line (no newline).
    pub fn line(&self) -> String {
        let s = &self.setting;
        let mut t = format!(
            "{MAGIC} method={} n={} m={} activation={} bias={} r={}:{} density={}:{} grid={},{} \
             options={}",
            self.method.name(),
            s.n,
            s.m,
            s.activation,
            if s.no_bias { "zero" } else { "free" },
            self.grid.r.lo,
            self.grid.r.hi,
            self.grid.density.lo,
            self.grid.density.hi,
            self.grid.r.count,
            self.grid.density.count,
            self.options
        );
        if !self.shard.is_all() {
            t.push_str(&format!(" shard={}/{}", self.shard.index, self.shard.count));
        }
        t
    }

    /// Parses a comment line written by [`Meta::line`].
    pub fn parse(line: &str, path: &Path) -> Result<Self> {
        let bad = |what: &str| {
            Error::format(
                path,
                format!("not a tms-exact phase table ({what}); its first line must be '{MAGIC} …'"),
            )
        };
        let rest = line
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("no settings line"))?;
        let mut kv = BTreeMap::new();
        for part in rest.split_whitespace() {
            let (k, v) = part.split_once('=').ok_or_else(|| bad(part))?;
            kv.insert(k, v);
        }
        let get = |k: &str| kv.get(k).copied().ok_or_else(|| bad(&format!("no {k}")));
        let num = |k: &str| -> Result<usize> { get(k)?.parse().map_err(|_| bad(k)) };
        let range = |k: &str| -> Result<(f64, f64)> {
            let (a, b) = get(k)?.split_once(':').ok_or_else(|| bad(k))?;
            Ok((
                a.parse().map_err(|_| bad(k))?,
                b.parse().map_err(|_| bad(k))?,
            ))
        };
        let method = PhaseMethod::parse(get("method")?)?;
        let activation: Activation = get("activation")?.parse()?;
        let no_bias = match get("bias")? {
            "free" => false,
            "zero" => true,
            _ => return Err(bad("bias")),
        };
        let setting = Setting::new(num("n")?, num("m")?, activation, no_bias)?;
        let (nr, ns) = super::grid::parse_grid(get("grid")?)?;
        let (r0, r1) = range("r")?;
        let (s0, s1) = range("density")?;
        let grid = Grid::new(
            LogAxis::new("r", r0, r1, nr)?,
            LogAxis::new("density", s0, s1, ns)?,
        )?;
        let shard = match kv.get("shard") {
            Some(s) => Shard::parse(s)?,
            None => Shard::ALL,
        };
        Ok(Meta {
            method,
            setting,
            grid,
            options: get("options")?.to_string(),
            shard,
        })
    }
}

/// A number as the table writes it: Rust's shortest round-trip form, in exponent notation
/// outside [1e-4, 1e6) (so reading it back gives the same bits, and writing is deterministic).
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-4..1e6).contains(&a) || !x.is_finite() {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// The W and b column names of an (n, m) model.
pub fn model_columns(n: usize, m: usize) -> Vec<String> {
    let mut c: Vec<String> = (0..m)
        .flat_map(|h| (0..n).map(move |j| format!("W_{h}_{j}")))
        .collect();
    c.extend((0..n).map(|i| format!("b_{i}")));
    c
}

/// W (row by row) and b of a model as table fields.
pub fn model_fields(model: &Model) -> Vec<String> {
    let w = model.w();
    let mut f: Vec<String> = (0..w.nrows())
        .flat_map(|h| (0..w.ncols()).map(move |j| num(w[(h, j)])))
        .collect();
    f.extend(model.b().iter().map(|&v| num(v)));
    f
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub phase: String,
    pub loss: f64,
    /// The method's columns between `loss` and W, as written.
    pub values: Vec<String>,
    pub model: Model,
}

/// A table: settings, the method's column names, and one record per cell of the shard
/// (`None` outside it), indexed `ir · ns + is`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub meta: Meta,
    /// Names of the method's columns between `loss` and W.
    pub method_columns: Vec<String>,
    pub records: Vec<Option<Record>>,
}

impl Table {
    /// The header line (no newline).
    pub fn header(&self) -> String {
        let mut h = vec![
            "r".to_string(),
            "density".into(),
            "phase".into(),
            "loss".into(),
        ];
        h.extend(self.method_columns.iter().cloned());
        h.extend(model_columns(self.meta.setting.n, self.meta.setting.m));
        h.join(",")
    }

    /// The record of cell (ir, is).
    pub fn get(&self, ir: usize, is: usize) -> Option<&Record> {
        self.records[ir * self.meta.grid.density.count + is].as_ref()
    }

    /// The CSV text.
    pub fn to_csv(&self) -> String {
        let g = &self.meta.grid;
        let mut s = self.meta.line();
        s.push('\n');
        s.push_str(&self.header());
        s.push('\n');
        for ir in 0..g.r.count {
            for is in 0..g.density.count {
                if let Some(rec) = self.get(ir, is) {
                    let mut f = vec![
                        num(g.r.value(ir)),
                        num(g.density.value(is)),
                        rec.phase.clone(),
                        num(rec.loss),
                    ];
                    f.extend(rec.values.iter().cloned());
                    f.extend(model_fields(&rec.model));
                    s.push_str(&f.join(","));
                    s.push('\n');
                }
            }
        }
        s
    }

    /// Parses a table written by [`Table::to_csv`] (`path` names it in messages).
    pub fn from_csv(text: &str, path: &Path) -> Result<Self> {
        let mut lines = text.lines();
        let meta = Meta::parse(lines.next().unwrap_or(""), path)?;
        let header = lines
            .next()
            .ok_or_else(|| Error::format(path, "no header line"))?;
        let cols: Vec<&str> = header.split(',').collect();
        let (n, m) = (meta.setting.n, meta.setting.m);
        let model_cols = model_columns(n, m);
        let k = cols.len();
        if k < 4 + model_cols.len()
            || cols[..4] != ["r", "density", "phase", "loss"]
            || cols[k - model_cols.len()..]
                != model_cols.iter().map(String::as_str).collect::<Vec<_>>()[..]
        {
            return Err(Error::format(
                path,
                "the header does not match the settings line (r,density,phase,loss,…,W…,b…)",
            ));
        }
        let method_columns: Vec<String> = cols[4..k - model_cols.len()]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let g = meta.grid;
        let r_index: BTreeMap<String, usize> =
            (0..g.r.count).map(|i| (num(g.r.value(i)), i)).collect();
        let s_index: BTreeMap<String, usize> = (0..g.density.count)
            .map(|i| (num(g.density.value(i)), i))
            .collect();
        let mut records: Vec<Option<Record>> = vec![None; g.cells()];
        for (lineno, line) in lines.enumerate() {
            let at = |msg: String| Error::format(path, format!("line {}: {msg}", lineno + 3));
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != k {
                return Err(at(format!("{} fields, the header has {k}", f.len())));
            }
            let ir = *r_index
                .get(f[0])
                .ok_or_else(|| at(format!("r = {} is not on the grid", f[0])))?;
            let is = *s_index
                .get(f[1])
                .ok_or_else(|| at(format!("density = {} is not on the grid", f[1])))?;
            if !meta.shard.has_row(ir) {
                return Err(at(format!(
                    "r = {} belongs to another shard than {}/{}",
                    f[0], meta.shard.index, meta.shard.count
                )));
            }
            let parse = |t: &str| -> Result<f64> {
                t.parse::<f64>()
                    .map_err(|_| at(format!("'{t}' is not a number")))
            };
            let vals: Vec<f64> = f[k - model_cols.len()..]
                .iter()
                .map(|t| parse(t))
                .collect::<Result<_>>()?;
            let w: Vec<Vec<f64>> = (0..m).map(|h| vals[h * n..(h + 1) * n].to_vec()).collect();
            let model = Model::from_rows(&w, &vals[m * n..]).map_err(|e| at(e.to_string()))?;
            let slot = &mut records[ir * g.density.count + is];
            if slot.is_some() {
                return Err(at(format!(
                    "cell r = {}, density = {} appears twice",
                    f[0], f[1]
                )));
            }
            *slot = Some(Record {
                phase: f[2].to_string(),
                loss: parse(f[3])?,
                values: f[4..k - model_cols.len()]
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
                model,
            });
        }
        let table = Table {
            meta,
            method_columns,
            records,
        };
        for ir in table.meta.shard.rows(g.r.count) {
            for is in 0..g.density.count {
                if table.get(ir, is).is_none() {
                    return Err(Error::format(
                        path,
                        format!(
                            "cell r = {}, density = {} is missing",
                            num(g.r.value(ir)),
                            num(g.density.value(is))
                        ),
                    ));
                }
            }
        }
        Ok(table)
    }

    /// Reads a table file.
    pub fn read(path: &Path) -> Result<Self> {
        Self::from_csv(&crate::io::read_text(path)?, path)
    }
}

/// Joins the shards of one diagram (every K/N for one N, each once, same settings and
/// columns) into the unsharded table.
pub fn merge(shards: &[(std::path::PathBuf, Table)]) -> Result<Table> {
    let (first_path, first) = shards
        .first()
        .ok_or_else(|| Error::invalid("merge needs at least one shard"))?;
    let count = first.meta.shard.count;
    let mut seen = vec![None::<&Path>; count];
    for (path, t) in shards {
        let mut a = t.meta.clone();
        let mut b = first.meta.clone();
        a.shard = Shard::ALL;
        b.shard = Shard::ALL;
        if a != b || t.method_columns != first.method_columns {
            return Err(Error::invalid(format!(
                "{} and {} are not shards of one diagram (their settings lines or columns differ)",
                first_path.display(),
                path.display()
            )));
        }
        if t.meta.shard.count != count {
            return Err(Error::invalid(format!(
                "{} is shard {}/{} but {} is {}/{count}: shards of different splits",
                path.display(),
                t.meta.shard.index,
                t.meta.shard.count,
                first_path.display(),
                first.meta.shard.index
            )));
        }
        let k = t.meta.shard.index - 1;
        if let Some(other) = seen[k] {
            return Err(Error::invalid(format!(
                "shard {}/{count} is given twice ({} and {})",
                k + 1,
                other.display(),
                path.display()
            )));
        }
        seen[k] = Some(path);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&k| seen[k].is_none())
        .map(|k| format!("{}/{count}", k + 1))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "shard(s) {} missing: merging needs every shard of the split",
            missing.join(", ")
        )));
    }
    let mut meta = first.meta.clone();
    meta.shard = Shard::ALL;
    let mut records = vec![None; meta.grid.cells()];
    for (_, t) in shards {
        for (k, r) in t.records.iter().enumerate() {
            if let Some(r) = r {
                records[k] = Some(r.clone());
            }
        }
    }
    Ok(Table {
        meta,
        method_columns: first.method_columns.clone(),
        records,
    })
}
