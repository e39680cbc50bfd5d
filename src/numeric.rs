//! Small numeric helpers shared by the layers above the integrals.

/// Euclidean norm without overflow or underflow: entries are scaled by the largest magnitude
/// first, so `‖(1e200, 1e200)‖` is `1.41e200`, not infinity. Non-finite entries give NaN or ∞.
pub fn norm(v: &[f64]) -> f64 {
    let scale = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return if v.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            scale
        };
    }
    scale * v.iter().map(|x| (x / scale).powi(2)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::norm;

    #[test]
    fn norm_neither_overflows_nor_underflows() {
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
        assert!((norm(&[1e200, 1e200]) / (1e200 * 2f64.sqrt()) - 1.0).abs() < 1e-15);
        assert!((norm(&[3e-200, 4e-200]) / 5e-200 - 1.0).abs() < 1e-15);
        assert_eq!(norm(&[]), 0.0);
        assert!(norm(&[1.0, f64::NAN]).is_nan());
        assert_eq!(norm(&[1.0, f64::INFINITY]), f64::INFINITY);
    }
}
