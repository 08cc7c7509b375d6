//! Forward compatibility of the response decoders, for every operation and
//! every example body the spec documents (success and each error status).
//!
//! Each example is walked alongside its schema from the spec, which yields
//! the places to perturb: the objects the spec describes with `properties`
//! (where an unknown field may appear), the strings whose schema is an
//! `enum` (where Amazon may add a value), the properties absent from
//! `required` (which Amazon may leave out), the required ones (which the
//! decoder must insist on) and the typed scalars (which must keep their type).
//! Every failure names the operation, the status and the JSON path.

mod support;

use serde_json::{Value, json};
use spapi_shipping::decode::{DecodeError, decode};
use spapi_shipping::operations::{OPERATIONS, Operation};
use spapi_shipping::types;
use support::json_diff;

/// One documented example: an operation, a status, its body and the
/// response schema the spec gives for that status.
struct Case {
    op: &'static Operation,
    status: u16,
    body: Value,
    schema: Value,
}

impl Case {
    fn name(&self) -> String {
        format!("{} {}", self.op.id, self.status)
    }

    fn decode(&self, body: &Value) -> Option<Result<Value, DecodeError>> {
        let bytes = serde_json::to_vec(body).expect("a JSON value encodes");
        decode(self.op.name, self.status, &bytes)
    }

    /// Decodes `body`, which must succeed, and compares the re-encoded value
    /// with `expected`; returns a message naming the case on any difference.
    fn expect_ok(&self, what: &str, body: &Value, expected: &Value) -> Result<(), String> {
        match self.decode(body) {
            Some(Ok(v)) => match json_diff(expected, &v) {
                None => Ok(()),
                Some(d) => Err(format!(
                    "{} [{what}]: re-encoded differently: {d}",
                    self.name()
                )),
            },
            Some(Err(e)) => Err(format!(
                "{} [{what}]: does not decode: {} (at {:?})",
                self.name(),
                e.message,
                e.path
            )),
            None => Err(format!("{} [{what}]: no decoder", self.name())),
        }
    }

    /// Decodes `body`, which must fail; returns the error.
    fn expect_err(&self, what: &str, body: &Value) -> Result<DecodeError, String> {
        match self.decode(body) {
            Some(Err(e)) => Ok(e),
            Some(Ok(v)) => Err(format!(
                "{} [{what}]: decoded although it must not: {v}",
                self.name()
            )),
            None => Err(format!("{} [{what}]: no decoder", self.name())),
        }
    }
}

/// Every example of every operation, with its schema; checks that the
/// fixtures and the operation table agree.
fn cases(spec: &Value) -> Vec<Case> {
    let mut out = Vec::new();
    for op in OPERATIONS {
        let fixture = support::read_json(&format!("tests/fixtures/responses/{}.json", op.id));
        assert_eq!(fixture["operationId"], op.id);
        assert_eq!(fixture["path"], op.path, "{}: fixture path", op.id);
        assert_eq!(fixture["method"], op.method, "{}: fixture method", op.id);
        let responses = &spec["paths"][op.path][op.method.to_lowercase()]["responses"];
        let examples = fixture["examples"].as_object().expect("examples object");
        assert!(!examples.is_empty(), "{}: no examples", op.id);
        for (status, body) in examples {
            let schema = &responses[status]["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{} {status}: an example but no JSON schema in the spec",
                op.id
            );
            out.push(Case {
                op,
                status: status.parse().expect("numeric status"),
                body: body.clone(),
                schema: schema.clone(),
            });
        }
    }
    out
}

/// A place in a body: its JSON pointer (to edit it), its path as the decoder
/// reports it (`payload.rates[0].totalCharge.value`) and its depth.
#[derive(Clone, Debug, Default)]
struct Loc {
    pointer: String,
    path: String,
    depth: usize,
}

impl Loc {
    fn key(&self, key: &str) -> Loc {
        Loc {
            pointer: format!(
                "{}/{}",
                self.pointer,
                key.replace('~', "~0").replace('/', "~1")
            ),
            path: if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.path)
            },
            depth: self.depth + 1,
        }
    }

    fn index(&self, i: usize) -> Loc {
        Loc {
            pointer: format!("{}/{i}", self.pointer),
            path: format!("{}[{i}]", self.path),
            depth: self.depth + 1,
        }
    }

    fn shown(&self) -> &str {
        if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        }
    }
}

/// A property of an object: the object's place and the key.
#[derive(Clone, Debug)]
struct Prop {
    parent: Loc,
    key: String,
}

impl Prop {
    fn loc(&self) -> Loc {
        self.parent.key(&self.key)
    }
}

/// What walking an example alongside its schema finds.
#[derive(Default)]
struct Sites {
    /// Objects whose schema lists `properties` (typed structs).
    structs: Vec<Loc>,
    /// Free-form objects (`additionalProperties: {}`), kept as they are.
    free_form: Vec<Loc>,
    /// Strings whose schema has an `enum`.
    enums: Vec<Loc>,
    /// Present properties that their object's schema does not require.
    optional: Vec<Prop>,
    /// Present properties that their object's schema requires.
    required: Vec<Prop>,
    /// Scalars (string, number, boolean) whose schema names a type.
    scalars: Vec<Loc>,
}

impl Sites {
    fn of(spec: &Value, case: &Case) -> Sites {
        let mut sites = Sites::default();
        walk(
            spec,
            &case.body,
            &case.schema,
            &Loc::default(),
            &mut sites,
            case,
        );
        sites
    }
}

/// Follows `$ref`s (`#/components/schemas/X`) to the schema itself.
fn resolve<'a>(spec: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        schema = &spec["components"]["schemas"][name];
        assert!(schema.is_object(), "dangling $ref {r}");
    }
    schema
}

fn walk(spec: &Value, value: &Value, schema: &Value, loc: &Loc, sites: &mut Sites, case: &Case) {
    let schema = resolve(spec, schema);
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                sites.structs.push(loc.clone());
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                for (key, child) in map {
                    let sub = props.get(key).unwrap_or_else(|| {
                        panic!(
                            "{}: example has {} which its schema does not define",
                            case.name(),
                            loc.key(key).shown()
                        )
                    });
                    let prop = Prop {
                        parent: loc.clone(),
                        key: key.clone(),
                    };
                    if required.contains(&key.as_str()) {
                        sites.required.push(prop);
                    } else {
                        sites.optional.push(prop);
                    }
                    walk(spec, child, sub, &loc.key(key), sites, case);
                }
            } else if let Some(values) = schema
                .get("additionalProperties")
                .filter(|s| s.as_object().is_some_and(|o| !o.is_empty()))
            {
                // A map with typed values (`AccessPointsMap`); its keys are data.
                for (key, child) in map {
                    walk(spec, child, values, &loc.key(key), sites, case);
                }
            } else {
                // A free-form object (`additionalProperties: {}`): anything
                // goes, nothing to check inside.
                sites.free_form.push(loc.clone());
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(spec, item, item_schema, &loc.index(i), sites, case);
                }
            }
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            if value.is_string() && schema.get("enum").is_some() {
                sites.enums.push(loc.clone());
            }
            if schema.get("type").is_some() {
                sites.scalars.push(loc.clone());
            }
        }
        Value::Null => {}
    }
}

fn at<'a>(body: &'a mut Value, loc: &Loc) -> &'a mut Value {
    body.pointer_mut(&loc.pointer)
        .unwrap_or_else(|| panic!("no value at {}", loc.pointer))
}

fn remove(body: &mut Value, prop: &Prop) {
    at(body, &prop.parent)
        .as_object_mut()
        .expect("a property's parent is an object")
        .remove(&prop.key)
        .expect("the property is present");
}

fn insert(body: &mut Value, object: &Loc, key: &str, value: Value) {
    at(body, object)
        .as_object_mut()
        .expect("a struct site is an object")
        .insert(key.to_owned(), value);
}

/// Fails the test with every collected message (the first 40 of them).
fn report(test: &str, failures: &[String]) {
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(40).map(String::as_str).collect();
        panic!(
            "{test}: {} failure(s):\n  {}",
            failures.len(),
            shown.join("\n  ")
        );
    }
}

/// Adds `op`'s count to the per-operation tally, in operation order.
fn tally(counts: &mut Vec<(&'static str, usize)>, op: &'static Operation, n: usize) {
    match counts.iter_mut().find(|(id, _)| *id == op.id) {
        Some((_, total)) => *total += n,
        None => counts.push((op.id, n)),
    }
}

#[test]
fn every_operation_has_examples_for_each_documented_status() {
    let spec = support::spec();
    let cases = cases(spec);
    assert_eq!(OPERATIONS.len(), 20);
    // 19 operations with a body on success + 9 error statuses for all 20.
    assert_eq!(cases.len(), 20 * 10 - 1, "examples per operation changed");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = case.expect_ok("as documented", &case.body, &case.body) {
            failures.push(e);
        }
    }
    report("documented examples", &failures);
}

/// Unknown fields, an object and a scalar, added to every typed object of
/// every example (the root, the objects at depth 2, the deepest one), one at
/// a time and all at once: the body decodes to the original example.
#[test]
fn unknown_fields_are_ignored_at_every_depth() {
    let spec = support::spec();
    let unknown = [
        ("zzUnknownField", json!({"nested": [1, "x"]})),
        ("zzUnknownScalar", json!(42.5)),
        ("zzUnknownNull", Value::Null),
    ];
    let mut failures = Vec::new();
    let mut objects = Vec::new();
    let mut deepest = 0;
    let mut free_form = 0;
    for case in cases(spec) {
        let sites = Sites::of(spec, &case);
        assert!(
            sites.structs.first().is_some_and(|root| root.depth == 0),
            "{}: the root is not a typed object",
            case.name()
        );
        let max_depth = sites.structs.iter().map(|l| l.depth).max().unwrap_or(0);
        deepest = deepest.max(max_depth);
        tally(&mut objects, case.op, sites.structs.len());
        let mut everywhere = case.body.clone();
        for object in &sites.structs {
            for (key, value) in &unknown {
                let mut body = case.body.clone();
                insert(&mut body, object, key, value.clone());
                insert(&mut everywhere, object, key, value.clone());
                let what = format!("{key} added at {} (depth {})", object.shown(), object.depth);
                if let Err(e) = case.expect_ok(&what, &body, &case.body) {
                    failures.push(e);
                }
            }
        }
        if let Err(e) = case.expect_ok("unknown fields in every object", &everywhere, &case.body) {
            failures.push(e);
        }
        // A free-form object keeps whatever it holds, unknown keys included.
        for object in &sites.free_form {
            free_form += 1;
            let mut body = case.body.clone();
            for (key, value) in &unknown {
                insert(&mut body, object, key, value.clone());
            }
            let what = format!("unknown fields added to free-form {}", object.shown());
            if let Err(e) = case.expect_ok(&what, &body, &body) {
                failures.push(e);
            }
        }
    }
    for (id, n) in &objects {
        eprintln!("unknown fields: {id}: {n} typed objects extended");
    }
    eprintln!(
        "unknown fields: deepest typed object at depth {deepest}; \
         {free_form} free-form objects keep them"
    );
    assert!(free_form >= 2, "the free-form payloads were not reached");
    assert!(
        deepest >= 4,
        "the examples are too shallow to exercise nesting"
    );
    report("unknown fields", &failures);
}

/// Every enum-typed string of every example set to a value the model does
/// not define: the body decodes and the value re-encodes verbatim.
#[test]
fn undefined_enum_values_are_kept_verbatim() {
    let spec = support::spec();
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    let mut n = 0;
    for case in cases(spec) {
        let sites = Sites::of(spec, &case);
        tally(&mut counts, case.op, sites.enums.len());
        let mut all = case.body.clone();
        for loc in &sites.enums {
            n += 1;
            let new = Value::String(format!("ZZ_NEW_VALUE_{n}"));
            *at(&mut all, loc) = new.clone();
            let mut one = case.body.clone();
            *at(&mut one, loc) = new.clone();
            let what = format!("{} = {new}", loc.shown());
            if let Err(e) = case.expect_ok(&what, &one, &one) {
                failures.push(e);
            }
        }
        if !sites.enums.is_empty()
            && let Err(e) = case.expect_ok("every enum undefined", &all, &all)
        {
            failures.push(e);
        }
    }
    for (id, count) in &counts {
        eprintln!("undefined enum values: {id}: {count} enum fields changed");
    }
    eprintln!("undefined enum values: {n} enum fields changed in all");
    assert!(
        n >= 20,
        "only {n} enum fields found: the test would be vacuous"
    );
    report("undefined enum values", &failures);
}

/// The caller can read an undefined value through the typed API.
#[test]
fn an_undefined_event_code_is_readable_as_unknown() {
    let fixture = support::read_json("tests/fixtures/responses/getTracking.json");
    let mut body = fixture["examples"]["200"].clone();
    body["payload"]["eventHistory"][0]["eventCode"] = json!("ParcelTeleported");
    let response: types::GetTrackingResponse =
        serde_json::from_value(body.clone()).expect("an undefined event code decodes");
    let payload = response.payload.as_ref().expect("payload");
    assert!(
        matches!(&payload.event_history[0].event_code, types::EventCode::Unknown(s) if s == "ParcelTeleported"),
        "{:?}",
        payload.event_history[0].event_code
    );
    // The known ones around it are still known.
    assert_eq!(
        payload.event_history[1].event_code,
        types::EventCode::ReturnInitiated
    );
    assert_eq!(
        json_diff(&body, &serde_json::to_value(&response).unwrap()),
        None
    );
}

/// Every property the schema does not require, removed all at once and one
/// at a time, or sent as `null`: the body decodes and re-encodes as the
/// reduced body.
#[test]
fn optional_fields_may_be_absent_or_null() {
    let spec = support::spec();
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    let mut removed_total = 0;
    let mut deepest = 0;
    for case in cases(spec) {
        let sites = Sites::of(spec, &case);
        tally(&mut counts, case.op, sites.optional.len());
        removed_total += sites.optional.len();
        // All at once: the walk is pre-order, so removing in reverse takes
        // children out before their parents.
        let mut minimal = case.body.clone();
        for prop in sites.optional.iter().rev() {
            remove(&mut minimal, prop);
        }
        if let Err(e) = case.expect_ok("every optional field removed", &minimal, &minimal) {
            failures.push(e);
        }
        for prop in &sites.optional {
            let loc = prop.loc();
            deepest = deepest.max(loc.depth);
            let mut without = case.body.clone();
            remove(&mut without, prop);
            let what = format!("{} removed", loc.shown());
            if let Err(e) = case.expect_ok(&what, &without, &without) {
                failures.push(e);
            }
            let mut null = case.body.clone();
            *at(&mut null, &loc) = Value::Null;
            let what = format!("{} = null", loc.shown());
            if let Err(e) = case.expect_ok(&what, &null, &without) {
                failures.push(e);
            }
        }
    }
    for (id, count) in &counts {
        eprintln!("optional fields: {id}: {count} removed");
    }
    eprintln!("optional fields: {removed_total} removed in all, the deepest at depth {deepest}");
    assert!(
        removed_total >= 20,
        "only {removed_total} optional fields found"
    );
    report("optional fields", &failures);
}

/// The decoder is lenient only on purpose: a missing required property is
/// corrected and reported at its path (client error correction, issue 18),
/// while a scalar of the wrong type fails, and the error names where.
#[test]
fn missing_required_fields_are_corrected_and_wrong_types_are_rejected() {
    let spec = support::spec();
    let mut failures = Vec::new();
    let (mut required, mut scalars) = (0, 0);
    for case in cases(spec) {
        let sites = Sites::of(spec, &case);
        for prop in &sites.required {
            required += 1;
            let mut body = case.body.clone();
            remove(&mut body, prop);
            let what = format!("required {} removed", prop.loc().shown());
            let path = if prop.parent.path.is_empty() {
                prop.key.clone()
            } else {
                format!("{}.{}", prop.parent.path, prop.key)
            };
            let bytes = serde_json::to_vec(&body).unwrap();
            match spapi_shipping::decode::decode_corrected(case.op.name, case.status, &bytes) {
                Some(Ok((_, found))) if found.iter().any(|c| c.path == path) => {}
                other => failures.push(format!("{} [{what}]: {other:?}", case.name())),
            }
        }
        for loc in &sites.scalars {
            // Values of a type no reading of the field accepts. (Numbers
            // written as numeric strings and ids written as numbers decode
            // on purpose: `crate::lenient`.)
            let wrong = match case.body.pointer(&loc.pointer) {
                Some(Value::String(_)) => [json!(true), json!({"zz": 1})],
                Some(Value::Number(_)) => [json!("seven"), json!(true)],
                Some(Value::Bool(_)) => [json!("true"), json!(1)],
                other => unreachable!("not a scalar: {other:?}"),
            };
            for wrong in wrong {
                scalars += 1;
                let mut body = case.body.clone();
                let what = format!("{} = {wrong}", loc.shown());
                *at(&mut body, loc) = wrong;
                match case.expect_err(&what, &body) {
                    Ok(e) if e.path == loc.path => {}
                    Ok(e) => failures.push(format!(
                        "{} [{what}]: error at {:?}, expected at {:?}: {}",
                        case.name(),
                        e.path,
                        loc.path,
                        e.message
                    )),
                    Err(e) => failures.push(e),
                }
            }
        }
    }
    eprintln!("checks: {required} required fields removed (corrected), {scalars} scalars retyped");
    report("negative checks", &failures);

    // Two named instances, so the expectations are visible here.
    let fixture = support::read_json("tests/fixtures/responses/getRates.json");
    let ok = &fixture["examples"]["200"];
    let decode_rates = |body: &Value| {
        decode("get_rates", 200, &serde_json::to_vec(body).unwrap())
            .expect("getRates 200 has a decoder")
    };
    let mut body = ok.clone();
    body["payload"]
        .as_object_mut()
        .unwrap()
        .remove("requestToken");
    let decoded = decode_rates(&body).unwrap();
    assert_eq!(decoded["payload"].get("requestToken"), None);
    let mut body = ok.clone();
    body["payload"]["rates"][0]["totalCharge"]["value"] = json!("seven");
    let e = decode_rates(&body).unwrap_err();
    assert_eq!(e.path, "payload.rates[0].totalCharge.value");
    assert!(e.message.contains("seven"), "{e}");
}
