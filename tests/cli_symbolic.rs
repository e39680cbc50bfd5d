//! `tms-exact formula` and `tms-exact boundary`: the printed formulas (plain, LaTeX, sympy)
//! parse back with a small parser and, evaluated at random rational points, equal the exact
//! rational loss; bad input is one error line with exit 2. When python3 with sympy is
//! installed the sympy lines are also checked with sympy itself (optional).

mod binary;

use std::collections::BTreeMap;

use binary::{assert_usage_error, stdout, tms, write};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tms_exact::data::{Data, PerFeature};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::route::rational::exact_loss;

type Q = BigRational;

/// A tiny evaluator for the printed expressions: numbers, symbols, + − * / ^ **, parentheses,
/// implicit products, and LaTeX's \frac{}{}, \left( \right), x^{k}, I_{1}, w_{1,2}.
struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(BigInt),
    Id(String),
    Op(char),
}

fn delatex(s: &str) -> String {
    // \frac{A}{B} → ((A)/(B)), with brace matching; then the simple replacements.
    let mut s = s.replace("\\left(", "(").replace("\\right)", ")");
    while let Some(k) = s.find("\\frac{") {
        let group = |from: usize, s: &str| -> (String, usize) {
            let b = s.as_bytes();
            assert_eq!(b[from], b'{');
            let mut depth = 0;
            for (j, &c) in b.iter().enumerate().skip(from) {
                if c == b'{' {
                    depth += 1;
                } else if c == b'}' {
                    depth -= 1;
                    if depth == 0 {
                        return (s[from + 1..j].to_string(), j + 1);
                    }
                }
            }
            panic!("unbalanced braces in {s}");
        };
        let (a, e1) = group(k + 5, &s);
        let (b, e2) = group(e1, &s);
        s = format!("{}(({a})/({b})){}", &s[..k], &s[e2..]);
    }
    // Subscripts: I_{1} → I1, w_{1,2} → w1_2; powers ^{k} → ^(k).
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(k) = rest.find("_{") {
        out.push_str(&rest[..k]);
        let end = rest[k..].find('}').unwrap() + k;
        out.push_str(&rest[k + 2..end].replace(',', "_"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace("^{", "^(")
        .replace('{', "(")
        .replace('}', ")")
        .replace("\\cdot", "*")
}

impl Parser {
    fn new(src: &str) -> Self {
        let src = delatex(src);
        let c: Vec<char> = src.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < c.len() {
            let ch = c[i];
            if ch.is_whitespace() {
                i += 1;
            } else if ch.is_ascii_digit() {
                let st = i;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
                toks.push(Tok::Num(
                    c[st..i].iter().collect::<String>().parse().unwrap(),
                ));
            } else if ch.is_ascii_alphabetic() {
                let st = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Id(c[st..i].iter().collect()));
            } else if ch == '*' && c.get(i + 1) == Some(&'*') {
                toks.push(Tok::Op('^'));
                i += 2;
            } else if "+-*/^()".contains(ch) {
                toks.push(Tok::Op(ch));
                i += 1;
            } else {
                panic!("unexpected character {ch:?} in {src}");
            }
        }
        Parser { toks, pos: 0 }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eval(src: &str, env: &BTreeMap<String, Q>) -> Q {
        let mut p = Parser::new(src);
        let v = p.expr(env);
        assert_eq!(p.pos, p.toks.len(), "trailing input in {src}");
        v
    }

    fn expr(&mut self, env: &BTreeMap<String, Q>) -> Q {
        let mut v = self.term(env);
        while let Some(Tok::Op(c @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            let t = self.term(env);
            v = if c == '+' { v + t } else { v - t };
        }
        v
    }

    fn term(&mut self, env: &BTreeMap<String, Q>) -> Q {
        let mut v = self.unary(env);
        loop {
            match self.peek().cloned() {
                Some(Tok::Op('*')) => {
                    self.pos += 1;
                    v *= self.unary(env);
                }
                Some(Tok::Op('/')) => {
                    self.pos += 1;
                    let d = self.unary(env);
                    assert!(!d.is_zero(), "division by zero");
                    v /= d;
                }
                Some(Tok::Num(_) | Tok::Id(_) | Tok::Op('(')) => v *= self.unary(env),
                _ => return v,
            }
        }
    }

    fn unary(&mut self, env: &BTreeMap<String, Q>) -> Q {
        if self.peek() == Some(&Tok::Op('-')) {
            self.pos += 1;
            return -self.unary(env);
        }
        let base = self.atom(env);
        if self.peek() == Some(&Tok::Op('^')) {
            self.pos += 1;
            let e = self.atom(env);
            assert!(e.is_integer());
            let k: u32 = e.to_integer().try_into().unwrap();
            return num_traits::pow(base, k as usize);
        }
        base
    }

    fn atom(&mut self, env: &BTreeMap<String, Q>) -> Q {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Q::from_integer(n)
            }
            Some(Tok::Id(name)) => {
                self.pos += 1;
                env.get(&name)
                    .unwrap_or_else(|| panic!("unknown symbol {name}"))
                    .clone()
            }
            Some(Tok::Op('(')) => {
                self.pos += 1;
                let v = self.expr(env);
                assert_eq!(self.toks.get(self.pos), Some(&Tok::Op(')')));
                self.pos += 1;
                v
            }
            t => panic!("unexpected token {t:?}"),
        }
    }
}

fn exact(x: f64) -> Q {
    Q::from_float(x).unwrap()
}

fn exact_at(w: &[Vec<f64>], b: &[f64], s: f64, imp: &[f64]) -> Q {
    let model = Model::from_rows(w, b).unwrap();
    let data = Data::new(b.len())
        .unwrap()
        .with_density(&PerFeature::Constant(s))
        .unwrap()
        .with_importance(&PerFeature::List(imp.to_vec()))
        .unwrap();
    exact_loss(&model, &Objective::new(data)).unwrap().loss
}

fn env(s: f64, imp: &[f64]) -> BTreeMap<String, Q> {
    let mut e = BTreeMap::new();
    e.insert("s".to_string(), exact(s));
    for (i, x) in imp.iter().enumerate() {
        e.insert(format!("I{}", i + 1), exact(*x));
    }
    e
}

/// The expression part of a LaTeX line `L = …`.
fn latex_rhs(line: &str) -> &str {
    line.trim().strip_prefix("L = ").expect("L = …")
}

/// The expression of a plain line `loss = …    (0 <= s <= 1)`.
fn plain_rhs(line: &str) -> &str {
    let l = line.trim().strip_prefix("loss = ").expect("loss = …");
    l.split("    (").next().unwrap()
}

const MODEL: &str = r#"{"W": [[0.75, -0.5, 0.25], [0.5, 0.5, -1]], "b": [0.125, -0.25, 0.0625],
  "data": {"density": 0.375, "importance": [1, 0.5, 2]}}"#;

#[test]
fn density_formula_in_three_styles_equals_exact_loss() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.json", MODEL);
    let ps = p.to_str().unwrap();
    let plain = stdout(&tms(&["formula", ps]));
    let latex = stdout(&tms(&["formula", ps, "--latex"]));
    let sympy = stdout(&tms(&["formula", ps, "--sympy"]));
    assert_eq!(sympy.lines().count(), 1, "{sympy}");
    assert_eq!(latex.lines().count(), 1, "{latex}");
    assert!(plain.contains("check: "), "{plain}");
    let w = vec![vec![0.75, -0.5, 0.25], vec![0.5, 0.5, -1.0]];
    let b = [0.125, -0.25, 0.0625];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..12 {
        let s = rng.random_range(0..=256) as f64 / 256.0;
        let imp: Vec<f64> = (0..3)
            .map(|_| rng.random_range(0..=64) as f64 / 16.0)
            .collect();
        let want = exact_at(&w, &b, s, &imp);
        let e = env(s, &imp);
        assert_eq!(Parser::eval(sympy.trim(), &e), want, "sympy at s = {s}");
        assert_eq!(
            Parser::eval(latex_rhs(&latex), &e),
            want,
            "latex at s = {s}"
        );
        assert_eq!(
            Parser::eval(plain_rhs(plain.lines().next().unwrap()), &e),
            want
        );
    }
}

#[test]
fn hand_checkable_examples_on_the_command_line() {
    let o = stdout(&tms(&["formula", "--config", "not-represented", "--sympy"]));
    assert_eq!(o, "I2*(s/3 - s**2/4)\n");
    let o = stdout(&tms(&["formula", "--config", "antipodal", "--sympy"]));
    assert_eq!(o, "(I1 + I2)*(s**2/6)\n");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.json", r#"{"W": [[1, -1]], "b": [0, 0]}"#);
    let o = stdout(&tms(&["formula", p.to_str().unwrap(), "--sympy"]));
    assert_eq!(o, "(I1 + I2)*(s**2/6)\n");
    let o = stdout(&tms(&[
        "formula",
        "--config",
        "others-antipodal",
        "--n",
        "3",
        "--m",
        "2",
        "--sympy",
    ]));
    assert_eq!(o, "(I1 + I2)*(s**2/6)\n");
}

#[test]
fn region_formula_parses_back_and_equals_exact_loss_nearby() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "r.json",
        r#"{"W": [[0.75, -0.5]], "b": [0.25, -0.125], "data": {"density": 0.25}}"#,
    );
    let ps = p.to_str().unwrap();
    let plain = stdout(&tms(&["formula", ps, "--weights"]));
    assert!(plain.starts_with("region:\n"), "{plain}");
    assert!(plain.contains("check: "));
    let loss_line = plain.lines().find(|l| l.starts_with("loss = ")).unwrap();
    let latex = stdout(&tms(&["formula", ps, "--weights", "--latex"]));
    let latex_expr = latex_rhs(&latex).split(" \\quad").next().unwrap();
    // Points near the model (same region): the formula equals the exact loss.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..10 {
        let d = |rng: &mut ChaCha8Rng| rng.random_range(-4i32..=4) as f64 / 256.0;
        let (w1, w2, b1, b2) = (
            0.75 + d(&mut rng),
            -0.5 + d(&mut rng),
            0.25 + d(&mut rng),
            -0.125 + d(&mut rng),
        );
        let s = rng.random_range(1..=64) as f64 / 64.0;
        let imp = [1.0, 0.75];
        let mut e = env(s, &imp);
        for (k, v) in [("w1", w1), ("w2", w2), ("b1", b1), ("b2", b2)] {
            e.insert(k.into(), exact(v));
        }
        let want = exact_at(&[vec![w1, w2]], &[b1, b2], s, &imp);
        assert_eq!(Parser::eval(plain_rhs(loss_line), &e), want);
        assert_eq!(Parser::eval(latex_expr, &e), want);
    }
}

#[test]
fn mcgrath_sections_equal_exact_loss() {
    let plain = stdout(&tms(&["formula", "--mcgrath"]));
    assert!(plain.contains("check: 11 sample points"), "{plain}");
    // The first region (w1 w2 > 0): its formula at random points of that sector.
    let lines: Vec<&str> = plain.lines().collect();
    let k = lines
        .iter()
        .position(|l| l.starts_with("region: (w1 != 0 and w2 != 0 and w1*w2 > 0"))
        .unwrap();
    let expr = lines[k + 1].trim().strip_prefix("loss = ").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..10 {
        let sg = if rng.random::<bool>() { 1.0 } else { -1.0 };
        let w1 = sg * rng.random_range(1..=64) as f64 / 16.0;
        let w2 = sg * rng.random_range(1..=64) as f64 / 16.0;
        let s = rng.random_range(1..=64) as f64 / 64.0;
        let imp = [1.0, 0.5];
        let mut e = env(s, &imp);
        e.insert("w1".into(), exact(w1));
        e.insert("w2".into(), exact(w2));
        assert_eq!(
            Parser::eval(expr, &e),
            exact_at(&[vec![w1, w2]], &[0.0, 0.0], s, &imp)
        );
    }
    let sympy = stdout(&tms(&["formula", "--mcgrath", "--sympy"]));
    assert_eq!(sympy.lines().count(), 1);
    assert!(sympy.starts_with("Piecewise(("));
}

#[test]
fn boundary_symbolic_and_numeric() {
    let args = [
        "boundary",
        "--method",
        "theory",
        "--n",
        "2",
        "--m",
        "1",
        "--between",
        "not-represented,antipodal",
    ];
    let o = stdout(&tms(&[&args[..], &["--sympy"]].concat()));
    assert_eq!(o, "4*r/(2 + 5*r)\tInterval(0, oo, True, True)\n");
    let o = stdout(&tms(&[&args[..], &["--symbolic", "--sympy"]].concat()));
    assert_eq!(o, "4*r/(2 + 5*r)\tInterval(0, oo, True, True)\n");
    // At r = 1: 4/7 to 30 digits.
    let o = stdout(&tms(&[&args[..], &["--r", "1", "--digits", "30"]].concat()));
    assert!(
        o.contains("s = 4/7 = 0.571428571428571428571428571428\n"),
        "{o}"
    );
    let o = stdout(&tms(&[&args[..], &["--r", "3/2", "--sympy"]].concat()));
    assert_eq!(o, "12/19\n");
    // The expression parses and equals the roots found at rational r.
    let mut e = BTreeMap::new();
    e.insert("r".to_string(), Q::new(3.into(), 2.into()));
    assert_eq!(
        Parser::eval("4*r/(2 + 5*r)", &e),
        Q::new(12.into(), 19.into())
    );
    // n = 3: a validity interval that ends at r = 4 (s = 1).
    let o = stdout(&tms(&[
        "boundary",
        "--method",
        "theory",
        "--n",
        "3",
        "--m",
        "2",
        "--between",
        "others-antipodal,not-represented",
        "--sympy",
    ]));
    assert_eq!(o, "4*r/(4 + 3*r)\tInterval(0, 4, True, False)\n");
    // A tie at every density for r = 1.
    let o = stdout(&tms(&[
        "boundary",
        "--method",
        "theory",
        "--n",
        "2",
        "--m",
        "1",
        "--between",
        "dedicated,not-represented",
    ]));
    assert!(
        o.contains("at r = 1 the two losses are equal at every density"),
        "{o}"
    );
    let o = stdout(&tms(&[
        "boundary",
        "--method",
        "theory",
        "--n",
        "2",
        "--m",
        "1",
        "--between",
        "dedicated,not-represented",
        "--r",
        "1",
        "--sympy",
    ]));
    assert_eq!(o, "Interval(0, 1, True, False)\n");
}

#[test]
fn sympy_itself_parses_the_output_when_available() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import sympy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("python3 with sympy not available: the small parser's checks stand alone");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.json", MODEL);
    let line = stdout(&tms(&["formula", p.to_str().unwrap(), "--sympy"]));
    let mc = stdout(&tms(&["formula", "--mcgrath", "--sympy"]));
    let bd = stdout(&tms(&[
        "boundary",
        "--method",
        "theory",
        "--n",
        "2",
        "--m",
        "1",
        "--between",
        "not-represented,antipodal",
        "--sympy",
    ]));
    let (expr, interval) = bd.trim().split_once('\t').unwrap();
    // The density formula at s = 3/8 and importances (1, 1/2, 2) equals the exact loss.
    let want = exact_at(
        &[vec![0.75, -0.5, 0.25], vec![0.5, 0.5, -1.0]],
        &[0.125, -0.25, 0.0625],
        0.375,
        &[1.0, 0.5, 2.0],
    );
    let script = format!(
        "import sympy as sp\n\
         e = sp.sympify({line:?}.strip())\n\
         v = e.subs({{sp.Symbol('s'): sp.Rational(3, 8), sp.Symbol('I1'): 1, sp.Symbol('I2'): sp.Rational(1, 2), sp.Symbol('I3'): 2}})\n\
         assert sp.nsimplify(v) == sp.Rational({}, {}), v\n\
         m = sp.sympify({mc:?}.strip())\n\
         assert isinstance(m, sp.Piecewise)\n\
         r = sp.Symbol('r', positive=True)\n\
         b = sp.sympify({expr:?}, locals={{'r': r}})\n\
         s = sp.Symbol('s')\n\
         assert sp.simplify(sp.solve(r*(s/3 - s**2/4) - (1 + r)*s**2/6, s)[-1] - b) == 0\n\
         i = sp.sympify({interval:?})\n\
         assert i == sp.Interval.open(0, sp.oo)\n\
         print('ok')\n",
        want.numer(),
        want.denom()
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.json", MODEL);
    let ps = p.to_str().unwrap();
    let on = write(dir.path(), "on.json", r#"{"W": [[1, -1]], "b": [0, 0]}"#);
    let big = write(
        dir.path(),
        "big.json",
        r#"{"W": [[1, 0.5, 0.25, 0.125, 0.5, 0.25], [0.5, 1, 0.5, 0.25, 0.125, 1]], "b": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}"#,
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["formula", ps, "--density-symbol", "I1"], "clashes"),
        (
            vec!["formula", ps, "--density-symbol", "S"],
            "sympy predefines",
        ),
        (
            vec![
                "formula",
                ps,
                "--weights",
                "--fix-bias",
                "--importance-prefix",
                "w1_",
            ],
            "clashes",
        ),
        (
            vec!["formula", on.to_str().unwrap(), "--weights"],
            "region boundary",
        ),
        (
            vec!["formula", big.to_str().unwrap(), "--weights"],
            "monomial operations",
        ),
        (
            vec!["formula", "--config", "bogus"],
            "unknown configuration",
        ),
        (vec!["formula"], "model file"),
        (
            vec![
                "boundary",
                "--method",
                "theory",
                "--n",
                "2",
                "--m",
                "1",
                "--between",
                "antipodal,antipodal",
            ],
            "same configuration",
        ),
        (
            vec![
                "boundary",
                "--method",
                "theory",
                "--n",
                "2",
                "--m",
                "1",
                "--between",
                "antipodal",
            ],
            "two configurations",
        ),
        (
            vec![
                "boundary",
                "--method",
                "theory",
                "--n",
                "2",
                "--m",
                "1",
                "--between",
                "antipodal,dedicated",
                "--r",
                "inf",
            ],
            "not a finite rational",
        ),
        (
            vec![
                "boundary",
                "--method",
                "theory",
                "--n",
                "2",
                "--m",
                "1",
                "--between",
                "antipodal,dedicated",
                "--r",
                "-1",
            ],
            "positive",
        ),
        (
            vec![
                "boundary",
                "--method",
                "theory",
                "--n",
                "4",
                "--m",
                "1",
                "--between",
                "antipodal,dedicated",
            ],
            "n = 2, m = 1",
        ),
        (
            vec![
                "boundary",
                "--method",
                "sgd",
                "--n",
                "2",
                "--m",
                "1",
                "--between",
                "antipodal,dedicated",
            ],
            "invalid value",
        ),
    ];
    for (args, want) in cases {
        let o = tms(&args);
        assert_usage_error(&args.join(" "), &o, want);
    }
    // Non-finite input cannot reach the formula: the model file is refused.
    let nf = write(dir.path(), "nf.json", r#"{"W": [[1e999, 0]], "b": [0, 0]}"#);
    let o = tms(&["formula", nf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let _ = Q::one();
}
