//! Geometry of a model's feature embeddings (the paper's "Geometry of superposition").

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use crate::model::Model;
use crate::tolerance;

/// Per-feature and global geometry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// ‖W_i‖ for each feature.
    pub norms: Vec<f64>,
    /// Superposition of feature i: Σ_{j≠i} (Ŵ_i · W_j)², exact for every non-zero column (a
    /// dropped feature's too; see [`superposition`]).
    pub superposition: Vec<f64>,
    /// Feature dimensionality D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)² (0 for a dropped feature).
    pub dimensionality: Vec<f64>,
    /// Dimensions per feature D* = m / ‖W‖_F².
    pub dimensions_per_feature: f64,
    /// Features not represented (‖W_i‖ below [`tolerance::DROPPED_NORM`]).
    pub dropped: Vec<usize>,
    /// Pairs of represented features pointing in opposite directions.
    pub antipodal_pairs: Vec<(usize, usize)>,
    /// The arrangement of the represented features up to rotation: the shapes of the groups
    /// of mutually non-orthogonal features joined by " + " ("pentagon", "tetrahedron",
    /// "antipodal pair + 2 × dedicated"); see [`recognize`].
    pub shape: String,
}

/// The geometry of `model`'s embedding W (columns are features).
///
/// # Formula
/// Elhage et al. 2022: `D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)²` (equal to Redwood's capacity
/// `(W_i·W_i)² / Σ_j (W_i·W_j)²`), `D* = m / ‖W‖_F²`.
pub fn geometry(model: &Model) -> Geometry {
    let w = model.w();
    let n = model.n();
    // Without underflow, so the bars' lengths (same function) match the printed norms.
    let norms: Vec<f64> = (0..n)
        .map(|i| crate::numeric::norm(w.column(i).as_slice()))
        .collect();
    let dropped: Vec<usize> = (0..n)
        .filter(|&i| norms[i] < tolerance::DROPPED_NORM)
        .collect();
    // The exact definition (no tolerance), so printed values match the bars' colours.
    let superposition = superposition(model);
    let mut dimensionality = vec![0.0; n];
    for i in 0..n {
        if norms[i] < tolerance::DROPPED_NORM {
            continue;
        }
        let unit = w.column(i) / norms[i];
        let mut total = 0.0;
        for j in 0..n {
            let d = unit.dot(&w.column(j));
            total += d * d;
        }
        dimensionality[i] = norms[i] * norms[i] / total;
    }
    let mut antipodal_pairs = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            if norms[i] < tolerance::DROPPED_NORM || norms[j] < tolerance::DROPPED_NORM {
                continue;
            }
            let cos = w.column(i).dot(&w.column(j)) / (norms[i] * norms[j]);
            if cos < -1.0 + tolerance::ANTIPODAL_COS {
                antipodal_pairs.push((i, j));
            }
        }
    }
    let frob2 = w.norm_squared();
    let shape = describe_shape(&recognize(w, &dropped));
    Geometry {
        norms,
        superposition,
        dimensionality,
        dimensions_per_feature: if frob2 > 0.0 {
            model.m() as f64 / frob2
        } else {
            f64::INFINITY
        },
        dropped,
        antipodal_pairs,
        shape,
    }
}

/// Superposition of each feature: how much of the other features' embeddings lies along its
/// direction (0 for a feature orthogonal to all others, 1 for each of an antipodal pair, 0 for
/// a zero column). Uses the encoder `W` for untied models too.
///
/// # Formula
/// `s_i = Σ_{j≠i} (Ŵ_i · W_j)² = Σ_{j≠i} (W_i · W_j)² / ‖W_i‖²` with `Ŵ_i = W_i / ‖W_i‖`;
/// `s_i = 0` when `W_i = 0`.
///
/// Computed to a few ulps of the exact value of the stored numbers: each column is scaled by
/// a power of two (exact) so tiny and huge columns neither underflow nor overflow, and the
/// dot products are compensated (Ogita–Rump–Oishi `Dot2`), so nearly orthogonal columns keep
/// their small but non-zero overlaps instead of rounding noise.
pub fn superposition(model: &Model) -> Vec<f64> {
    let w = model.w();
    let n = model.n();
    // Column j = 2^e_j · u_j with max |u_j| in [0.5, 1): exact scaling.
    let scaled: Vec<(i32, Vec<f64>)> = (0..n)
        .map(|j| {
            let col = w.column(j);
            let big = col.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            if big == 0.0 {
                return (0, vec![0.0; col.len()]);
            }
            let e = libm::frexp(big).1;
            (e, col.iter().map(|x| libm::ldexp(*x, -e)).collect())
        })
        .collect();
    (0..n)
        .map(|i| {
            let (_, ui) = &scaled[i];
            let nn = dot2(ui, ui);
            if nn == 0.0 {
                return 0.0;
            }
            // (W_i·W_j)²/‖W_i‖² = (u_i·u_j · 2^e_j)² / ‖u_i‖²: the scale of W_i cancels.
            (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let (ej, uj) = &scaled[j];
                    let d = libm::ldexp(dot2(ui, uj), *ej);
                    d * d / nn
                })
                .sum()
        })
        .collect()
}

/// `x · y` as if computed in twice the working precision (Ogita, Rump & Oishi 2005, `Dot2`):
/// error-free products (fused multiply-add) and sums, the rounding errors summed alongside.
fn dot2(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0f64;
    let mut c = 0.0f64;
    for (a, b) in x.iter().zip(y) {
        let p = a * b;
        let pe = a.mul_add(*b, -p);
        let t = s + p;
        let z = t - s;
        let se = (s - (t - z)) + (p - z);
        s = t;
        c += se + pe;
    }
    s + c
}

/// Tick positions for `k` matrix rows or columns: every index up to ten labels, else every
/// 2nd, 5th, 10th, … so at most about ten remain.
fn index_ticks(k: usize) -> Vec<(f64, String)> {
    let step = [1usize, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|s| k.div_ceil(*s) <= 10)
        .unwrap_or_else(|| k.div_ceil(10));
    (0..k)
        .step_by(step)
        .map(|i| (i as f64, i.to_string()))
        .collect()
}

/// The matrix `M` (`WᵀW`, untied `W_out W`) as a heat map read like a matrix (row i = feature
/// i from the top, column j = feature j), with the bias `b` as one more column after a grey
/// gap, on one diverging colour scale (blue negative, white 0, red positive, symmetric).
pub fn matrix_panel(model: &Model, title: &str) -> crate::plot::Panel {
    let n = model.n();
    let m = model.gram();
    let b = model.b();
    // Columns 0..n are M's, n is the gap (NaN: grey), n + 1 is b.
    let xs: Vec<f64> = (0..n + 2).map(|j| j as f64).collect();
    let ys: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut values = Vec::with_capacity(n * (n + 2));
    for i in 0..n {
        values.extend((0..n).map(|j| m[(i, j)]));
        values.push(f64::NAN);
        values.push(b[i]);
    }
    let mut xticks = index_ticks(n);
    xticks.push(((n + 1) as f64, "b".into()));
    let what = if model.is_tied() { "WᵀW" } else { "W_out W" };
    crate::plot::Panel::Heat(crate::plot::HeatMap {
        title: title.to_string(),
        x: crate::plot::Axis::linear("feature j   (right: bias b)").with_ticks(xticks),
        y: crate::plot::Axis::linear("feature i")
            .reversed()
            .with_ticks(index_ticks(n)),
        xs,
        ys,
        values,
        scale: crate::plot::ColorScale::Diverging,
        color_label: format!("({what})ᵢⱼ and bᵢ"),
        contours: Vec::new(),
        marks: Vec::new(),
        paths: Vec::new(),
    })
}

/// Superposition at which the bars' colour scale tops out (larger values are clamped).
pub const SUPERPOSITION_COLOR_MAX: f64 = 1.0;

/// One bar per feature (feature 0 at the top): length the norm `‖W_i‖` of the embedding
/// (untied: the encoder's column), colour its [`superposition`] from 0 (dark) to 1 (bright,
/// clamped above).
pub fn bars_panel(model: &Model, title: &str) -> crate::plot::Panel {
    let w = model.w();
    let s = superposition(model);
    let bars = (0..model.n())
        .map(|i| crate::plot::Bar {
            label: i.to_string(),
            value: crate::numeric::norm(w.column(i).as_slice()),
            color_value: s[i],
        })
        .collect();
    crate::plot::Panel::Bars(crate::plot::BarPlot {
        title: title.to_string(),
        x_label: "‖W_i‖".into(),
        bars,
        color_label: "superposition (clamped at 1)".into(),
        color_max: SUPERPOSITION_COLOR_MAX,
    })
}

/// The paper's "basic results" picture for several models: each model's [`matrix_panel`]
/// above its [`bars_panel`], `columns` models per row (0: all in one row), so the default is
/// one row of matrices over one row of bars.
pub fn figure_matrices(
    models: &[(&Model, String)],
    title: &str,
    columns: usize,
) -> crate::plot::Figure {
    let per_row = if columns == 0 {
        models.len().max(1)
    } else {
        columns
    };
    let mut panels = Vec::new();
    for chunk in models.chunks(per_row) {
        let mut row: Vec<crate::plot::Panel> = chunk
            .iter()
            .map(|(m, label)| matrix_panel(m, &panel_title(m, label, true)))
            .collect();
        // A short last row keeps the bars under their matrices.
        row.resize(per_row.min(models.len()), crate::plot::Panel::Blank);
        panels.extend(row);
        panels.extend(
            chunk
                .iter()
                .map(|(m, label)| bars_panel(m, &panel_title(m, label, false))),
        );
    }
    // A short last row of bars needs no padding: nothing follows it.
    let mut fig = crate::plot::Figure::new(title, panels);
    fig.columns = per_row.min(models.len().max(1));
    fig.panel_size = (520, 460);
    fig
}

/// "label: WᵀW | b" or "label: ‖W_i‖, superposition" (without a label: the part after it).
fn panel_title(model: &Model, label: &str, matrix: bool) -> String {
    let what = match (matrix, model.is_tied()) {
        (true, true) => "WᵀW | b",
        (true, false) => "W_out W | b",
        (false, _) => "‖W_i‖, superposition",
    };
    if label.is_empty() {
        what.to_string()
    } else {
        format!("{label}: {what}")
    }
}

/// One group of represented features that are orthogonal to every feature outside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeGroup {
    /// The features (indices into the model's columns).
    pub features: Vec<usize>,
    /// Dimension of the subspace the group spans.
    pub dims: usize,
    /// Its name: "dedicated", "antipodal pair", "triangle", "square", "pentagon",
    /// "regular k-gon", "tetrahedron", "triangular bipyramid", "octahedron",
    /// "square antiprism", "cube", or "k features in d dimensions" when none fits.
    pub name: String,
}

/// Unit vectors of the common polytopes in 3-D (vertices of the regular or tight-frame
/// solids the paper reports).
fn polytope_templates() -> Vec<(&'static str, Vec<[f64; 3]>)> {
    let s3 = 1.0 / 3f64.sqrt();
    let tetra = vec![[s3, s3, s3], [s3, -s3, -s3], [-s3, s3, -s3], [-s3, -s3, s3]];
    let ring = |z: f64, phase: f64, k: usize| -> Vec<[f64; 3]> {
        let r = (1.0 - z * z).sqrt();
        (0..k)
            .map(|j| {
                let t = phase + 2.0 * std::f64::consts::PI * j as f64 / k as f64;
                [r * t.cos(), r * t.sin(), z]
            })
            .collect()
    };
    let mut bipyramid = ring(0.0, 0.0, 3);
    bipyramid.push([0.0, 0.0, 1.0]);
    bipyramid.push([0.0, 0.0, -1.0]);
    let octahedron = vec![
        [1.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, -1.0],
    ];
    // Square antiprism as a tight frame (every D_i = 3/8): two rings of four at z = ±1/√3,
    // turned 45° against each other; without the turn it is the cube.
    let quarter = std::f64::consts::FRAC_PI_4;
    let mut antiprism = ring(s3, 0.0, 4);
    antiprism.extend(ring(-s3, quarter, 4));
    let mut cube = ring(s3, quarter, 4);
    cube.extend(ring(-s3, quarter, 4));
    vec![
        ("tetrahedron", tetra),
        ("triangular bipyramid", bipyramid),
        ("octahedron", octahedron),
        ("square antiprism", antiprism),
        ("cube", cube),
    ]
}

/// Whether two sets of unit vectors have the same Gram matrix up to a permutation (so the
/// same arrangement up to an orthogonal map), within `tol` per entry. Backtracking over
/// assignments, pruned by every pair already assigned (the sets have at most 8 vectors).
fn congruent(a: &DMatrix<f64>, b: &DMatrix<f64>, tol: f64) -> bool {
    let k = a.nrows();
    if b.nrows() != k {
        return false;
    }
    fn extend(
        a: &DMatrix<f64>,
        b: &DMatrix<f64>,
        tol: f64,
        map: &mut Vec<usize>,
        used: &mut [bool],
    ) -> bool {
        let i = map.len();
        if i == a.nrows() {
            return true;
        }
        for j in 0..b.nrows() {
            if used[j] {
                continue;
            }
            if map
                .iter()
                .enumerate()
                .all(|(p, &q)| (a[(i, p)] - b[(j, q)]).abs() <= tol)
            {
                used[j] = true;
                map.push(j);
                if extend(a, b, tol, map, used) {
                    return true;
                }
                map.pop();
                used[j] = false;
            }
        }
        false
    }
    extend(a, b, tol, &mut Vec::with_capacity(k), &mut vec![false; k])
}

/// Name of a regular k-gon.
fn polygon_name(k: usize) -> String {
    match k {
        2 => "antipodal pair".into(),
        3 => "triangle".into(),
        4 => "square".into(),
        5 => "pentagon".into(),
        6 => "hexagon".into(),
        7 => "heptagon".into(),
        8 => "octagon".into(),
        k => format!("regular {k}-gon"),
    }
}

/// Splits the represented features of `w` into groups that are mutually orthogonal (within
/// [`tolerance::SHAPE_COS`]) and names each group's arrangement up to rotation: regular
/// polygons in a plane (equal angles between neighbours), and in 3-D the polytopes of
/// [`polytope_templates`] by their Gram matrix of directions. Norms do not enter the name.
pub fn recognize(w: &DMatrix<f64>, dropped: &[usize]) -> Vec<ShapeGroup> {
    let n = w.ncols();
    let live: Vec<usize> = (0..n).filter(|i| !dropped.contains(i)).collect();
    let unit: Vec<DVector<f64>> = (0..n)
        .map(|i| {
            let c = w.column(i).into_owned();
            let nrm = c.norm();
            if nrm > 0.0 {
                c / nrm
            } else {
                c
            }
        })
        .collect();
    // Connected components of the "not orthogonal" graph.
    let mut group = vec![usize::MAX; n];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &s in &live {
        if group[s] != usize::MAX {
            continue;
        }
        let g = groups.len();
        let mut stack = vec![s];
        group[s] = g;
        let mut members = Vec::new();
        while let Some(i) = stack.pop() {
            members.push(i);
            for &j in &live {
                if group[j] == usize::MAX && unit[i].dot(&unit[j]).abs() > tolerance::SHAPE_COS {
                    group[j] = g;
                    stack.push(j);
                }
            }
        }
        members.sort_unstable();
        groups.push(members);
    }
    let named = |features: Vec<usize>| {
        let k = features.len();
        let dirs = DMatrix::from_columns(
            &features
                .iter()
                .map(|&i| unit[i].clone())
                .collect::<Vec<_>>(),
        );
        let sv = dirs.clone().svd(false, false).singular_values;
        let dims = sv
            .iter()
            .filter(|&&v| v > tolerance::SHAPE_COS * (k as f64).sqrt())
            .count();
        let gram = dirs.transpose() * &dirs;
        let name = name_group(&gram, k, dims);
        ShapeGroup {
            features,
            dims,
            name,
        }
    };
    // Orthogonal groups that together form a named solid (the square is two orthogonal
    // antipodal pairs, the triangular bipyramid a triangle and a pair) are named as a whole.
    if groups.len() > 1 && live.len() <= 8 {
        let whole = named(live.clone());
        if whole.dims <= 3 && !whole.name.contains("features in") {
            return vec![whole];
        }
    }
    let mut out: Vec<ShapeGroup> = groups.into_iter().map(named).collect();
    // Largest groups first (then by first feature): the name does not depend on the order
    // of the features.
    out.sort_by(|a, b| {
        b.features
            .len()
            .cmp(&a.features.len())
            .then(a.features[0].cmp(&b.features[0]))
    });
    out
}

fn name_group(gram: &DMatrix<f64>, k: usize, dims: usize) -> String {
    if k == 1 {
        return "dedicated".into();
    }
    if dims == 2 || (dims == 1 && k == 2) {
        // A regular k-gon: the Gram matrix of equally spaced unit vectors, cos(2π(i−j)/k).
        let template = DMatrix::from_fn(k, k, |i, j| {
            (2.0 * std::f64::consts::PI * (i as f64 - j as f64) / k as f64).cos()
        });
        if k <= 8 && congruent(gram, &template, tolerance::SHAPE_COS) {
            return polygon_name(k);
        }
        if k > 8 {
            // Sort by angle in the plane and compare neighbour gaps (no permutation search).
            if let Some(name) = polygon_by_angles(gram, k) {
                return name;
            }
        }
    }
    if dims == 3 {
        for (name, verts) in polytope_templates() {
            if verts.len() != k {
                continue;
            }
            let t = DMatrix::from_fn(k, k, |i, j| {
                verts[i]
                    .iter()
                    .zip(&verts[j])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            });
            if congruent(gram, &t, tolerance::SHAPE_COS) {
                return name.into();
            }
        }
    }
    format!(
        "{k} features in {dims} dimension{}",
        if dims == 1 { "" } else { "s" }
    )
}

/// A regular k-gon test for many vectors in a plane: angles from the first vector (signs from
/// a second, non-parallel one), sorted; every gap must be 2π/k.
fn polygon_by_angles(gram: &DMatrix<f64>, k: usize) -> Option<String> {
    let refj = (1..k).find(|&j| gram[(0, j)].abs() < 1.0 - tolerance::SHAPE_COS)?;
    // Coordinates in the plane of vectors 0 and refj (Gram–Schmidt in terms of the Gram matrix).
    let c = gram[(0, refj)];
    let s = (1.0 - c * c).sqrt();
    let mut angles: Vec<f64> = (0..k)
        .map(|i| {
            let x = gram[(i, 0)];
            let y = (gram[(i, refj)] - c * x) / s;
            y.atan2(x)
        })
        .collect();
    angles.sort_by(|a, b| a.total_cmp(b));
    let step = 2.0 * std::f64::consts::PI / k as f64;
    let ok = (0..k).all(|i| {
        let next = if i + 1 < k {
            angles[i + 1]
        } else {
            angles[0] + 2.0 * std::f64::consts::PI
        };
        (next - angles[i] - step).abs() < tolerance::SHAPE_COS
    });
    ok.then(|| polygon_name(k))
}

/// The groups' names joined: "pentagon", "antipodal pair + 2 × dedicated", "none" when every
/// feature is dropped.
pub fn describe_shape(groups: &[ShapeGroup]) -> String {
    let mut names: Vec<(String, usize)> = Vec::new();
    for g in groups {
        match names.iter_mut().find(|(n, _)| *n == g.name) {
            Some(e) => e.1 += 1,
            None => names.push((g.name.clone(), 1)),
        }
    }
    if names.is_empty() {
        return "none (every feature dropped)".into();
    }
    names
        .into_iter()
        .map(|(n, c)| if c == 1 { n } else { format!("{c} × {n}") })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// One view of the feature directions: x-axis name, y-axis name, 2-D coordinates per feature.
pub type Projection = (String, String, Vec<(f64, f64)>);

/// 2-D coordinates of the feature directions for a picture, with axis names: m = 1 on a line,
/// m = 2 the hidden plane itself, m ≥ 3 two oblique views of the span of the top three
/// principal directions of W Wᵀ (looking mostly along PC3, then mostly along PC2).
pub fn projections(w: &DMatrix<f64>) -> Vec<Projection> {
    let (m, n) = (w.nrows(), w.ncols());
    match m {
        1 => vec![(
            "h₁".into(),
            "(m = 1)".into(),
            (0..n).map(|j| (w[(0, j)], 0.0)).collect(),
        )],
        2 => vec![(
            "h₁".into(),
            "h₂".into(),
            (0..n).map(|j| (w[(0, j)], w[(1, j)])).collect(),
        )],
        _ => {
            let eig = nalgebra::SymmetricEigen::new(w * w.transpose());
            let mut order: Vec<usize> = (0..m).collect();
            order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
            let pc: Vec<DVector<f64>> = order
                .iter()
                .take(3)
                .map(|&k| {
                    let v = eig.eigenvectors.column(k).into_owned();
                    // Deterministic sign: the largest entry positive.
                    let big = v
                        .iter()
                        .copied()
                        .fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
                    if big < 0.0 {
                        -v
                    } else {
                        v
                    }
                })
                .collect();
            // Oblique views (mostly along PC3, then mostly along PC2): with a degenerate
            // spectrum (tight frames such as the tetrahedron) straight projections stack
            // arrows on top of each other; a tilted view separates them.
            let pcs = |j: usize| {
                [
                    pc[0].dot(&w.column(j)),
                    pc[1].dot(&w.column(j)),
                    pc[2].dot(&w.column(j)),
                ]
            };
            let view = |d: [f64; 3], up: [f64; 3]| -> Vec<(f64, f64)> {
                let nd = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let d = [d[0] / nd, d[1] / nd, d[2] / nd];
                let dot3 = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
                let e1 = [1.0 - d[0] * d[0], -d[0] * d[1], -d[0] * d[2]];
                let n1 = dot3(e1, e1).sqrt();
                let e1 = [e1[0] / n1, e1[1] / n1, e1[2] / n1];
                let mut e2 = [
                    d[1] * e1[2] - d[2] * e1[1],
                    d[2] * e1[0] - d[0] * e1[2],
                    d[0] * e1[1] - d[1] * e1[0],
                ];
                if dot3(e2, up) < 0.0 {
                    e2 = [-e2[0], -e2[1], -e2[2]];
                }
                (0..n)
                    .map(|j| (dot3(pcs(j), e1), dot3(pcs(j), e2)))
                    .collect()
            };
            vec![
                (
                    "≈ PC1".into(),
                    "≈ PC2".into(),
                    view([0.3, 0.2, 1.0], [0.0, 1.0, 0.0]),
                ),
                (
                    "≈ PC1".into(),
                    "≈ PC3".into(),
                    view([0.25, 1.0, 0.3], [0.0, 0.0, 1.0]),
                ),
            ]
        }
    }
}

/// The picture of the feature directions: arrows from the origin coloured by importance and
/// labelled with the feature index (dropped features are dots at the origin); m ≥ 3 as two
/// principal-plane projections side by side.
pub fn figure(model: &Model, importance: &[f64], title: &str) -> crate::plot::Figure {
    let g = geometry(model);
    let mut t = title.to_string();
    if model.m() >= 3 {
        t.push_str(&format!(" · shape: {}", g.shape));
    }
    t.push_str(&format!(" · D* = {:.4}", g.dimensions_per_feature));
    crate::plot::Figure::new(t, panels(model, importance, None))
}

/// Several models in one picture: each model's panels (one for m = 2, two projections for
/// m ≥ 3), titled by its label and shape, `columns` models per row (0: one row).
pub fn figure_many(
    models: &[(&Model, &[f64], String)],
    title: &str,
    columns: usize,
) -> crate::plot::Figure {
    let per_model = models
        .first()
        .map_or(1, |(m, _, _)| if m.m() >= 3 { 2 } else { 1 });
    let all = models
        .iter()
        .flat_map(|(m, imp, label)| panels(m, imp, Some(label)))
        .collect();
    let mut fig = crate::plot::Figure::new(title, all);
    fig.columns = columns * per_model;
    fig.panel_size = (420, 400);
    fig
}

/// Characters of a panel title line in a several-model picture (420-pixel panels).
const PANEL_TITLE_CHARS: usize = 34;

/// `text` broken into lines of at most `width` characters at its " + " separators.
fn wrap_parts(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for part in text.split(" + ") {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 3 + part.chars().count() <= width => {
                l.push_str(" + ");
                l.push_str(part);
            }
            Some(l) => {
                l.push_str(" +");
                lines.push(part.to_string());
            }
            None => lines.push(part.to_string()),
        }
    }
    lines.join("\n")
}

/// One model's arrow panels; `label` (several models in one picture) goes before the shape.
fn panels(model: &Model, importance: &[f64], label: Option<&str>) -> Vec<crate::plot::Panel> {
    let g = geometry(model);
    projections(model.w())
        .into_iter()
        .map(|(xl, yl, pts)| {
            let arrows = pts
                .iter()
                .enumerate()
                .map(|(j, &(x, y))| crate::plot::Arrow {
                    x,
                    y,
                    label: j.to_string(),
                    value: importance.get(j).copied().unwrap_or(1.0),
                })
                .collect();
            let what = if model.m() >= 3 {
                format!("oblique view of (PC1, PC2, PC3): {xl}, {yl}")
            } else {
                format!("shape: {}", g.shape)
            };
            crate::plot::Panel::Arrows(crate::plot::ArrowPlot {
                title: match label {
                    Some(l) => format!("{l}\n{}", wrap_parts(&g.shape, PANEL_TITLE_CHARS)),
                    None => what,
                },
                x_label: xl,
                y_label: yl,
                arrows,
                value_label: "importance Iᵢ".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_pentagon_has_dimensionality_two_fifths() {
        let cols: Vec<(f64, f64)> = (0..5)
            .map(|k| {
                let t = 2.0 * std::f64::consts::PI * k as f64 / 5.0;
                (t.cos(), t.sin())
            })
            .collect();
        let rows = vec![
            cols.iter().map(|c| c.0).collect(),
            cols.iter().map(|c| c.1).collect(),
        ];
        let g = geometry(&Model::from_rows(&rows, &[0.0; 5]).unwrap());
        for d in g.dimensionality {
            assert!((d - 0.4).abs() < 1e-12);
        }
        // Σ_{j≠i} cos²(2π(j−i)/5) = 5/2 − 1.
        for s in g.superposition {
            assert!((s - 1.5).abs() < 1e-12);
        }
        assert!((g.dimensions_per_feature - 0.4).abs() < 1e-12);
    }

    #[test]
    fn antipodal_pair_and_dropped_feature_are_found() {
        let g = geometry(&Model::from_rows(&[vec![1.0, -1.0, 0.0]], &[0.0; 3]).unwrap());
        assert_eq!(g.antipodal_pairs, vec![(0, 1)]);
        assert_eq!(g.dropped, vec![2]);
        assert_eq!(g.dimensionality[0], 0.5);
        assert_eq!(g.superposition, vec![1.0, 1.0, 0.0]);
    }
}
