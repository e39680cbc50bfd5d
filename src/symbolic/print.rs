//! Printers: plain text, LaTeX, and single-line sympy syntax.
//!
//! Terms are printed in increasing total degree (so a polynomial in the density reads
//! `s/3 - s^2/4`), ties in decreasing lexicographic order. Variable names like `I1`, `w1_2`
//! become `I_{1}`, `w_{1,2}` in LaTeX.

use num_traits::{One, Signed};

use super::poly::{Mono, Poly, Q};
use super::ratfunc::RatFunc;

/// Output syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `3*s^2/4`
    Plain,
    /// `\frac{3}{4} s^{2}`
    Latex,
    /// `3*s**2/4` (parsed by `sympy.sympify`)
    Sympy,
}

/// A variable's name in the given style.
pub fn var(name: &str, style: Style) -> String {
    if style != Style::Latex {
        return name.to_string();
    }
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (head, tail) = name.split_at(split);
    if tail.is_empty() {
        head.to_string()
    } else {
        format!("{head}_{{{}}}", tail.replace('_', ","))
    }
}

fn mono(m: &Mono, style: Style) -> String {
    let parts: Vec<String> = m
        .factors()
        .iter()
        .map(|(v, e)| {
            let v = var(v, style);
            match (style, *e) {
                (_, 1) => v,
                (Style::Plain, e) => format!("{v}^{e}"),
                (Style::Sympy, e) => format!("{v}**{e}"),
                (Style::Latex, e) => format!("{v}^{{{e}}}"),
            }
        })
        .collect();
    parts.join(if style == Style::Latex { " " } else { "*" })
}

/// One term without its sign.
fn abs_term(m: &Mono, c: &Q, style: Style) -> String {
    let (p, d) = (c.numer().abs(), c.denom().clone());
    let is_one = m.degree() == 0;
    let ms = mono(m, style);
    match style {
        Style::Latex => {
            let coef = if d.is_one() {
                if p.is_one() && !is_one {
                    String::new()
                } else {
                    p.to_string()
                }
            } else {
                format!("\\frac{{{p}}}{{{d}}}")
            };
            match (coef.is_empty(), is_one) {
                (_, true) => coef,
                (true, false) => ms,
                (false, false) => format!("{coef} {ms}"),
            }
        }
        _ => {
            let mut s = if is_one {
                p.to_string()
            } else if p.is_one() {
                ms
            } else {
                format!("{p}*{ms}")
            };
            if !d.is_one() {
                s.push('/');
                s.push_str(&d.to_string());
            }
            s
        }
    }
}

/// The terms in printing order.
fn ordered(p: &Poly) -> Vec<(&Mono, &Q)> {
    let mut t: Vec<(&Mono, &Q)> = p.terms().collect();
    t.sort_by(|a, b| a.0.degree().cmp(&b.0.degree()).then(b.0.cmp(a.0)));
    t
}

/// A polynomial.
pub fn poly(p: &Poly, style: Style) -> String {
    if p.is_zero() {
        return "0".to_string();
    }
    let mut s = String::new();
    for (k, (m, c)) in ordered(p).into_iter().enumerate() {
        let t = abs_term(m, c, style);
        match (k, c.is_negative()) {
            (0, true) => {
                s.push('-');
                s.push_str(&t);
            }
            (0, false) => s.push_str(&t),
            (_, true) => {
                s.push_str(" - ");
                s.push_str(&t);
            }
            (_, false) => {
                s.push_str(" + ");
                s.push_str(&t);
            }
        }
    }
    s
}

/// `(x)` in the style's parentheses.
pub fn paren(x: &str, style: Style) -> String {
    if style == Style::Latex {
        format!("\\left({x}\\right)")
    } else {
        format!("({x})")
    }
}

/// A rational function.
pub fn ratfunc(r: &RatFunc, style: Style) -> String {
    if r.is_poly() {
        return poly(r.num(), style);
    }
    // Integer coefficients on both sides read better: (a·n')/(b·d) rather than (a/b)·n'/d.
    let c = r.num().content();
    let num = r
        .num()
        .scale(&(Q::one() / &c))
        .scale(&Q::from_integer(c.numer().clone()));
    let den = r.den().scale(&Q::from_integer(c.denom().clone()));
    let (n, d) = (poly(&num, style), poly(&den, style));
    if style == Style::Latex {
        return format!("\\frac{{{n}}}{{{d}}}");
    }
    let n = if num.num_terms() > 1 {
        paren(&n, style)
    } else {
        n
    };
    // A single term with a coefficient or a product needs parentheses after '/'.
    let d_simple = den.num_terms() == 1 && !d.contains(['*', '/']);
    let d = if d_simple { d } else { paren(&d, style) };
    format!("{n}/{d}")
}

/// `Σ_groups (Σ names) · value`, e.g. `(I1 + I2)*(s^2/6)`; zero values are skipped.
pub fn weighted_sum(groups: &[(Vec<String>, RatFunc)], style: Style) -> String {
    let mul = if style == Style::Latex { " " } else { "*" };
    let terms: Vec<String> = groups
        .iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(names, v)| {
            let ns: Vec<String> = names.iter().map(|n| var(n, style)).collect();
            let w = if ns.len() == 1 {
                ns[0].clone()
            } else {
                paren(&ns.join(" + "), style)
            };
            format!("{w}{mul}{}", paren(&ratfunc(v, style), style))
        })
        .collect();
    if terms.is_empty() {
        "0".to_string()
    } else {
        terms.join(" + ")
    }
}

/// A rational number (`p/q`, or `\frac{p}{q}`).
pub fn rational(x: &Q, style: Style) -> String {
    if x.denom().is_one() {
        return x.numer().to_string();
    }
    match style {
        Style::Latex => {
            let sign = if x.is_negative() { "-" } else { "" };
            format!("{sign}\\frac{{{}}}{{{}}}", x.numer().abs(), x.denom())
        }
        _ => format!("{}/{}", x.numer(), x.denom()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;

    #[test]
    fn three_styles() {
        let s = Poly::var("s");
        let p = s.scale(&q(1, 3)).sub(&s.pow(2).scale(&q(1, 4)));
        assert_eq!(poly(&p, Style::Plain), "s/3 - s^2/4");
        assert_eq!(poly(&p, Style::Sympy), "s/3 - s**2/4");
        assert_eq!(
            poly(&p, Style::Latex),
            "\\frac{1}{3} s - \\frac{1}{4} s^{2}"
        );
        let w = Poly::var("w1_2").mul(&Poly::var("I1")).scale(&q(-3, 1));
        assert_eq!(poly(&w, Style::Latex), "-3 I_{1} w_{1,2}");
        let r = RatFunc::new(Poly::one(), Poly::var("w1").scale(&q(2, 1)));
        assert_eq!(ratfunc(&r, Style::Plain), "1/(2*w1)");
    }
}
