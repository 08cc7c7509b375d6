//! Unit tests of the build script's syntax-tree passes (`build/*.rs`), which
//! cargo cannot test in place (a build script has no test target): each pass
//! fails the build when it does not change exactly what the spec counts.

#![allow(dead_code)]

#[path = "../../build/decode_once.rs"]
mod decode_once;
#[path = "../../build/expected.rs"]
mod expected;
#[path = "../../build/lenient.rs"]
mod lenient;
#[path = "../../build/open_enums.rs"]
mod open_enums;
#[path = "../../build/param_checks.rs"]
mod param_checks;
#[path = "../../build/paths.rs"]
mod paths;
#[path = "../../build/raw_body.rs"]
mod raw_body;
#[path = "../../build/request_build.rs"]
mod request_build;
#[path = "../../build/send.rs"]
mod send;
#[path = "../../build/walk.rs"]
mod walk;

use serde_json::json;
use syn::parse_quote;

/// One generated `send` as progenitor writes it: a JSON success, a documented
/// error status and the catch-all.
fn generated_send() -> syn::File {
    parse_quote! {
        pub mod builder {
            impl<'a> GetRates<'a> {
                pub async fn send(self) -> Result<ResponseValue<types::GetRatesResponse>, Error<types::ErrorList>> {
                    let info = OperationInfo { operation_id: "get_rates" };
                    match response.status().as_u16() {
                        200u16 => ResponseValue::from_response(response).await,
                        400u16 => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)),
                        _ => Err(Error::UnexpectedResponse(response)),
                    }
                }
            }
        }
    }
}

#[test]
fn decode_once_rewrites_what_the_spec_documents() {
    let mut file = generated_send();
    decode_once::apply(
        &mut file,
        decode_once::Expected {
            operations: 1,
            json_successes: 1,
            error_statuses: 1,
        },
    );
    let code = quote::quote!(#file).to_string();
    assert!(code.contains("crate :: decode :: response_value"), "{code}");
    assert_eq!(code.matches("crate :: decode :: error_response").count(), 2);
}

#[test]
#[should_panic(expected = "build/decode_once.rs rewrote")]
fn decode_once_fails_when_a_documented_error_status_is_not_rewritten() {
    decode_once::apply(
        &mut generated_send(),
        decode_once::Expected {
            operations: 1,
            json_successes: 1,
            error_statuses: 2,
        },
    );
}

fn types_with_enum() -> syn::File {
    parse_quote! {
        pub mod types {
            #[derive(Clone, Copy, Debug, Deserialize, Serialize)]
            pub enum EventCode { Delivered, InTransit }
            #[derive(Clone, Copy, Debug, Deserialize, Serialize)]
            pub enum GetAccessPointsAccessPointTypesItem { Helix }
        }
    }
}

#[test]
fn open_enums_opens_all_but_the_closed_ones() {
    let mut file = types_with_enum();
    open_enums::apply(&mut file, &["GetAccessPoints".into()], 1);
    let code = quote::quote!(#file).to_string();
    assert_eq!(
        code.matches("Unknown (:: std :: string :: String)").count(),
        1,
        "{code}"
    );
}

#[test]
fn compact_serde_replaces_the_derives_of_open_enums_only() {
    let mut file: syn::File = parse_quote! {
        pub mod types {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub enum Status {
                #[serde(rename = "IN_TRANSIT")]
                InTransit,
                Delivered,
            }
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub enum ShippingBusinessId { AmazonShippingUk }
        }
    };
    open_enums::apply(&mut file, &["ShippingBusinessId".into()], 1);
    let items = open_enums::types_module(&mut file).unwrap();
    let syn::Item::Enum(status) = &mut items[0] else {
        panic!()
    };
    status.variants[1]
        .attrs
        .push(parse_quote!(#[serde(alias = "DELIVERED")]));
    assert_eq!(open_enums::compact_serde(items), 1);
    let code = quote::quote!(#file).to_string();
    // The open enum loses its serde derive and attributes and gets two impls;
    // the closed one keeps its derive.
    assert_eq!(code.matches("# [serde").count(), 0, "{code}");
    assert_eq!(
        code.matches(":: serde :: Deserialize ,").count(),
        1,
        "{code}"
    );
    assert!(
        code.contains("impl :: serde :: Serialize for Status"),
        "{code}"
    );
    assert!(
        code.contains("Self :: InTransit => \"IN_TRANSIT\""),
        "{code}"
    );
    assert!(code.contains("Self :: Unknown (value) => value"), "{code}");
    assert!(
        code.contains("\"Delivered\" | \"DELIVERED\" => Some (Self :: Delivered)"),
        "{code}"
    );
    assert!(code.contains("Self :: Unknown ,"), "{code}");
}

#[test]
#[should_panic(expected = "has a container #[serde(...)]")]
fn compact_serde_fails_on_an_enum_attribute_it_would_drop() {
    let mut file: syn::File = parse_quote! {
        pub mod types {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            #[serde(deny_unknown_fields)]
            pub enum Status { Delivered }
        }
    };
    open_enums::apply(&mut file, &[], 1);
    open_enums::compact_serde(open_enums::types_module(&mut file).unwrap());
}

#[test]
#[should_panic(expected = "build/open_enums.rs opened 2 enums")]
fn open_enums_fails_when_the_count_differs_from_the_spec() {
    open_enums::apply(&mut types_with_enum(), &[], 1);
}

#[test]
#[should_panic(expected = "build/lenient.rs made")]
fn lenient_fails_when_a_number_is_not_recognised() {
    // typify wrote `f32`: not a shape the pass knows, so one number is missed.
    let mut items: Vec<syn::Item> = vec![parse_quote! {
        #[derive(Deserialize, Serialize)]
        pub struct Weight { pub value: f32 }
    }];
    let expected = lenient::Changed {
        numbers: 1,
        ..Default::default()
    };
    lenient::apply(&mut items, expected);
}

#[test]
fn the_expected_counts_come_from_the_spec() {
    let spec = json!({
        "paths": {"/x": {"get": {"operationId": "getX", "responses": {
            "200": {"content": {"application/json": {}}},
            "400": {"content": {"application/json": {}}},
            "500": {}
        }}}},
        "components": {"schemas": {
            "Weight": {"type": "object", "required": ["value"], "properties": {
                "value": {"type": "number"},
                "unit": {"type": "string", "enum": ["KG", "G"]},
                "tags": {"type": "array", "items": {"type": "string"}}
            }},
            "TrackingId": {"type": "string"},
            "Notes": {"type": "string", "maxLength": 5},
            "ShippingBusinessId": {"type": "string", "enum": ["A"]}
        }}
    });
    assert_eq!(
        expected::open_enums(&spec, &["ShippingBusinessId".into()]),
        1
    );
    assert_eq!(
        expected::lenient(&spec),
        lenient::Changed {
            numbers: 1,
            lists: 1,
            strings: 1
        }
    );
    assert_eq!(
        expected::decode_once(&spec),
        decode_once::Expected {
            operations: 1,
            json_successes: 1,
            error_statuses: 2
        }
    );
    assert_eq!(
        expected::paths(&spec),
        paths::Changed {
            setters: 3,
            required: 1,
            builders: 1,
            lists: 0,
            lengths: 1
        }
    );
}

fn spec_operation(id: &str, method: &str, path: &str) -> send::SpecOperation {
    send::SpecOperation {
        id: id.into(),
        method: method.into(),
        path: path.into(),
    }
}

#[test]
fn operations_are_keyed_by_progenitors_id_matched_by_method_and_path() {
    let generated = [send::Generated {
        operation_id: "cancel_shipment".into(),
        method: "PUT".into(),
        path: "/shipping/v2/shipments/{}/cancel".into(),
    }];
    let spec = [spec_operation(
        "cancelShipment",
        "PUT",
        "/shipping/v2/shipments/{shipmentId}/cancel",
    )];
    let names = send::progenitor_ids(&spec, &generated);
    assert_eq!(names["cancelShipment"], "cancel_shipment");
}

#[test]
#[should_panic(
    expected = "the spec's cancelShipment (PUT /shipping/v2/shipments/{shipmentId}/cancel) matches 0 generated operations"
)]
fn an_operation_without_its_generated_send_fails_the_build() {
    let generated = [send::Generated {
        operation_id: "cancel_shipment".into(),
        method: "POST".into(),
        path: "/shipping/v2/shipments/{}/cancel".into(),
    }];
    let spec = [spec_operation(
        "cancelShipment",
        "PUT",
        "/shipping/v2/shipments/{shipmentId}/cancel",
    )];
    send::progenitor_ids(&spec, &generated);
}

#[test]
fn only_parameters_the_types_cannot_guarantee_are_checked_at_run_time() {
    let spec = json!({
        "components": { "schemas": {
            "Closed": { "type": "string", "enum": ["A"] },
            "Open": { "type": "string", "enum": ["B"] }
        } },
        "paths": { "/p": {
            "parameters": [ { "name": "shared", "in": "query", "schema": { "type": "string" } } ],
            "get": {
                "operationId": "getP",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "plain", "in": "query", "required": true, "schema": { "type": "string" } },
                    { "name": "closed", "in": "header", "schema": { "$ref": "#/components/schemas/Closed" } },
                    { "name": "open", "in": "header", "schema": { "$ref": "#/components/schemas/Open" } },
                    { "name": "short", "in": "query", "schema": { "type": "string", "maxLength": 3 } },
                    { "name": "n", "in": "query", "schema": { "type": "number" } },
                    { "name": "pct", "in": "query", "schema": { "type": "integer", "maximum": 100 } },
                    { "name": "kinds", "in": "query", "required": true, "explode": false,
                      "schema": { "type": "array", "items": { "type": "string", "enum": ["X"] } } },
                    { "name": "tags", "in": "query",
                      "schema": { "type": "array", "items": { "type": "string" } } }
                ]
            }
        } }
    });
    let item = &spec["paths"]["/p"];
    let checks = param_checks::classify(&spec, item, &item["get"], &["Closed".to_owned()]);
    assert_eq!(checks.presence, ["kinds"]);
    assert_eq!(checks.spec, ["open", "short", "pct"]);
    // plain, closed, n, tags and the path-level shared.
    assert_eq!(checks.guaranteed, 5);
    assert_eq!(expected::parameters(&spec), 9);
    assert_eq!(expected::request_build(&spec).query_parameters, 7);
}

/// A spec with one operation taking a JSON body with `scalars` scalar
/// top-level fields (`rateId`, `maxResults`, ...) and an object one.
fn body_spec(operations: usize) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for n in 0..operations {
        paths.insert(
            format!("/p{n}"),
            json!({ "post": {
                "operationId": format!("postP{n}"),
                "requestBody": { "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/PostRequest" } } } },
                "responses": {}
            }}),
        );
    }
    json!({
        "paths": paths,
        "components": { "schemas": {
            "RateId": { "type": "string" },
            "PostRequest": { "type": "object", "properties": {
                "rateId": { "$ref": "#/components/schemas/RateId" },
                "maxResults": { "type": "integer" },
                "size": { "type": "object" }
            } }
        } }
    })
}

/// One operation builder with a body, as progenitor writes it (after
/// build/send.rs named its `send` `send_raw`).
fn builder_with_body() -> syn::File {
    parse_quote! {
        pub mod builder {
            pub struct PostP<'a> {
                client: &'a super::Client,
                body: Result<types::builder::PostRequest, String>,
            }
            impl<'a> PostP<'a> {
                pub fn new(client: &'a super::Client) -> Self {
                    Self { client: client, body: Ok(::std::default::Default::default()) }
                }
                pub fn body<V>(mut self, value: V) -> Self {
                    self.body = value.try_into().map(From::from).map_err(|s| s.to_string());
                    self
                }
                pub fn body_map<F>(mut self, f: F) -> Self {
                    self.body = self.body.map(f);
                    self
                }
                pub async fn send_raw(self) -> Result<ResponseValue<()>, Error<types::ErrorList>> {
                    let Self { client, body } = self;
                    let body = body
                        .and_then(|v| types::PostRequest::try_from(v).map_err(|e| e.to_string()))
                        .map_err(Error::InvalidRequest)?;
                    let mut request = client.client.post(url).json(&body).build()?;
                    todo!()
                }
            }
        }
    }
}

#[test]
fn raw_body_gives_each_builder_with_a_body_a_json_body_sent_through_send_raw() {
    let mut file = builder_with_body();
    raw_body::apply(&mut file, &body_spec(1));
    let code = quote::quote!(#file).to_string();
    assert!(
        code.contains("body_json : :: std :: option :: Option < :: serde_json :: Value >"),
        "{code}"
    );
    assert!(
        code.contains("pub fn body_json (mut self , value : :: serde_json :: Value) -> Self"),
        "{code}"
    );
    assert!(
        code.contains("let Self { client , body , body_json } = self"),
        "{code}"
    );
    assert!(
        code.contains("crate :: runtime :: raw_body :: RequestBody :: Json (value)"),
        "{code}"
    );
    // `new` starts without one; `body` and `body_map` drop it.
    assert_eq!(
        code.matches("body_json : :: std :: option :: Option :: None")
            .count(),
        1,
        "{code}"
    );
    assert_eq!(
        code.matches("self . body_json = :: std :: option :: Option :: None ;")
            .count(),
        2,
        "{code}"
    );
}

#[test]
#[should_panic(expected = "where the spec has 2 operations with a JSON body")]
fn raw_body_fails_the_build_when_a_body_operation_has_no_builder() {
    raw_body::apply(&mut builder_with_body(), &body_spec(2));
}

/// A generated CLI executor for [`builder_with_body`] with `flags` of the
/// body's scalar fields as flags.
fn executor(flags: &[(&str, &str)]) -> syn::File {
    let flags = flags.iter().map(|(flag, setter)| {
        let setter = quote::format_ident!("{setter}");
        quote::quote! {
            if let Some(value) = matches.get_one::<String>(#flag) {
                request = request.body_map(|body| { body.#setter(value.clone()) });
            }
        }
    });
    parse_quote! {
        impl<T: CliConfig> Cli<T> {
            pub async fn execute_post_p(&self, matches: &::clap::ArgMatches) -> anyhow::Result<()> {
                let mut request = self.client.post_p();
                if let Some(value) = matches.get_one::<std::path::PathBuf>("json-body") {
                    let body_txt = std::fs::read_to_string(value)?;
                    let body_value = serde_json::from_str::<types::PostRequest>(&body_txt)?;
                    request = request.body(body_value);
                }
                #(#flags)*
                self.config.execute_post_p(matches, &mut request)?;
                todo!()
            }
        }
    }
}

#[test]
fn raw_body_makes_the_cli_send_the_json_body_as_written_unless_validation_is_enforced() {
    let mut file = executor(&[("rate-id", "rate_id"), ("max-results", "max_results")]);
    raw_body::cli(&mut file, &body_spec(1));
    let code = quote::quote!(#file).to_string();
    assert!(
        code.contains("if crate :: cli :: raw :: sends_raw (& self . client)"),
        "{code}"
    );
    assert!(
        code.contains("crate :: cli :: raw :: set_field (raw , \"rateId\" , value)"),
        "{code}"
    );
    assert!(
        code.contains("crate :: cli :: raw :: set_field (raw , \"maxResults\" , value)"),
        "{code}"
    );
    let json = code
        .find("request = request . body_json (raw)")
        .expect(&code);
    let hook = code.find("self . config . execute_post_p").expect(&code);
    assert!(
        json < hook,
        "the raw body is set before the config hook: {code}"
    );
}

#[test]
#[should_panic(expected = "sets 1 body fields from flags; PostRequest has 2 scalar fields")]
fn raw_body_fails_the_build_when_a_body_field_flag_is_not_rewritten() {
    raw_body::cli(&mut executor(&[("rate-id", "rate_id")]), &body_spec(1));
}

/// typify's output for `Address { addressLine1 (maxLength 60), city? }`,
/// `Request { shipTo?: Address, packages: PackageList }` and
/// `PackageList: [Address]`, builders included.
fn types_with_builders() -> syn::File {
    parse_quote! {
        pub mod types {
            pub struct Address {
                #[serde(rename = "addressLine1")]
                pub address_line1: AddressAddressLine1,
                #[serde(default, skip_serializing_if = "::std::option::Option::is_none")]
                pub city: ::std::option::Option<::std::string::String>,
            }
            pub struct AddressAddressLine1(::std::string::String);
            impl ::std::str::FromStr for AddressAddressLine1 {
                type Err = self::error::ConversionError;
                fn from_str(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                    if value.chars().count() > 60usize {
                        return Err("longer than 60 characters".into());
                    }
                    Ok(Self(value.to_string()))
                }
            }
            pub struct PackageList(pub ::std::vec::Vec<Address>);
            pub struct Request {
                #[serde(rename = "shipTo", skip_serializing_if = "::std::option::Option::is_none")]
                pub ship_to: ::std::option::Option<Address>,
                pub packages: PackageList,
            }
            pub mod builder {
                pub struct Address {
                    address_line1: ::std::result::Result<super::AddressAddressLine1, ::std::string::String>,
                    city: ::std::result::Result<::std::option::Option<::std::string::String>, ::std::string::String>,
                }
                impl ::std::default::Default for Address {
                    fn default() -> Self {
                        Self {
                            address_line1: Err("no value supplied for address_line1".to_string()),
                            city: Ok(Default::default()),
                        }
                    }
                }
                impl Address {
                    pub fn address_line1<T>(mut self, value: T) -> Self
                    where
                        T: ::std::convert::TryInto<super::AddressAddressLine1>,
                        T::Error: ::std::fmt::Display,
                    {
                        self.address_line1 = value.try_into().map_err(|e| {
                            format!("error converting supplied value for address_line1: {e}")
                        });
                        self
                    }
                    pub fn city<T>(mut self, value: T) -> Self
                    where
                        T: ::std::convert::TryInto<::std::option::Option<::std::string::String>>,
                        T::Error: ::std::fmt::Display,
                    {
                        self.city = value.try_into().map_err(|e| {
                            format!("error converting supplied value for city: {e}")
                        });
                        self
                    }
                }
                pub struct Request {
                    packages: ::std::result::Result<super::PackageList, ::std::string::String>,
                    ship_to: ::std::result::Result<::std::option::Option<super::Address>, ::std::string::String>,
                }
                impl ::std::default::Default for Request {
                    fn default() -> Self {
                        Self {
                            packages: Err("no value supplied for packages".to_string()),
                            ship_to: Ok(Default::default()),
                        }
                    }
                }
                impl Request {
                    pub fn packages<T>(mut self, value: T) -> Self
                    where
                        T: ::std::convert::TryInto<super::PackageList>,
                        T::Error: ::std::fmt::Display,
                    {
                        self.packages = value.try_into().map_err(|e| {
                            format!("error converting supplied value for packages: {e}")
                        });
                        self
                    }
                    pub fn ship_to<T>(mut self, value: T) -> Self
                    where
                        T: ::std::convert::TryInto<::std::option::Option<super::Address>>,
                        T::Error: ::std::fmt::Display,
                    {
                        self.ship_to = value.try_into().map_err(|e| {
                            format!("error converting supplied value for ship_to: {e}")
                        });
                        self
                    }
                }
            }
        }
    }
}

fn paths_expected() -> paths::Changed {
    paths::Changed {
        setters: 4,
        required: 2,
        builders: 2,
        lists: 1,
        lengths: 1,
    }
}

#[test]
fn paths_puts_the_wire_path_in_every_builder_error() {
    let mut file = types_with_builders();
    let types = open_enums::types_module(&mut file).unwrap();
    paths::apply(types, paths_expected());
    let code = quote::quote!(#file).to_string();
    for expected in [
        // A constrained value: `field: message`.
        r#"format ! ("addressLine1: {e}")"#,
        r#"format ! ("city: {e}")"#,
        // A nested builder (an optional one too): its path joined with a dot.
        r#"format ! ("shipTo.{e}")"#,
        // A list newtype of builders: its index.
        r#"format ! ("packages{e}")"#,
        r#"format ! ("[{i}].{e}")"#,
        r#"Err ("addressLine1: required field missing" . to_string ())"#,
        r#"Err ("packages: required field missing" . to_string ())"#,
        r#"format ! ("longer than 60 characters ({})" , value . chars () . count ()) . into ()"#,
        "impl :: std :: convert :: TryFrom < Address > for :: std :: option :: Option < super :: Address >",
        "impl :: std :: convert :: TryFrom < :: std :: vec :: Vec < Address > > for super :: PackageList",
    ] {
        assert!(code.contains(expected), "{expected} in {code}");
    }
    assert!(!code.contains("error converting supplied value"), "{code}");
    assert!(!code.contains("no value supplied"), "{code}");
}

#[test]
#[should_panic(expected = "build/paths.rs rewrote")]
fn paths_fails_the_build_when_a_builder_error_is_not_rewritten() {
    let mut file = types_with_builders();
    let types = open_enums::types_module(&mut file).unwrap();
    paths::apply(
        types,
        paths::Changed {
            setters: 5,
            ..paths_expected()
        },
    );
}
