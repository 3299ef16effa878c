//! bpftool's `json_writer.c` (tools/bpf/bpftool/json_writer.c, bpftool v7.x): the writer whose exact spacing
//! `bpftool map dump` prints — with BTF in plain mode it is this writer in pretty mode (four-space indents,
//! `"name": value`, `},{` between objects).

/// `struct json_writer`: output, nesting depth, pretty flag and the pending separator (`'\0'` or `,`).
pub struct JsonWriter {
    out: String,
    depth: usize,
    pretty: bool,
    sep: Option<char>,
}

impl JsonWriter {
    /// `jsonw_new` (+ `jsonw_pretty(on)`).
    #[must_use]
    pub fn new(pretty: bool) -> JsonWriter {
        JsonWriter { out: String::new(), depth: 0, pretty, sep: None }
    }

    /// `jsonw_destroy`: the text, ended by its newline.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }

    /// `jsonw_eol`.
    fn eol(&mut self) {
        if self.pretty {
            self.out.push('\n');
            self.indent();
        }
    }

    /// `jsonw_eor`.
    fn eor(&mut self) {
        if let Some(c) = self.sep {
            self.out.push(c);
        }
        self.sep = Some(',');
    }

    /// `jsonw_puts`: a quoted string with `\t \n \r \f \b \\ \"` escaped (other bytes as they are).
    fn puts(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '\t' => self.out.push_str("\\t"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\u{c}' => self.out.push_str("\\f"),
                '\u{8}' => self.out.push_str("\\b"),
                '\\' => self.out.push_str("\\\\"),
                '"' => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn begin(&mut self, c: char) {
        self.eor();
        self.out.push(c);
        self.depth += 1;
        self.sep = None;
    }

    fn end(&mut self, c: char) {
        self.depth = self.depth.saturating_sub(1);
        if self.sep.is_some() {
            self.eol();
        }
        self.out.push(c);
        self.sep = Some(',');
    }

    /// `jsonw_name`.
    pub fn name(&mut self, name: &str) {
        self.eor();
        self.eol();
        self.sep = None;
        self.puts(name);
        self.out.push(':');
        if self.pretty {
            self.out.push(' ');
        }
    }

    /// `jsonw_printf`: a raw value.
    pub fn raw(&mut self, text: &str) {
        self.eor();
        self.out.push_str(text);
    }

    /// `jsonw_string`.
    pub fn string(&mut self, s: &str) {
        self.eor();
        self.puts(s);
    }

    /// `jsonw_start_object`.
    pub fn start_object(&mut self) {
        self.begin('{');
    }

    /// `jsonw_end_object`.
    pub fn end_object(&mut self) {
        self.end('}');
    }

    /// `jsonw_start_array`.
    pub fn start_array(&mut self) {
        self.begin('[');
    }

    /// `jsonw_end_array`.
    pub fn end_array(&mut self) {
        self.end(']');
    }

    /// `jsonw_uint_field` / `jsonw_int_field`.
    pub fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        self.name(name);
        self.raw(&value.to_string());
    }

    /// `jsonw_string_field`.
    pub fn string_field(&mut self, name: &str, value: &str) {
        self.name(name);
        self.string(value);
    }
}
