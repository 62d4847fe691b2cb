//! Tool input schemas (JSON Schema, as Claude Code and MCP servers write them) → the
//! OpenAPI-3 subset Gemini's `functionDeclarations[].parameters` accepts. Pure.
//!
//! Gemini answers 400 ("Invalid JSON payload received. Unknown name …", "only allowed for
//! OBJECT type", "Proto field is not repeating") to any keyword outside its `Schema`
//! message, so the output is built from an allow-list ([`ALLOWED_KEYS`]) rather than by
//! deleting known offenders: a keyword nobody thought of is dropped, never forwarded.
//!
//! Conversions, node by node:
//! - `$ref` (to `#/$defs/…`, `#/definitions/…` or any `#/` pointer) is inlined, sibling
//!   keywords winning; a reference that loops or does not resolve becomes a plain object.
//!   `allOf` is merged into one schema (properties and `required` joined).
//! - **Unions**: a `null` member of `anyOf`/`oneOf`, of a `type` array (`["string","null"]`)
//!   or of an `enum` becomes `nullable: true`. What remains: one member is inlined; members
//!   that are all strings merge into one string (their `enum`s and `const`s joined, or no
//!   `enum` if one member takes any string); anything else becomes `anyOf` of the converted
//!   members (the v1beta `Schema` has `anyOf`; `oneOf` is not in it). A `type` array with
//!   several types becomes `anyOf`, one member per type.
//! - **A type on every node**: Gemini 3 rejects schemas without one. It is inferred from the
//!   keywords (`properties` → object, `items` → array, `enum`/`const` → the values' type,
//!   numeric bounds → number, string bounds → string); a schema that allows any value
//!   (`{}`, `true`, only a description) becomes `anyOf` over string, number, boolean,
//!   object and array.
//! - `const` → a one-value `enum`. `enum` is only for strings in Gemini: on other types the
//!   values move into the description ("Must be one of: 1, 2.") and the `enum` goes.
//! - `exclusiveMinimum`/`exclusiveMaximum` (the draft-6 number or the draft-4 boolean) →
//!   inclusive `minimum`/`maximum` (one step in for integers, the same bound for numbers).
//! - `format` is kept only where Gemini accepts it: `enum` and `date-time` on strings,
//!   `float`/`double` on numbers, `int32`/`int64` on integers (`uri` on a string is a 400).
//! - Objects: `properties` only on objects and never empty (an object with none is sent
//!   without the key), `required` only naming properties that exist. `additionalProperties`,
//!   `propertyNames` and `patternProperties` go: a map-like object is a plain object.
//! - Arrays always have `items` (Gemini rejects an array without it); a tuple's `items` list
//!   (or `prefixItems`) becomes one `items` schema.
//! - Dropped: `$schema`, `$id`, `$comment`, `title`, `default`, `examples`, `pattern` (its
//!   regex dialect differs, and a lookahead would be a 400), `not`, `if`/`then`/`else`,
//!   `uniqueItems`, `contains`, `readOnly`, `deprecated`, … (everything not listed above).
//!
//! [`function_parameters`] applies this to a tool's `input_schema`: the root is always an
//! object, and a tool without properties is declared without `parameters`.

use serde_json::{Map, Value, json};

/// Every key a converted schema node may hold.
pub const ALLOWED_KEYS: &[&str] = &[
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "anyOf",
];

/// The types a converted node may have.
pub const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];

/// How deep schemas may nest before the rest is cut to a plain object (guards against
/// schemas built to exhaust the stack; real tool schemas nest a handful of levels).
const MAX_DEPTH: usize = 48;

/// A tool's `input_schema` → Gemini `parameters`, or `None` when the tool takes no
/// arguments (Gemini rejects an object with empty `properties`).
pub fn function_parameters(input_schema: &Value) -> Option<Value> {
    let mut root = Converter::new(input_schema).node(input_schema, 0);
    let obj = root.as_object_mut()?;
    if obj.get("type").and_then(Value::as_str) != Some("object") {
        // Claude Code's schemas are always objects; anything else is declared as an object
        // with no known properties, the only shape a function's arguments can have.
        obj.clear();
        obj.insert("type".into(), json!("object"));
    }
    obj.contains_key("properties").then_some(root)
}

/// Any JSON-schema node → the Gemini subset.
pub fn convert(schema: &Value) -> Value {
    Converter::new(schema).node(schema, 0)
}

struct Converter<'a> {
    root: &'a Value,
    /// The `$ref`s being expanded on the current path, to stop loops.
    expanding: Vec<String>,
}

/// The JSON type of a value, in schema terms.
fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
        || s.get("const") == Some(&Value::Null)
        || s.get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.len() == 1 && e[0].is_null())
}

fn list_text(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn append_description(out: &mut Map<String, Value>, note: String) {
    let text = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() => format!("{} {note}", d.trim_end()),
        _ => note,
    };
    out.insert("description".into(), Value::String(text));
}

impl<'a> Converter<'a> {
    fn new(root: &'a Value) -> Self {
        Converter {
            root,
            expanding: Vec::new(),
        }
    }

    /// Looks up a `#/…` JSON pointer in the root document.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(pointer)
    }

    /// Inlines `$ref` and merges `allOf`, giving one plain object node (or `None` for a
    /// reference that loops or does not resolve).
    fn flatten(&mut self, node: &Map<String, Value>, depth: usize) -> Option<Map<String, Value>> {
        let mut merged = node.clone();
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            if self.expanding.iter().any(|r| r == reference) || depth > MAX_DEPTH {
                return None;
            }
            let target = self.resolve(reference)?.as_object()?;
            // Stays on the stack until the node that named it is converted (see `node`).
            self.expanding.push(reference.to_owned());
            let mut base = self.flatten(target, depth + 1)?;
            merged.remove("$ref");
            for (k, v) in merged {
                base.insert(k, v);
            }
            merged = base;
        }
        if let Some(Value::Array(parts)) = merged.remove("allOf") {
            for part in &parts {
                let Some(part) = part.as_object() else {
                    continue;
                };
                let Some(part) = self.flatten(part, depth + 1) else {
                    continue;
                };
                merge_into(&mut merged, part);
            }
        }
        Some(merged)
    }

    fn node(&mut self, schema: &Value, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true`, `false` or garbage: any value.
            return Value::Object(self.any(depth));
        };
        if depth > MAX_DEPTH {
            return json!({"type": "object"});
        }
        let expanding = self.expanding.len();
        let out = match self.flatten(obj, depth) {
            Some(node) => self.flat(&node, depth),
            None => {
                let mut out = Map::new();
                out.insert("type".into(), json!("object"));
                copy_description(obj, &mut out);
                out
            }
        };
        self.expanding.truncate(expanding);
        Value::Object(out)
    }

    /// Converts a node that has no `$ref` or `allOf` left.
    fn flat(&mut self, node: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        let mut nullable = node.get("nullable") == Some(&Value::Bool(true));

        // Union members from anyOf / oneOf.
        let mut members: Vec<Value> = Vec::new();
        let mut has_union = false;
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(list)) = node.get(key) {
                has_union = true;
                for m in list {
                    let m = match m.as_object() {
                        Some(o) => match self.flatten(o, depth + 1) {
                            Some(f) => Value::Object(f),
                            None => json!({"type": "object"}),
                        },
                        None => json!({}),
                    };
                    if is_null_schema(&m) {
                        nullable = true;
                    } else {
                        members.push(m);
                    }
                }
            }
        }

        // Types from `type` (string or array).
        let mut types: Vec<String> = match node.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| t == "null") {
            nullable = true;
            types.retain(|t| t != "null");
            if types.is_empty() && !has_union {
                // Only null: the closest Gemini has is a nullable string.
                types.push("string".into());
            }
        }
        types.retain(|t| TYPES.contains(&t.as_str()));
        types.dedup();

        let mut out = Map::new();
        if has_union && !members.is_empty() {
            // The node's own keywords (other than the union) apply to every member.
            let mut rest = node.clone();
            for key in ["anyOf", "oneOf", "description", "nullable", "title"] {
                rest.remove(key);
            }
            let members: Vec<Map<String, Value>> = members
                .iter()
                .map(|m| {
                    let mut m = m.as_object().cloned().unwrap_or_default();
                    for (k, v) in &rest {
                        m.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    self.flat(&m, depth + 1)
                })
                .collect();
            out = union(members);
        } else if types.len() > 1 {
            let members: Vec<Map<String, Value>> = types
                .iter()
                .map(|t| {
                    let mut m = node.clone();
                    m.remove("description");
                    m.remove("nullable");
                    m.insert("type".into(), json!(t));
                    self.flat(&m, depth + 1)
                })
                .collect();
            out = union(members);
        } else {
            let ty = types.pop().or_else(|| infer_type(node));
            match ty {
                Some(ty) => self.typed(node, &ty, depth, &mut out),
                None => out = self.any(depth),
            }
        }
        // The description sits on the outer node.
        if let Some(d) = node.get("description").and_then(Value::as_str)
            && !d.trim().is_empty()
        {
            let existing = out.remove("description");
            out.insert("description".into(), json!(d));
            if let Some(Value::String(inner)) = existing
                && inner != d
            {
                append_description(&mut out, inner);
            }
        }
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
        out
    }

    /// A schema for any JSON value.
    fn any(&mut self, depth: usize) -> Map<String, Value> {
        let scalar = || {
            vec![
                json!({"type": "string"}),
                json!({"type": "number"}),
                json!({"type": "boolean"}),
                json!({"type": "object"}),
            ]
        };
        let mut members = scalar();
        if depth < MAX_DEPTH {
            members.push(json!({"type": "array", "items": {"anyOf": scalar()}}));
        }
        let mut out = Map::new();
        out.insert("anyOf".into(), Value::Array(members));
        out
    }

    /// Converts a node of one known type.
    fn typed(
        &mut self,
        node: &Map<String, Value>,
        ty: &str,
        depth: usize,
        out: &mut Map<String, Value>,
    ) {
        out.insert("type".into(), json!(ty));
        copy_description(node, out);
        // Allowed values: enum and const, null taken out (it made the node nullable).
        let mut values: Option<Vec<Value>> = node.get("enum").and_then(Value::as_array).cloned();
        if let Some(c) = node.get("const") {
            values = Some(match values {
                Some(v) if v.contains(c) => vec![c.clone()],
                Some(_) => Vec::new(),
                None => vec![c.clone()],
            });
        }
        if let Some(v) = &mut values {
            if v.iter().any(Value::is_null) {
                out.insert("nullable".into(), json!(true));
            }
            v.retain(|x| !x.is_null());
        }
        match ty {
            "string" => {
                if let Some(values) = values.filter(|v| !v.is_empty()) {
                    let strings: Vec<Value> = values
                        .iter()
                        .map(|v| match v {
                            Value::String(_) => v.clone(),
                            other => Value::String(other.to_string()),
                        })
                        .collect();
                    out.insert("enum".into(), Value::Array(strings));
                }
                if let Some(f) = node.get("format").and_then(Value::as_str)
                    && matches!(f, "enum" | "date-time")
                {
                    out.insert("format".into(), json!(f));
                }
                copy_count(node, out, "minLength");
                copy_count(node, out, "maxLength");
            }
            "number" | "integer" => {
                let integer = ty == "integer";
                if let Some(f) = node.get("format").and_then(Value::as_str) {
                    let ok = if integer {
                        matches!(f, "int32" | "int64")
                    } else {
                        matches!(f, "float" | "double")
                    };
                    if ok {
                        out.insert("format".into(), json!(f));
                    }
                }
                if let Some(min) = lower_bound(node, integer) {
                    out.insert("minimum".into(), min);
                }
                if let Some(max) = upper_bound(node, integer) {
                    out.insert("maximum".into(), max);
                }
                describe_values(out, values);
            }
            "boolean" => describe_values(out, values),
            "array" => {
                let items = match node.get("items").or_else(|| node.get("prefixItems")) {
                    Some(Value::Array(tuple)) => {
                        let members: Vec<Map<String, Value>> = tuple
                            .iter()
                            .map(|m| match self.node(m, depth + 1) {
                                Value::Object(o) => o,
                                _ => Map::new(),
                            })
                            .collect();
                        if members.is_empty() {
                            Value::Object(self.any(depth + 1))
                        } else {
                            Value::Object(union(members))
                        }
                    }
                    Some(items) => self.node(items, depth + 1),
                    None => Value::Object(self.any(depth + 1)),
                };
                out.insert("items".into(), items);
                copy_count(node, out, "minItems");
                copy_count(node, out, "maxItems");
                describe_values(out, values);
            }
            "object" => {
                let mut props = Map::new();
                if let Some(Value::Object(p)) = node.get("properties") {
                    for (name, schema) in p {
                        props.insert(name.clone(), self.node(schema, depth + 1));
                    }
                }
                if let Some(Value::Array(req)) = node.get("required") {
                    let mut required: Vec<Value> = Vec::new();
                    for r in req {
                        if r.as_str().is_some_and(|r| props.contains_key(r))
                            && !required.contains(r)
                        {
                            required.push(r.clone());
                        }
                    }
                    if !required.is_empty() {
                        out.insert("required".into(), Value::Array(required));
                    }
                }
                if !props.is_empty() {
                    out.insert("properties".into(), Value::Object(props));
                }
                copy_count(node, out, "minProperties");
                copy_count(node, out, "maxProperties");
                describe_values(out, values);
            }
            _ => {}
        }
    }
}

/// Joins union members that are all plain strings into one string; inlines a single member;
/// otherwise `anyOf`.
fn union(mut members: Vec<Map<String, Value>>) -> Map<String, Value> {
    if members.len() == 1 {
        return members.pop().unwrap_or_default();
    }
    let all_strings = members.iter().all(|m| {
        m.get("type").and_then(Value::as_str) == Some("string") && !m.contains_key("anyOf")
    });
    if all_strings {
        let mut out = Map::new();
        out.insert("type".into(), json!("string"));
        let mut values: Vec<Value> = Vec::new();
        let mut open = false;
        let mut notes: Vec<String> = Vec::new();
        for m in &members {
            match m.get("enum").and_then(Value::as_array) {
                Some(e) => {
                    for v in e {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }
                }
                None => open = true,
            }
            if let Some(d) = m.get("description").and_then(Value::as_str) {
                notes.push(d.to_owned());
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                out.insert("nullable".into(), json!(true));
            }
        }
        if !open && !values.is_empty() {
            out.insert("enum".into(), Value::Array(values));
        }
        if !notes.is_empty() {
            out.insert("description".into(), json!(notes.join(" ")));
        }
        return out;
    }
    let mut out = Map::new();
    out.insert(
        "anyOf".into(),
        Value::Array(members.into_iter().map(Value::Object).collect()),
    );
    out
}

/// Merges an `allOf` member into a node: properties and `required` joined, other keys kept
/// from the node when both have them.
fn merge_into(node: &mut Map<String, Value>, part: Map<String, Value>) {
    for (k, v) in part {
        match (k.as_str(), node.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (name, schema) in theirs {
                    mine.entry(name).or_insert(schema);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                node.insert(k, v);
            }
        }
    }
}

/// The type a node without `type` has, judged by its keywords.
fn infer_type(node: &Map<String, Value>) -> Option<String> {
    let has = |k: &str| node.contains_key(k);
    if has("properties")
        || has("required")
        || has("additionalProperties")
        || has("patternProperties")
        || has("propertyNames")
        || has("minProperties")
        || has("maxProperties")
    {
        return Some("object".into());
    }
    if has("items") || has("prefixItems") || has("minItems") || has("maxItems") {
        return Some("array".into());
    }
    let values: Vec<&Value> = match (node.get("const"), node.get("enum")) {
        (Some(c), _) => vec![c],
        (None, Some(Value::Array(e))) => e.iter().filter(|v| !v.is_null()).collect(),
        _ => Vec::new(),
    };
    if let Some(first) = values.first() {
        let first = value_type(first);
        let same = values.iter().all(|v| value_type(v) == first);
        // Mixed values can only be offered as strings.
        return Some(if same { first } else { "string" }.into());
    }
    if has("minimum") || has("maximum") || has("exclusiveMinimum") || has("exclusiveMaximum") {
        return Some("number".into());
    }
    if has("minLength") || has("maxLength") || has("pattern") || has("format") {
        return Some("string".into());
    }
    None
}

fn copy_description(node: &Map<String, Value>, out: &mut Map<String, Value>) {
    if let Some(d) = node.get("description").and_then(Value::as_str)
        && !d.trim().is_empty()
    {
        out.insert("description".into(), json!(d));
    }
}

/// Copies a non-negative integer keyword.
fn copy_count(node: &Map<String, Value>, out: &mut Map<String, Value>, key: &str) {
    if let Some(n) = node.get(key).and_then(Value::as_u64) {
        out.insert(key.into(), json!(n));
    }
}

/// Values a non-string node may take go into its description; Gemini's `enum` is strings
/// only.
fn describe_values(out: &mut Map<String, Value>, values: Option<Vec<Value>>) {
    match values.as_deref() {
        Some([one]) => append_description(
            out,
            format!("Must be {}.", list_text(std::slice::from_ref(one))),
        ),
        Some(v) if !v.is_empty() => {
            append_description(out, format!("Must be one of: {}.", list_text(v)))
        }
        _ => {}
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|n| n.is_finite())
}

fn emit(n: f64, integer: bool) -> Value {
    if integer || (n.fract() == 0.0 && n.abs() < 9.0e15) {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The inclusive lower bound: `minimum`, raised by `exclusiveMinimum` (one step in for
/// integers).
fn lower_bound(node: &Map<String, Value>, integer: bool) -> Option<Value> {
    let inclusive = node.get("minimum").and_then(number);
    let exclusive = match node.get("exclusiveMinimum") {
        Some(Value::Bool(true)) => inclusive,
        Some(v) => number(v),
        None => None,
    };
    let from_exclusive = exclusive.map(|n| if integer { n.floor() + 1.0 } else { n });
    let from_inclusive = match (node.get("exclusiveMinimum"), inclusive) {
        (Some(Value::Bool(true)), _) => None,
        (_, m) => m.map(|n| if integer { n.ceil() } else { n }),
    };
    let best = match (from_inclusive, from_exclusive) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }?;
    Some(emit(best, integer))
}

/// The inclusive upper bound: `maximum`, lowered by `exclusiveMaximum`.
fn upper_bound(node: &Map<String, Value>, integer: bool) -> Option<Value> {
    let inclusive = node.get("maximum").and_then(number);
    let exclusive = match node.get("exclusiveMaximum") {
        Some(Value::Bool(true)) => inclusive,
        Some(v) => number(v),
        None => None,
    };
    let from_exclusive = exclusive.map(|n| if integer { n.ceil() - 1.0 } else { n });
    let from_inclusive = match (node.get("exclusiveMaximum"), inclusive) {
        (Some(Value::Bool(true)), _) => None,
        (_, m) => m.map(|n| if integer { n.floor() } else { n }),
    };
    let best = match (from_inclusive, from_exclusive) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }?;
    Some(emit(best, integer))
}

/// Checks that `schema` uses only Gemini's subset, at every depth; `Err` names the path.
/// Used by the tests, and cheap enough to run on every declaration in debug builds.
pub fn check_subset(schema: &Value, path: &str) -> Result<(), String> {
    let obj = schema
        .as_object()
        .ok_or_else(|| format!("{path}: not an object"))?;
    for key in obj.keys() {
        if !ALLOWED_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "{path}: key {key:?} is not in Gemini's schema subset"
            ));
        }
    }
    let ty = obj.get("type").and_then(Value::as_str);
    match (ty, obj.get("anyOf")) {
        (Some(t), None) if TYPES.contains(&t) => {}
        (None, Some(Value::Array(members))) if members.len() >= 2 => {
            for (i, m) in members.iter().enumerate() {
                check_subset(m, &format!("{path}.anyOf[{i}]"))?;
            }
        }
        _ => {
            return Err(format!(
                "{path}: needs exactly one of a known `type` or an `anyOf` of two or more"
            ));
        }
    }
    if let Some(e) = obj.get("enum") {
        let ok = ty == Some("string")
            && e.as_array()
                .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_string));
        if !ok {
            return Err(format!(
                "{path}: enum must be non-empty strings on a string"
            ));
        }
    }
    if let Some(f) = obj.get("format").and_then(Value::as_str) {
        let ok = matches!(
            (ty, f),
            (Some("string"), "enum" | "date-time")
                | (Some("number"), "float" | "double")
                | (Some("integer"), "int32" | "int64")
        );
        if !ok {
            return Err(format!("{path}: format {f:?} on {ty:?}"));
        }
    }
    if obj.get("nullable").is_some_and(|n| n != &Value::Bool(true)) {
        return Err(format!("{path}: nullable must be true when present"));
    }
    if let Some(d) = obj.get("description")
        && !d.is_string()
    {
        return Err(format!("{path}: description must be a string"));
    }
    for key in [
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
    ] {
        if obj.get(key).is_some_and(|v| v.as_u64().is_none()) {
            return Err(format!("{path}: {key} must be a non-negative integer"));
        }
    }
    for key in ["minimum", "maximum"] {
        if obj.get(key).is_some_and(|v| !v.is_number()) {
            return Err(format!("{path}: {key} must be a number"));
        }
        if obj.contains_key(key) && !matches!(ty, Some("number" | "integer")) {
            return Err(format!("{path}: {key} on {ty:?}"));
        }
    }
    let props = obj.get("properties");
    let required = obj.get("required");
    if (props.is_some() || required.is_some()) && ty != Some("object") {
        return Err(format!("{path}: properties/required only on objects"));
    }
    if let Some(p) = props {
        let p = p
            .as_object()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("{path}: properties must be a non-empty object"))?;
        for (name, s) in p {
            check_subset(s, &format!("{path}.{name}"))?;
        }
    }
    if let Some(r) = required {
        let names = r
            .as_array()
            .ok_or_else(|| format!("{path}: required must be a list"))?;
        for n in names {
            let known = n
                .as_str()
                .is_some_and(|n| props.and_then(|p| p.get(n)).is_some());
            if !known {
                return Err(format!("{path}: required {n} is not a property"));
            }
        }
    }
    match (ty, obj.get("items")) {
        (Some("array"), Some(items)) => check_subset(items, &format!("{path}[]"))?,
        (Some("array"), None) => return Err(format!("{path}: array without items")),
        (_, Some(_)) => return Err(format!("{path}: items only on arrays")),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(path: &str) -> Value {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap()
    }

    /// Every tool schema the pinned Claude Code versions send (and the generated request
    /// fixture with every zod shape they use) converts into the subset, at every depth.
    #[test]
    fn every_claude_code_tool_schema_converts_into_the_subset() {
        let mut checked = 0;
        for path in [
            "tests/fixtures/claude-code/2.1.197-first-request.json",
            "tests/fixtures/claude-code/2.1.332-first-request.json",
            "tests/fixtures/requests/claude-code-2.1.197.json",
        ] {
            let req = fixture(path);
            let tools = req["tools"].as_array().expect("tools");
            assert!(tools.len() >= 10, "{path}: {} tools", tools.len());
            for tool in tools {
                let name = tool["name"].as_str().unwrap();
                let Some(input) = tool.get("input_schema") else {
                    continue;
                };
                match function_parameters(input) {
                    Some(params) => {
                        check_subset(&params, &format!("{path}:{name}"))
                            .unwrap_or_else(|e| panic!("{e}\n{params:#}"));
                        assert_eq!(params["type"], "object");
                        // No property is lost.
                        let before = input["properties"].as_object().unwrap();
                        let after = params["properties"].as_object().unwrap();
                        assert_eq!(
                            before.keys().collect::<Vec<_>>(),
                            after.keys().collect::<Vec<_>>(),
                            "{path}:{name}"
                        );
                        assert_eq!(
                            input.get("required"),
                            params.get("required"),
                            "{path}:{name}: required kept"
                        );
                    }
                    None => assert!(
                        input["properties"].as_object().is_none_or(|p| p.is_empty()),
                        "{path}:{name}: declared without parameters but has properties"
                    ),
                }
                checked += 1;
            }
        }
        assert!(checked >= 50, "only {checked} schemas checked");
    }

    #[test]
    fn the_known_offenders_are_converted() {
        // Shapes from Claude Code's own tools (zod → JSON Schema).
        let input = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object", "additionalProperties": false,
            "properties": {
                "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100, "description": "How many"},
                "ratio": {"type": "number", "exclusiveMaximum": 1.5},
                "url": {"type": "string", "format": "uri"},
                "when": {"type": "string", "format": "date-time"},
                "status": {"description": "New status", "anyOf": [
                    {"type": "string", "enum": ["pending", "done"]},
                    {"type": "string", "const": "deleted"}]},
                "path": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
                "name": {"type": ["string", "null"], "title": "Name", "pattern": "^[a-z]+(?=x)"},
                "metadata": {"type": "object", "propertyNames": {"type": "string"}, "additionalProperties": {}},
                "mode": {"const": "replace"},
                "level": {"type": "integer", "enum": [1, 2, 3]},
                "flag": {"type": "boolean", "default": false, "examples": [true]},
                "args": {"description": "Anything"},
            },
            "required": ["limit", "missing", "limit"],
        });
        let out = function_parameters(&input).unwrap();
        check_subset(&out, "root").unwrap();
        let p = &out["properties"];
        assert_eq!(
            p["limit"],
            json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "How many"})
        );
        assert_eq!(p["ratio"], json!({"type": "number", "maximum": 1.5}));
        assert_eq!(p["url"], json!({"type": "string"}));
        assert_eq!(p["when"], json!({"type": "string", "format": "date-time"}));
        assert_eq!(
            p["status"],
            json!({"type": "string", "enum": ["pending", "done", "deleted"], "description": "New status"})
        );
        assert_eq!(p["path"], json!({"type": "string", "nullable": true}));
        assert_eq!(p["name"], json!({"type": "string", "nullable": true}));
        assert_eq!(p["metadata"], json!({"type": "object"}));
        assert_eq!(p["mode"], json!({"type": "string", "enum": ["replace"]}));
        assert_eq!(
            p["level"],
            json!({"type": "integer", "description": "Must be one of: 1, 2, 3."})
        );
        assert_eq!(p["flag"], json!({"type": "boolean"}));
        assert_eq!(p["args"]["description"], "Anything");
        assert_eq!(p["args"]["anyOf"].as_array().unwrap().len(), 5);
        assert_eq!(out["required"], json!(["limit"]));
    }

    #[test]
    fn refs_are_inlined_and_loops_cut() {
        let input = json!({
            "type": "object",
            "$defs": {
                "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
                "Tree": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Tree"}, "v": {"type": "string"}}}
            },
            "definitions": {"Color": {"enum": ["red", "green"]}},
            "properties": {
                "at": {"$ref": "#/$defs/Point", "description": "Where"},
                "tree": {"$ref": "#/$defs/Tree"},
                "color": {"$ref": "#/definitions/Color"},
                "gone": {"$ref": "#/$defs/Nope"},
                "both": {"allOf": [{"$ref": "#/$defs/Point"}, {"properties": {"y": {"type": "number"}}, "required": ["y"]}]}
            }
        });
        let out = function_parameters(&input).unwrap();
        check_subset(&out, "root").unwrap();
        let p = &out["properties"];
        assert_eq!(
            p["at"],
            json!({"type": "object", "description": "Where", "properties": {"x": {"type": "number"}}, "required": ["x"]})
        );
        // The recursion stops at the first loop: a plain object.
        assert_eq!(
            p["tree"],
            json!({"type": "object", "properties": {"child": {"type": "object"}, "v": {"type": "string"}}})
        );
        assert_eq!(
            p["color"],
            json!({"type": "string", "enum": ["red", "green"]})
        );
        assert_eq!(p["gone"], json!({"type": "object"}));
        assert_eq!(p["both"]["required"], json!(["x", "y"]));
    }

    #[test]
    fn real_unions_become_any_of_and_arrays_get_items() {
        let input = json!({"type": "object", "properties": {
            "value": {"type": ["string", "integer", "null"], "description": "A value"},
            "either": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "list": {"type": "array"},
            "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
            "one": {"anyOf": [{"type": "boolean"}]},
            "nothing": false
        }});
        let out = function_parameters(&input).unwrap();
        check_subset(&out, "root").unwrap();
        let p = &out["properties"];
        assert_eq!(
            p["value"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "A value", "nullable": true})
        );
        assert_eq!(
            p["either"],
            json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
        );
        assert_eq!(p["list"]["items"]["anyOf"].as_array().unwrap().len(), 5);
        assert_eq!(
            p["pair"]["items"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(p["one"], json!({"type": "boolean"}));
        assert!(p["nothing"]["anyOf"].is_array());
    }

    #[test]
    fn tools_without_arguments_have_no_parameters() {
        assert_eq!(
            function_parameters(&json!({"type": "object", "properties": {}})),
            None
        );
        assert_eq!(
            function_parameters(&json!({"type": "object", "additionalProperties": false})),
            None
        );
        assert_eq!(function_parameters(&json!({"type": "string"})), None);
    }

    #[test]
    fn deep_and_hostile_schemas_stay_bounded() {
        let mut deep = json!({"type": "string"});
        for _ in 0..500 {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        let out = function_parameters(&deep).unwrap();
        check_subset(&out, "root").unwrap();
        // A self-reference at the root.
        let looped = json!({"type": "object", "properties": {"me": {"$ref": "#"}}});
        let out = function_parameters(&looped).unwrap();
        check_subset(&out, "root").unwrap();
    }
}
