//! The shape of a toy model and the layout of its flat parameter vector — written once here
//! and used by everything that flattens parameters (the routes, the optimiser, the trainer).
//!
//! Layout ([`crate::model::Model::to_vec`]): `W` (m×n, column-major), then `W_out` (n×m,
//! column-major) when untied, then `b` (n).

use std::ops::Range;

/// Number of features `n`, hidden dimensions `m`, and whether the read-out is tied (`Wᵀ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Features.
    pub n: usize,
    /// Hidden dimensions.
    pub m: usize,
    /// True when `W_out = Wᵀ` (no separate read-out parameters).
    pub tied: bool,
}

impl Shape {
    /// A shape (no validation: sizes are checked where models are built).
    pub fn new(n: usize, m: usize, tied: bool) -> Self {
        Shape { n, m, tied }
    }

    /// Number of parameters in the flat layout.
    pub fn num_params(&self) -> usize {
        self.b().end
    }

    /// Where `W` (column-major, m×n) sits in the flat vector.
    pub fn w(&self) -> Range<usize> {
        0..self.m * self.n
    }

    /// Where the untied `W_out` (column-major, n×m) sits; `None` when tied.
    pub fn w_out(&self) -> Option<Range<usize>> {
        let start = self.m * self.n;
        (!self.tied).then(|| start..start + self.n * self.m)
    }

    /// Where `b` sits.
    pub fn b(&self) -> Range<usize> {
        let start = self.m * self.n * if self.tied { 1 } else { 2 };
        start..start + self.n
    }

    /// Index of `W[h, j]` in the flat vector.
    pub fn w_index(&self, h: usize, j: usize) -> usize {
        h + self.m * j
    }

    /// Index of `W_out[i, h]` (untied only).
    pub fn w_out_index(&self, i: usize, h: usize) -> Option<usize> {
        self.w_out().map(|r| r.start + i + self.n * h)
    }

    /// Index of `b[i]`.
    pub fn b_index(&self, i: usize) -> usize {
        self.b().start + i
    }

    /// The read-out entry `R[i, h]` of a flat vector (`W_out[i, h]`, or `W[h, i]` when tied).
    #[inline]
    pub fn read_out<T: Copy>(&self, params: &[T], i: usize, h: usize) -> T {
        match self.w_out() {
            Some(r) => params[r.start + i + self.n * h],
            None => params[h + self.m * i],
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n = {}, m = {}{}",
            self.n,
            self.m,
            if self.tied { "" } else { " (untied)" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous() {
        for tied in [true, false] {
            let s = Shape::new(5, 2, tied);
            let mut end = s.w().end;
            if let Some(r) = s.w_out() {
                assert_eq!(r.start, end);
                end = r.end;
            }
            assert_eq!(s.b().start, end);
            assert_eq!(s.num_params(), if tied { 15 } else { 25 });
        }
    }
}
