//! Contour lines of gridded values (marching squares) and default contour levels.

use super::ColorScale;

/// Line segments of the level set `value = level` through a grid (values row by row,
/// `values[iy * xs.len() + ix]`), linearly interpolated along cell edges. Cells with a
/// non-finite corner are skipped.
pub fn contour_segments(
    xs: &[f64],
    ys: &[f64],
    values: &[f64],
    level: f64,
) -> Vec<((f64, f64), (f64, f64))> {
    let nx = xs.len();
    let mut out = Vec::new();
    if nx < 2 || ys.len() < 2 || values.len() != nx * ys.len() {
        return out;
    }
    for iy in 0..ys.len() - 1 {
        for ix in 0..nx - 1 {
            // Corners counter-clockwise from bottom-left.
            let c = [
                (xs[ix], ys[iy], values[iy * nx + ix]),
                (xs[ix + 1], ys[iy], values[iy * nx + ix + 1]),
                (xs[ix + 1], ys[iy + 1], values[(iy + 1) * nx + ix + 1]),
                (xs[ix], ys[iy + 1], values[(iy + 1) * nx + ix]),
            ];
            if c.iter().any(|p| !p.2.is_finite()) {
                continue;
            }
            // Crossing points on the four edges, in order.
            let mut cross = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (c[e], c[(e + 1) % 4]);
                let (da, db) = (a.2 - level, b.2 - level);
                if (da < 0.0) != (db < 0.0) {
                    let t = da / (da - db);
                    cross.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                }
            }
            match cross.len() {
                2 => out.push((cross[0], cross[1])),
                4 => {
                    // A saddle cell: the centre value decides which corners connect.
                    let centre = c.iter().map(|p| p.2).sum::<f64>() / 4.0;
                    if (centre < level) == (c[0].2 < level) {
                        out.push((cross[0], cross[3]));
                        out.push((cross[1], cross[2]));
                    } else {
                        out.push((cross[0], cross[1]));
                        out.push((cross[2], cross[3]));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `count` contour levels spread over the finite values: evenly in the value, or (log scale,
/// positive values) evenly in its logarithm.
pub fn default_levels(values: &[f64], count: usize, scale: ColorScale) -> Vec<f64> {
    let log = scale == ColorScale::Log;
    let vals: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .map(|v| if log { v.log10() } else { v })
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi > lo) || count == 0 {
        return Vec::new();
    }
    (1..=count)
        .map(|k| {
            let d = lo + (hi - lo) * k as f64 / (count + 1) as f64;
            if log {
                10f64.powf(d)
            } else {
                d
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_contour_lies_on_the_circle() {
        let xs: Vec<f64> = (0..41).map(|k| -1.0 + k as f64 * 0.05).collect();
        let vals: Vec<f64> = xs
            .iter()
            .flat_map(|y| xs.iter().map(move |x| x * x + y * y))
            .collect();
        let segs = contour_segments(&xs, &xs, &vals, 0.25);
        assert!(segs.len() > 20);
        for (a, b) in segs {
            for p in [a, b] {
                let r = (p.0 * p.0 + p.1 * p.1).sqrt();
                // Linear interpolation of r² across a cell of width 0.05.
                assert!((r - 0.5).abs() < 3e-3, "r = {r}");
            }
        }
    }

    #[test]
    fn levels_are_inside_the_range() {
        let l = default_levels(&[1e-4, 1.0, f64::NAN], 3, ColorScale::Log);
        assert_eq!(l.len(), 3);
        assert!((l[1] - 1e-2).abs() < 1e-15);
        assert!(default_levels(&[2.0, 2.0], 4, ColorScale::Linear).is_empty());
    }
}
