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
    pub fn get_index(&self, i: usize) -> &Value {
        match self {
            Value::List(v) => v.get(i).unwrap_or(&Value::Null),
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
            b'{' => self.object(),
            b'[' => self.list(),
            b'"' => self.string().map(Value::Str),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            _ => self.number(),
        }
    }
    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        self.i += w.len();
        Ok(v)
    }
    /// After an element: skips a ',' and says whether `close` ends the container.
    fn closes(&mut self, close: u8) -> Result<bool, String> {
        self.ws();
        match self.b.get(self.i).copied().ok_or("eof")? {
            c if c == close => {
                self.i += 1;
                Ok(true)
            }
            b',' => {
                self.i += 1;
                Ok(false)
            }
            _ => Ok(false),
        }
    }
    fn object(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut out = Vec::new();
        while !self.closes(b'}')? {
            let Value::Str(k) = self.value()? else {
                return Err("key".into());
            };
            self.ws();
            self.i += 1; // ':'
            let v = self.value()?;
            out.push((k, v));
        }
        Ok(Value::Obj(out))
    }
    fn list(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut out = Vec::new();
        while !self.closes(b']')? {
            out.push(self.value()?);
        }
        Ok(Value::List(out))
    }
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut s = String::new();
        while *self.b.get(self.i).ok_or("eof in string")? != b'"' {
            if self.b[self.i] == b'\\' {
                self.i += 1;
                self.escape(&mut s)?;
                self.i += 1;
            } else {
                let start = self.i;
                while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                    self.i += 1;
                }
                s.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?);
            }
        }
        self.i += 1;
        Ok(s)
    }
    fn escape(&mut self, s: &mut String) -> Result<(), String> {
        match *self.b.get(self.i).ok_or("eof in escape")? {
            b'n' => s.push('\n'),
            b'r' => s.push('\r'),
            b't' => s.push('\t'),
            b'u' => {
                let h = self.b.get(self.i + 1..self.i + 5).ok_or("short \\u")?;
                let h = std::str::from_utf8(h).map_err(|e| e.to_string())?;
                let n = u32::from_str_radix(h, 16).map_err(|e| e.to_string())?;
                s.push(char::from_u32(n).unwrap_or('?'));
                self.i += 4;
            }
            c => s.push(c as char),
        }
        Ok(())
    }
    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        while self.i < self.b.len() && b"-+.eE0123456789".contains(&self.b[self.i]) {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .map_err(|e| e.to_string())?
            .parse()
            .map(Value::Num)
            .map_err(|e| format!("number: {e}"))
    }
}

/// Parses a response body as JSON, with the body in the panic message.
pub fn parse_response(r: &super::http::Response) -> Value {
    parse(&r.text()).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", r.text()))
}
