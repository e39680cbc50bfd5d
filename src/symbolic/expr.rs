//! A small parser for formulas in one variable `r` (e.g. `4*r/(2+5*r)`), evaluated in f64:
//! numbers, `r`, `+ - * / ^` (`^` right-associative, binds tighter than unary minus),
//! parentheses and the functions `sqrt`, `exp`, `ln`, `log10`, `abs`. Used to compare a
//! computed boundary with a closed form.

use crate::error::{Error, Result};

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    R,
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

/// The functions a formula may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Sqrt,
    Exp,
    Ln,
    Log10,
    Abs,
}

impl Expr {
    /// Parses `text`; the only variable allowed is `r`.
    pub fn parse(text: &str) -> Result<Expr> {
        let toks = tokenize(text)?;
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            text,
        };
        let e = p.sum()?;
        if p.pos != toks.len() {
            return Err(p.error("unexpected text after the formula"));
        }
        Ok(e)
    }

    /// The value at `r` (NaN or ±∞ where the formula is undefined).
    pub fn eval(&self, r: f64) -> f64 {
        match self {
            Expr::Num(x) => *x,
            Expr::R => r,
            Expr::Neg(a) => -a.eval(r),
            Expr::Bin(op, a, b) => {
                let (x, y) = (a.eval(r), b.eval(r));
                match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    '/' => x / y,
                    _ => x.powf(y),
                }
            }
            Expr::Call(f, a) => {
                let x = a.eval(r);
                match f {
                    Func::Sqrt => x.sqrt(),
                    Func::Exp => x.exp(),
                    Func::Ln => x.ln(),
                    Func::Log10 => x.log10(),
                    Func::Abs => x.abs(),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
}

fn tokenize(text: &str) -> Result<Vec<Tok>> {
    let bad = |msg: String| Error::invalid(format!("--compare '{text}': {msg}"));
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent: 1e-3, 2.5E+4.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            let v: f64 = s
                .parse()
                .map_err(|_| bad(format!("'{s}' is not a number")))?;
            out.push(Tok::Num(v));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if "+-*/^()".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            return Err(bad(format!("unexpected character '{c}'")));
        }
    }
    if out.is_empty() {
        return Err(bad("empty formula".into()));
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn error(&self, msg: &str) -> Error {
        Error::invalid(format!(
            "--compare '{}': {msg} (a formula in r, e.g. 4*r/(2+5*r))",
            self.text
        ))
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, op: char) -> bool {
        if self.peek() == Some(&Tok::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn sum(&mut self) -> Result<Expr> {
        let mut e = self.product()?;
        loop {
            let op = if self.eat('+') {
                '+'
            } else if self.eat('-') {
                '-'
            } else {
                return Ok(e);
            };
            e = Expr::Bin(op, Box::new(e), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr> {
        let mut e = self.unary()?;
        loop {
            let op = if self.eat('*') {
                '*'
            } else if self.eat('/') {
                '/'
            } else {
                return Ok(e);
            };
            e = Expr::Bin(op, Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr> {
        let base = self.atom()?;
        if self.eat('^') {
            let exp = self.unary()?;
            return Ok(Expr::Bin('^', Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr> {
        match self.peek().cloned() {
            Some(Tok::Num(x)) => {
                self.pos += 1;
                Ok(Expr::Num(x))
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                let func = match name.as_str() {
                    "r" => return Ok(Expr::R),
                    "sqrt" => Func::Sqrt,
                    "exp" => Func::Exp,
                    "ln" => Func::Ln,
                    "log10" => Func::Log10,
                    "abs" => Func::Abs,
                    _ => {
                        return Err(self.error(&format!(
                            "unknown name '{name}' (the only variable is r; functions: sqrt, \
                             exp, ln, log10, abs)"
                        )))
                    }
                };
                if !self.eat('(') {
                    return Err(self.error(&format!("{name} needs parentheses: {name}(…)")));
                }
                let arg = self.sum()?;
                if !self.eat(')') {
                    return Err(self.error("a ')' is missing"));
                }
                Ok(Expr::Call(func, Box::new(arg)))
            }
            Some(Tok::Op('(')) => {
                self.pos += 1;
                let e = self.sum()?;
                if !self.eat(')') {
                    return Err(self.error("a ')' is missing"));
                }
                Ok(e)
            }
            Some(Tok::Op(c)) => Err(self.error(&format!("unexpected '{c}'"))),
            None => Err(self.error("the formula ends too early")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let e = Expr::parse("4*r/(2+5*r)").unwrap();
        assert_eq!(e.eval(1.0), 4.0 / 7.0);
        assert_eq!(Expr::parse("-2^2").unwrap().eval(0.0), -4.0);
        assert_eq!(Expr::parse("2^3^2").unwrap().eval(0.0), 512.0);
        assert_eq!(Expr::parse("sqrt(r)*1e-1").unwrap().eval(4.0), 0.2);
        for bad in ["", "4*s", "(r", "r+", "r r", "2 $ r", "sqrt r", "foo(r)"] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
    }
}
