//! A tiny JSON reader, enough for the probe app's answers (no serde dependency).
#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Value>),
    Obj(Vec<(String, Value)>),
}
impl Value {
    pub fn get(&self, k: &str) -> &Value {
        match self {
            Value::Obj(v) => v
                .iter()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v)
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }
    pub fn str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    pub fn num(&self) -> f64 {
        match self {
            Value::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
}
pub fn parse(s: &str) -> Result<Value, String> {
    let mut p = P {
        b: s.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    Ok(v)
}
struct P<'a> {
    b: &'a [u8],
    i: usize,
}
impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && (self.b[self.i] as char).is_whitespace() {
            self.i += 1;
        }
    }
    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.b.get(self.i).copied().ok_or("eof")? {
            b'{' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    self.ws();
                    if self.b[self.i] == b'}' {
                        self.i += 1;
                        return Ok(Value::Obj(out));
                    }
                    let Value::Str(k) = self.value()? else {
                        return Err("key".into());
                    };
                    self.ws();
                    self.i += 1; // ':'
                    let v = self.value()?;
                    out.push((k, v));
                    self.ws();
                    if self.b[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    self.ws();
                    if self.b[self.i] == b']' {
                        self.i += 1;
                        return Ok(Value::List(out));
                    }
                    out.push(self.value()?);
                    self.ws();
                    if self.b[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut s = String::new();
                while self.b[self.i] != b'"' {
                    if self.b[self.i] == b'\\' {
                        self.i += 1;
                        match self.b[self.i] {
                            b'n' => s.push('\n'),
                            b'r' => s.push('\r'),
                            b't' => s.push('\t'),
                            b'u' => {
                                let h =
                                    std::str::from_utf8(&self.b[self.i + 1..self.i + 5]).unwrap();
                                s.push(
                                    char::from_u32(u32::from_str_radix(h, 16).unwrap())
                                        .unwrap_or('?'),
                                );
                                self.i += 4;
                            }
                            c => s.push(c as char),
                        }
                        self.i += 1;
                    } else {
                        let start = self.i;
                        while self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                            self.i += 1;
                        }
                        s.push_str(std::str::from_utf8(&self.b[start..self.i]).unwrap());
                    }
                }
                self.i += 1;
                Ok(Value::Str(s))
            }
            b't' => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            b'f' => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            b'n' => {
                self.i += 4;
                Ok(Value::Null)
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len() && b"-+.eE0123456789".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                std::str::from_utf8(&self.b[start..self.i])
                    .unwrap()
                    .parse()
                    .map(Value::Num)
                    .map_err(|e| format!("number: {e}"))
            }
        }
    }
}

/// Parses a response body as JSON, with the body in the panic message.
pub fn parse_response(r: &super::http::Response) -> Value {
    parse(&r.text()).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", r.text()))
}
