//! The (r, density) grid of a phase diagram: log-spaced axes, `--grid N|NR,NS`, and shards of
//! rows (`--shard K/N`) for cluster job arrays.

use crate::error::{Error, Result};

/// Most cells one diagram may have (each cell is at least one exact minimisation).
pub const MAX_CELLS: usize = 4_000_000;

/// A log-spaced axis from `lo` to `hi` (both included) with `count` points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogAxis {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
}

impl LogAxis {
    /// Checks `0 < lo < hi` (finite) and `count ≥ 1`; `what` names the axis in messages.
    pub fn new(what: &str, lo: f64, hi: f64, count: usize) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0) {
            return Err(Error::invalid(format!(
                "the {what} range {lo}:{hi} must be positive and finite (the axis is logarithmic)"
            )));
        }
        if lo >= hi {
            return Err(Error::invalid(format!(
                "the {what} range {lo}:{hi} is empty or inverted (write lo:hi with lo < hi)"
            )));
        }
        if count == 0 {
            return Err(Error::invalid(format!(
                "the grid needs at least one {what} value"
            )));
        }
        Ok(LogAxis { lo, hi, count })
    }

    /// Point `k`: `lo · (hi/lo)^(k/(count−1))`, exactly `lo` and `hi` at the ends (the
    /// geometric mean for a single point).
    pub fn value(&self, k: usize) -> f64 {
        if self.count == 1 {
            return (self.lo * self.hi).sqrt();
        }
        if k == 0 {
            return self.lo;
        }
        if k + 1 == self.count {
            return self.hi;
        }
        let t = k as f64 / (self.count - 1) as f64;
        (self.lo.ln() + t * (self.hi.ln() - self.lo.ln())).exp()
    }

    /// All points, increasing.
    pub fn values(&self) -> Vec<f64> {
        (0..self.count).map(|k| self.value(k)).collect()
    }
}

/// The grid: rows are values of r, columns values of the density.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub r: LogAxis,
    pub density: LogAxis,
}

impl Grid {
    /// A grid; refuses a density above 1 and more than [`MAX_CELLS`] cells.
    pub fn new(r: LogAxis, density: LogAxis) -> Result<Self> {
        if density.hi > 1.0 {
            return Err(Error::invalid(format!(
                "the density range ends at {} but a density is at most 1",
                density.hi
            )));
        }
        let cells = r.count.saturating_mul(density.count);
        if cells > MAX_CELLS {
            return Err(Error::TooLarge(format!(
                "a {} × {} grid has {cells} cells; at most {MAX_CELLS} (split it with --shard \
                 K/N across jobs, or use a coarser grid)",
                r.count, density.count
            )));
        }
        Ok(Grid { r, density })
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.r.count * self.density.count
    }
}

/// `"200"` (both axes) or `"NR,NS"` (r values, density values).
pub fn parse_grid(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::invalid(format!(
            "--grid '{s}': expected N or NR,NS (positive integers: r values, density values)"
        ))
    };
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let nums: Vec<usize> = parts
        .iter()
        .map(|p| p.parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (nr, ns) = match nums[..] {
        [k] => (k, k),
        [a, b] => (a, b),
        _ => return Err(bad()),
    };
    if nr == 0 || ns == 0 {
        return Err(Error::invalid(format!(
            "--grid '{s}': a grid needs at least one point per axis"
        )));
    }
    Ok((nr, ns))
}

/// `"a:b"` as two numbers (the range's validity is checked by [`LogAxis::new`]).
pub fn parse_range(what: &str, s: &str) -> Result<(f64, f64)> {
    let bad = || Error::invalid(format!("{what} '{s}': expected lo:hi, e.g. 0.1:10"));
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let a: f64 = a.trim().parse().map_err(|_| bad())?;
    let b: f64 = b.trim().parse().map_err(|_| bad())?;
    Ok((a, b))
}

/// Shard `index` of `count` (1 ≤ index ≤ count): the rows `ir` with `ir % count == index − 1`
/// (interleaved, so every shard gets small and large r alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `"K/N"` with `1 ≤ K ≤ N`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "--shard '{s}': expected K/N with 1 ≤ K ≤ N (e.g. $SLURM_ARRAY_TASK_ID/10 with \
                 --array=1-10)"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { index: k, count: n })
    }

    /// Whether row `ir` belongs to this shard.
    pub fn has_row(&self, ir: usize) -> bool {
        ir % self.count == self.index - 1
    }

    /// The rows of a grid with `rows` rows in this shard.
    pub fn rows(&self, rows: usize) -> Vec<usize> {
        (0..rows).filter(|&ir| self.has_row(ir)).collect()
    }

    /// Whether this is the whole grid.
    pub fn is_all(&self) -> bool {
        self.count == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_and_specs() {
        let a = LogAxis::new("r", 0.1, 10.0, 3).unwrap();
        let v = a.values();
        assert_eq!((v.len(), v[0], v[2]), (3, 0.1, 10.0));
        assert!((v[1] - 1.0).abs() < 1e-15);
        assert!(LogAxis::new("r", 1.0, 1.0, 3).is_err());
        assert!(LogAxis::new("r", 0.0, 1.0, 3).is_err());
        assert_eq!(parse_grid("20").unwrap(), (20, 20));
        assert_eq!(parse_grid("20,30").unwrap(), (20, 30));
        assert!(parse_grid("0").is_err() && parse_grid("1,2,3").is_err());
        let s = Shard::parse("2/3").unwrap();
        assert_eq!(s.rows(7), vec![1, 4]);
        assert!(Shard::parse("0/3").is_err() && Shard::parse("4/3").is_err());
    }
}
