//! Purchases Amazon won't refuse: a `purchaseShipment` request planned from
//! a rate of `getRates` and the caller's wishes, and a check of a hand-built
//! one against its rate.
//!
//! Amazon answers a purchase that does not fit its rate with a bare 400,
//! "An invalid documentation specification was provided" or "The requested
//! value added services are invalid", without saying what is wrong
//! (amzn/selling-partner-api-models #4903, #4759). The rules, as mapped
//! against production by an integrator:
//!
//! - `requestedDocumentSpecification` matches one of the rate's
//!   `supportedDocumentSpecifications`: the same `format` and `size`, and,
//!   within one of its `printOptions`, a `dpi` from `supportedDPIs` (given,
//!   when that list is not empty: Amazon refuses a missing dpi,
//!   abuzuhri/Amazon-SP-API-CSharp #388), a `pageLayout` from
//!   `supportedPageLayouts` (when given), a `needFileJoining` from
//!   `supportedFileJoiningOptions` (often `[true]` only);
//! - `requestedDocumentTypes` contains every `supportedDocumentDetails` entry
//!   with `isMandatory: true` (a PDF 4x6 label can need `PACKSLIP` as well as
//!   `LABEL`) and only types listed there (an inference: Amazon cannot
//!   produce a document it does not list);
//! - every `availableValueAddedServiceGroups` group with `isRequired: true`
//!   is answered with one of its `valueAddedServices`, and every requested
//!   value-added service is one the rate offers;
//! - the `requestToken` lives [`QUOTE_LIFETIME`] (10 minutes); a quote counts
//!   as expired [`QUOTE_SAFETY_MARGIN`] earlier (a minute, for rate-limit
//!   waits and retries), and one received in the future as clock skew.
//!
//! [`Quote::plan`] and [`Quote::cheapest`] build a request that keeps them,
//! [`Quote::check`] checks one built by hand; both fail with a [`PlanError`]
//! naming each broken rule and what the rate offers instead. An expired
//! quote is an error ([`PlanError::QuoteExpired`], with its age), not a
//! warning: Amazon would refuse the purchase anyway. Plan right before
//! sending.
//!
//! Money rules (issue 19): rates are compared only within one currency
//! ([`Wishes::currency`]; several are refused, never converted);
//! [`Quote::cheapest`] chooses a rate that requires `additionalInputs` (or
//! does not say) only with [`Wishes::additional_inputs`], and one that
//! excludes `CLAIMS_PROTECTED` only with [`Wishes::allow_unprotected`]; a
//! value-added service priced in another currency than its rate is refused.
//!
//! ```
//! use spapi_shipping::purchase::{Quote, Wishes};
//! use spapi_shipping::types::{DocumentFormat, GetRatesResult};
//!
//! # fn demo(rates: GetRatesResult) -> Result<(), spapi_shipping::purchase::PlanError> {
//! let quote = Quote::new(rates); // received now
//! let wishes = Wishes::new().format(DocumentFormat::Pdf).size_inches(4.0, 6.0);
//! let planned = quote.cheapest(&wishes)?;
//! println!("buying {} for {:.2}", planned.rate.service_name.as_str(), planned.cost);
//! // client.purchase_shipment().body(planned.request).send().await?
//! # Ok(())
//! # }
//! ```
//!
//! Defaults, when the wishes leave a choice open (deterministic, in this
//! order of preference):
//!
//! - format: PDF, then PNG, then ZPL, then any other the rate offers (PDF
//!   prints on any printer);
//! - size: 4x6 INCH when offered, else the first size offered in the format;
//! - dpi: none when the print option lists none; else the highest for PDF
//!   and PNG (sharper when scaled), the lowest for ZPL (203 dpi is the common
//!   thermal printer, and a ZPL label prints at its own resolution);
//! - page layout: the first the print option lists (none if it lists none);
//! - file joining: `false` (one file per document, what
//!   [`documents::decode_all`](crate::documents::decode_all) saves) when
//!   allowed, else the first option (`true`);
//! - document types: the mandatory ones, plus those wished ([`DocumentType::Label`]
//!   alone if the rate marks none mandatory);
//! - a required value-added service group the wishes do not answer: its
//!   cheapest service (first on a tie), unless
//!   [`RequiredGroups::Refuse`] is set.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::types::{
    DocumentFormat, DocumentSize, DocumentSizeUnit, DocumentType, GetRatesResult, PrintOption,
    PurchaseShipmentRequest, Rate, RequestToken, RequestedDocumentSpecification,
    RequestedValueAddedService, RequestedValueAddedServiceList, SupportedDocumentSpecification,
};

/// How long a `requestToken` of `getRates` can be purchased: 10 minutes.
pub const QUOTE_LIFETIME: Duration = Duration::from_secs(600);

/// How long before [`QUOTE_LIFETIME`] a quote counts as expired: a purchase
/// planned in the last minute may wait for a rate-limit slot and be retried,
/// and would then reach Amazon after the token died (issue 19).
pub const QUOTE_SAFETY_MARGIN: Duration = Duration::from_secs(60);

/// How far in the future a quote's `received_at` may lie before it is taken
/// as clock skew rather than as a fresh quote.
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(5);

/// A `getRates` answer and when it was received: what a purchase needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Quote {
    /// The `requestToken` every purchase of these rates sends; `None` when
    /// Amazon's answer left it out (nothing can be bought from the quote).
    pub request_token: Option<RequestToken>,
    /// When `getRates` answered; the token expires [`QUOTE_LIFETIME`] later.
    pub received_at: DateTime<Utc>,
    /// The rates offered.
    pub rates: Vec<Rate>,
}

/// A planned purchase: the rate chosen and the request that buys it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Planned<'a> {
    /// The rate the request buys.
    pub rate: &'a Rate,
    /// The `purchaseShipment` body.
    pub request: PurchaseShipmentRequest,
    /// `totalCharge` plus the cost of the value-added services requested,
    /// in the rate's currency.
    pub cost: f64,
}

/// What the caller wants of a purchase; anything left open gets the
/// defaults in the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wishes {
    format: Option<DocumentFormat>,
    size: Option<DocumentSize>,
    dpi: Option<i64>,
    page_layout: Option<String>,
    file_joining: Option<bool>,
    document_types: Vec<DocumentType>,
    value_added_services: Vec<(String, String)>,
    required_groups: RequiredGroups,
    currency: Option<String>,
    additional_inputs: Option<serde_json::Map<String, serde_json::Value>>,
    allow_unprotected: bool,
}

/// What to do with a required value-added service group the wishes do not
/// answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequiredGroups {
    /// Answer it with its cheapest service (the first on a tie).
    #[default]
    AnswerCheapest,
    /// Fail with [`Problem::RequiredGroupUnanswered`].
    Refuse,
}

impl Wishes {
    /// No wishes: every choice is a default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document format.
    pub fn format(mut self, format: DocumentFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The document size, matched exactly (unit included).
    pub fn size(mut self, size: DocumentSize) -> Self {
        self.size = Some(size);
        self
    }

    /// The document size in inches, e.g. `size_inches(4.0, 6.0)`.
    pub fn size_inches(self, width: f64, length: f64) -> Self {
        self.size(DocumentSize {
            width,
            length,
            unit: DocumentSizeUnit::Inch,
        })
    }

    /// The resolution.
    pub fn dpi(mut self, dpi: i64) -> Self {
        self.dpi = Some(dpi);
        self
    }

    /// The page layout (`LEFT`, `RIGHT`, ... as the rate lists them).
    pub fn page_layout(mut self, layout: impl Into<String>) -> Self {
        self.page_layout = Some(layout.into());
        self
    }

    /// Whether the documents come joined in one file.
    pub fn file_joining(mut self, join: bool) -> Self {
        self.file_joining = Some(join);
        self
    }

    /// A document wanted besides the mandatory ones (e.g. a receipt).
    pub fn document_type(mut self, document_type: DocumentType) -> Self {
        if !self.document_types.contains(&document_type) {
            self.document_types.push(document_type);
        }
        self
    }

    /// The answer to a value-added service group: service `service_id` of
    /// group `group_id`. A later answer for the same group replaces it.
    pub fn value_added_service(
        mut self,
        group_id: impl Into<String>,
        service_id: impl Into<String>,
    ) -> Self {
        let group_id = group_id.into();
        self.value_added_services.retain(|(g, _)| *g != group_id);
        self.value_added_services
            .push((group_id, service_id.into()));
        self
    }

    /// What to do with required groups left unanswered (default: their
    /// cheapest service).
    pub fn required_groups(mut self, policy: RequiredGroups) -> Self {
        self.required_groups = policy;
        self
    }

    /// Only rates charged in this currency (ISO 4217, e.g. `GBP`). Rates are
    /// never compared across currencies: without this, a quote whose
    /// plannable rates come in several currencies is refused by
    /// [`Quote::cheapest`] ([`PlanError::MixedCurrencies`]).
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// The currency set with [`currency`](Self::currency), if any.
    pub fn wished_currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The `additionalInputs` to send (as `getAdditionalInputs` describes
    /// them). [`Quote::cheapest`] chooses a rate with
    /// `requiresAdditionalInputs` (or not saying) only when they are given.
    pub fn additional_inputs(mut self, inputs: serde_json::Map<String, serde_json::Value>) -> Self {
        self.additional_inputs = Some(inputs);
        self
    }

    /// Let [`Quote::cheapest`] choose rates whose `benefits.excludedBenefits`
    /// lists `CLAIMS_PROTECTED` (by default it skips them: a lost parcel on
    /// such a rate is not covered by Amazon's claims protection). A rate
    /// named in [`Quote::plan`] is planned either way.
    pub fn allow_unprotected(mut self, allow: bool) -> Self {
        self.allow_unprotected = allow;
        self
    }
}

impl Quote {
    /// The quote of a `getRates` answer, received now.
    pub fn new(result: GetRatesResult) -> Self {
        Self::received_at(result, Utc::now())
    }

    /// The quote of a `getRates` answer received at `received_at` (e.g. one
    /// stored earlier).
    pub fn received_at(result: GetRatesResult, received_at: DateTime<Utc>) -> Self {
        Self {
            request_token: result.request_token,
            received_at,
            rates: result.rates.0,
        }
    }

    /// How old the quote is now.
    pub fn age(&self) -> Duration {
        (Utc::now() - self.received_at).to_std().unwrap_or_default()
    }

    /// Whether the request token has expired, or will before a purchase
    /// planned now is sure to reach Amazon (older than [`QUOTE_LIFETIME`]
    /// less [`QUOTE_SAFETY_MARGIN`]), or the quote's time cannot be trusted
    /// (received more than [`CLOCK_SKEW_TOLERANCE`] in the future).
    pub fn is_expired(&self) -> bool {
        self.fresh().is_err()
    }

    /// The rate with this id.
    pub fn rate(&self, rate_id: &str) -> Option<&Rate> {
        self.rates
            .iter()
            .find(|r| r.rate_id.as_ref().is_some_and(|id| id.as_str() == rate_id))
    }

    /// The request buying rate `rate_id` as wished, or every rule the wishes
    /// break.
    pub fn plan(
        &self,
        rate_id: &str,
        wishes: &Wishes,
    ) -> Result<PurchaseShipmentRequest, PlanError> {
        self.fresh()?;
        let token = self.token()?;
        let rate = self.find(rate_id)?;
        plan_rate(rate, token, wishes, Choice::Named)
            .map(|(request, _)| request)
            .map_err(|problems| PlanError::Rules(RateProblems::new(rate, problems)))
    }

    /// The cheapest rate that can be bought as wished, by `totalCharge` plus
    /// the value-added services the plan requests (the first on a tie), and
    /// its request; or, when none can, every rate's broken rules.
    pub fn cheapest(&self, wishes: &Wishes) -> Result<Planned<'_>, PlanError> {
        self.fresh()?;
        let token = self.token()?;
        let mut best: Option<Planned<'_>> = None;
        let mut refused = Vec::new();
        let mut currencies: Vec<String> = Vec::new();
        for rate in &self.rates {
            match plan_rate(rate, token, wishes, Choice::Cheapest) {
                Ok((request, cost)) => {
                    let currency = charge_currency(rate);
                    if !currencies.contains(&currency) {
                        currencies.push(currency);
                    }
                    if best.as_ref().is_none_or(|b| cost < b.cost) {
                        best = Some(Planned {
                            rate,
                            request,
                            cost,
                        });
                    }
                }
                Err(problems) => refused.push(RateProblems::new(rate, problems)),
            }
        }
        // Never compare amounts across currencies (10 GBP is not more than
        // 9 EUR): the caller names the currency.
        if currencies.len() > 1 {
            currencies.sort();
            return Err(PlanError::MixedCurrencies { currencies });
        }
        best.ok_or(PlanError::NoRate(refused))
    }

    /// Checks a hand-built request against its rate in this quote: the
    /// rules of the [module docs](self), with the same messages as
    /// [`plan`](Self::plan).
    pub fn check(&self, request: &PurchaseShipmentRequest) -> Result<(), PlanError> {
        self.fresh()?;
        let token = self.token()?;
        let rate = self.find(request.rate_id.as_str())?;
        let mut problems = Vec::new();
        if request.request_token != *token {
            problems.push(Problem::OtherRequestToken {
                request_token: request.request_token.to_string(),
                quote_token: token.to_string(),
            });
        }
        problems.extend(document_problems(
            rate,
            &request.requested_document_specification,
        ));
        let requested = request
            .requested_value_added_services
            .as_ref()
            .map(|list| list.0.as_slice())
            .unwrap_or_default();
        problems.extend(service_problems(rate, requested));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Rules(RateProblems::new(rate, problems)))
        }
    }

    fn fresh(&self) -> Result<(), PlanError> {
        if let Ok(ahead) = (self.received_at - Utc::now()).to_std()
            && ahead > CLOCK_SKEW_TOLERANCE
        {
            return Err(PlanError::ClockSkew { ahead });
        }
        let age = self.age();
        if age > QUOTE_LIFETIME.saturating_sub(QUOTE_SAFETY_MARGIN) {
            Err(PlanError::QuoteExpired { age })
        } else {
            Ok(())
        }
    }

    fn token(&self) -> Result<&RequestToken, PlanError> {
        self.request_token.as_ref().ok_or(PlanError::NoRequestToken)
    }

    fn find(&self, rate_id: &str) -> Result<&Rate, PlanError> {
        self.rate(rate_id).ok_or_else(|| PlanError::UnknownRate {
            rate_id: rate_id.to_owned(),
            offered: self.rates.iter().map(rate_id_text).collect(),
        })
    }
}

/// Parses a size as the CLI takes it: `4x6` (inches), `4x6in`, `10x15cm`.
pub fn parse_size(text: &str) -> Result<DocumentSize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (numbers, unit) = if let Some(n) = lower.strip_suffix("cm") {
        (n, DocumentSizeUnit::Centimeter)
    } else {
        (
            lower.strip_suffix("in").unwrap_or(&lower),
            DocumentSizeUnit::Inch,
        )
    };
    let parsed = numbers.split_once('x').and_then(|(w, l)| {
        let w: f64 = w.trim().parse().ok()?;
        let l: f64 = l.trim().parse().ok()?;
        (w > 0.0 && l > 0.0).then_some((w, l))
    });
    match parsed {
        Some((width, length)) => Ok(DocumentSize {
            width,
            length,
            unit,
        }),
        None => Err(format!(
            "{text:?} is not a size: write WIDTHxLENGTH in inches, e.g. 4x6, or with cm, e.g. 10x15cm"
        )),
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Why a purchase would be refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PlanError {
    /// The quote is older than [`QUOTE_LIFETIME`]: Amazon refuses its
    /// request token. Get rates again.
    QuoteExpired {
        /// How old the quote is.
        age: Duration,
    },
    /// The quote has no rate with this id.
    UnknownRate {
        /// The id asked for.
        rate_id: String,
        /// The ids the quote has.
        offered: Vec<String>,
    },
    /// The rate cannot be bought as wished, or the request breaks its rules.
    Rules(RateProblems),
    /// No rate of the quote can be bought as wished; each rate's problems.
    NoRate(Vec<RateProblems>),
    /// Amazon's getRates answer had no `requestToken`
    /// ([`crate::Response::corrections`] says so): no purchase can name
    /// the quote. Get rates again.
    NoRequestToken,
    /// The rates that could be bought come in several currencies, which are
    /// never compared: name one with [`Wishes::currency`].
    MixedCurrencies {
        /// The currencies, sorted.
        currencies: Vec<String>,
    },
    /// The quote's `received_at` lies this far in the future: the clocks
    /// disagree, so its age (and the token's life) is unknown. Get rates
    /// again.
    ClockSkew {
        /// How far ahead of now.
        ahead: Duration,
    },
}

/// A rate and the rules a purchase of it breaks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RateProblems {
    /// The rate's id.
    pub rate_id: String,
    /// Its carrier's name.
    pub carrier_name: String,
    /// Its service's name.
    pub service_name: String,
    /// Every rule broken, in the order of the [module docs](self).
    pub problems: Vec<Problem>,
}

impl RateProblems {
    fn new(rate: &Rate, problems: Vec<Problem>) -> Self {
        Self {
            rate_id: rate_id_text(rate),
            carrier_name: rate.carrier_name.to_string(),
            service_name: rate.service_name.to_string(),
            problems,
        }
    }
}

/// One broken rule, with what the rate offers instead.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// No supported document specification has this format and size
    /// (`None`: not asked for).
    FormatSizeNotOffered {
        /// The format asked for.
        format: Option<DocumentFormat>,
        /// The size asked for.
        size: Option<DocumentSize>,
        /// The format and size of each supported specification.
        offered: Vec<(DocumentFormat, DocumentSize)>,
    },
    /// No dpi was given, and the rate lists some for the specification.
    DpiMissing {
        /// The specification, e.g. `PDF 4x6 INCH`.
        specification: String,
        /// The dpis offered.
        offered: Vec<i64>,
    },
    /// The dpi is not among the specification's `supportedDPIs`.
    DpiNotOffered {
        /// The dpi asked for.
        dpi: i64,
        /// The specification.
        specification: String,
        /// The dpis offered.
        offered: Vec<i64>,
    },
    /// The page layout is not among `supportedPageLayouts`.
    PageLayoutNotOffered {
        /// The layout asked for.
        page_layout: String,
        /// The specification.
        specification: String,
        /// The layouts offered.
        offered: Vec<String>,
    },
    /// `needFileJoining` is not among `supportedFileJoiningOptions`.
    FileJoiningNotOffered {
        /// The value asked for.
        need_file_joining: bool,
        /// The specification.
        specification: String,
        /// The values offered.
        offered: Vec<bool>,
    },
    /// A document type the specification does not list.
    DocumentTypeNotOffered {
        /// The type asked for.
        document_type: DocumentType,
        /// The specification.
        specification: String,
        /// The types offered.
        offered: Vec<DocumentType>,
    },
    /// A mandatory document type is not requested.
    MandatoryDocumentMissing {
        /// The type missing.
        document_type: DocumentType,
        /// The specification.
        specification: String,
        /// Every mandatory type.
        mandatory: Vec<DocumentType>,
    },
    /// A required value-added service group has no answer.
    RequiredGroupUnanswered {
        /// The group's id.
        group_id: String,
        /// The ids of its services.
        offered: Vec<String>,
    },
    /// A value-added service group the rate does not offer.
    GroupNotOffered {
        /// The group asked for.
        group_id: String,
        /// The groups offered.
        offered: Vec<String>,
    },
    /// A value-added service the rate (or the group named) does not offer.
    ServiceNotOffered {
        /// The service asked for.
        service_id: String,
        /// The group it was asked in, if any.
        group_id: Option<String>,
        /// The services offered (in that group, or by the rate).
        offered: Vec<String>,
    },
    /// The request's token is not the quote's.
    OtherRequestToken {
        /// The request's token.
        request_token: String,
        /// The quote's token.
        quote_token: String,
    },
    /// The rate is charged in another currency than [`Wishes::currency`].
    OtherCurrency {
        /// The rate's currency.
        currency: String,
        /// The currency wished.
        wished: String,
    },
    /// A value-added service is priced in another currency than the rate:
    /// the total cannot be added up.
    ServiceCurrency {
        /// The service.
        service_id: String,
        /// Its currency.
        currency: String,
        /// The rate's currency.
        rate_currency: String,
    },
    /// The rate requires `additionalInputs` (or does not say whether it
    /// does) and the wishes supply none ([`Wishes::additional_inputs`]):
    /// Amazon would refuse the purchase.
    AdditionalInputsRequired,
    /// The rate excludes Amazon's claims protection (`CLAIMS_PROTECTED` in
    /// `benefits.excludedBenefits`) and the wishes do not allow that
    /// ([`Wishes::allow_unprotected`]).
    ClaimsProtectionExcluded,
    /// Amazon's answer left out (or sent `null` for) what a purchase of the
    /// rate needs, or stated its charge as no number: the rate is never
    /// bought or compared on a guess.
    Incomplete {
        /// The JSON names of what is missing (`rateId`, `totalCharge`, ...).
        missing: Vec<String>,
    },
}

impl Problem {
    /// The message, naming the rate.
    pub fn message(&self, rate_id: &str) -> String {
        self.render(&format!("rate {rate_id}"))
    }

    fn render(&self, rate: &str) -> String {
        match self {
            Problem::FormatSizeNotOffered {
                format,
                size,
                offered,
            } => {
                let mut asked = Vec::new();
                if let Some(format) = format {
                    asked.push(format!("format {format}"));
                }
                if let Some(size) = size {
                    asked.push(format!("size {}", size_text(size)));
                }
                let offered: Vec<String> = offered
                    .iter()
                    .map(|(f, s)| specification(f, Some(s)))
                    .collect();
                format!(
                    "{} is not offered by {rate}; offered: {}",
                    asked.join(" "),
                    list(&offered)
                )
            }
            Problem::DpiMissing {
                specification,
                offered,
            } => format!(
                "dpi is missing; {rate} requires one for {specification}; offered: {}",
                list(offered)
            ),
            Problem::DpiNotOffered {
                dpi,
                specification,
                offered,
            } => format!(
                "dpi {dpi} is not offered for {specification} by {rate}; offered: {}",
                list(offered)
            ),
            Problem::PageLayoutNotOffered {
                page_layout,
                specification,
                offered,
            } => format!(
                "pageLayout {page_layout} is not offered for {specification} by {rate}; offered: {}",
                list(offered)
            ),
            Problem::FileJoiningNotOffered {
                need_file_joining,
                specification,
                offered,
            } => format!(
                "needFileJoining {need_file_joining} is not offered for {specification} by {rate}; offered: {}",
                list(offered)
            ),
            Problem::DocumentTypeNotOffered {
                document_type,
                specification,
                offered,
            } => format!(
                "document type {document_type} is not offered for {specification} by {rate}; offered: {}",
                list(offered)
            ),
            Problem::MandatoryDocumentMissing {
                document_type,
                specification,
                mandatory,
            } => format!(
                "requestedDocumentTypes lacks {document_type}, mandatory for {specification} by {rate}; mandatory: {}",
                list(mandatory)
            ),
            Problem::RequiredGroupUnanswered { group_id, offered } => format!(
                "value-added service group {group_id} is required by {rate} and not answered; offered: {}",
                list(offered)
            ),
            Problem::GroupNotOffered { group_id, offered } => format!(
                "value-added service group {group_id} is not offered by {rate}; offered: {}",
                list(offered)
            ),
            Problem::ServiceNotOffered {
                service_id,
                group_id: Some(group_id),
                offered,
            } => format!(
                "value-added service {service_id} is not offered in group {group_id} by {rate}; offered: {}",
                list(offered)
            ),
            Problem::ServiceNotOffered {
                service_id,
                group_id: None,
                offered,
            } => format!(
                "value-added service {service_id} is not offered by {rate}; offered: {}",
                list(offered)
            ),
            Problem::OtherRequestToken {
                request_token,
                quote_token,
            } => format!(
                "requestToken {request_token} is not the token {quote_token} of the quote with {rate}"
            ),
            Problem::OtherCurrency { currency, wished } => {
                format!("{rate} is charged in {currency}, not the {wished} wished")
            }
            Problem::ServiceCurrency {
                service_id,
                currency,
                rate_currency,
            } => format!(
                "value-added service {service_id} of {rate} is priced in {currency}, the rate in {rate_currency}: the total cannot be added up"
            ),
            Problem::AdditionalInputsRequired => format!(
                "{rate} requires additionalInputs (see getAdditionalInputs); supply them with Wishes::additional_inputs"
            ),
            Problem::ClaimsProtectionExcluded => format!(
                "{rate} excludes Amazon's claims protection (CLAIMS_PROTECTED); allow it with Wishes::allow_unprotected"
            ),
            Problem::Incomplete { missing } => format!(
                "Amazon's answer left out {} of {rate}: it cannot be bought or compared",
                missing.join(", ")
            ),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("the rate"))
    }
}

impl fmt::Display for RateProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self
            .problems
            .iter()
            .map(|p| p.message(&self.rate_id))
            .collect();
        write!(
            f,
            "{} ({}): {}",
            self.service_name,
            self.carrier_name,
            messages.join("; ")
        )
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::QuoteExpired { age } => write!(
                f,
                "the quote is {} old and its requestToken lives 10 minutes, less a minute for rate-limit waits and retries: Amazon could refuse the purchase; get rates again",
                age_text(*age)
            ),
            PlanError::UnknownRate { rate_id, offered } => write!(
                f,
                "the quote has no rate {rate_id}; its rates: {}",
                list(offered)
            ),
            PlanError::Rules(rate) => write!(f, "Amazon would refuse this purchase: {rate}"),
            PlanError::MixedCurrencies { currencies } => write!(
                f,
                "the rates that could be bought come in {}: amounts in different currencies are \
                 never compared; name one (Wishes::currency, buy --currency)",
                currencies.join(" and ")
            ),
            PlanError::ClockSkew { ahead } => write!(
                f,
                "the quote was received {} in the future: this machine's clock disagrees with the \
                 one that stamped it, so the token's age is unknown; get rates again",
                age_text(*ahead)
            ),
            PlanError::NoRequestToken => f.write_str(
                "Amazon's getRates answer had no requestToken, so none of its rates can be \
                 bought; get rates again",
            ),
            PlanError::NoRate(rates) if rates.is_empty() => f.write_str("the quote has no rates"),
            PlanError::NoRate(rates) => {
                f.write_str("no rate can be bought as wished:")?;
                for rate in rates {
                    write!(f, "\n- {rate}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PlanError {}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn size_text(size: &DocumentSize) -> String {
    format!("{}x{} {}", size.width, size.length, size.unit)
}

fn specification(format: &DocumentFormat, size: Option<&DocumentSize>) -> String {
    match size {
        Some(size) => format!("{format} {}", size_text(size)),
        None => format!("{format} (size not stated)"),
    }
}

/// A rate's id, or `""` when Amazon's answer left it out.
fn rate_id_text(rate: &Rate) -> String {
    rate.rate_id.as_deref().cloned().unwrap_or_default()
}

/// Whether a specification Amazon stated has this size (an unstated one
/// matches none).
fn sized(spec: &SupportedDocumentSpecification, size: &DocumentSize) -> bool {
    spec.size.as_ref().is_some_and(|s| same_size(s, size))
}

/// A value-added service's cost; `NaN` when Amazon left it out, which
/// refuses the plan rather than counting it as free.
fn service_cost(service: &crate::types::ValueAddedService) -> f64 {
    service.cost.as_ref().map_or(f64::NAN, |c| c.value)
}

/// A service's id as the wishes name it (`""` when Amazon left it out,
/// which no wish names).
fn service_id(service: &crate::types::ValueAddedService) -> String {
    service.id.clone().unwrap_or_default()
}

fn age_text(age: Duration) -> String {
    let secs = age.as_secs();
    format!("{}m{:02}s", secs / 60, secs % 60)
}

// ---------------------------------------------------------------------------
// The rules

fn same_size(a: &DocumentSize, b: &DocumentSize) -> bool {
    a.unit == b.unit && (a.width - b.width).abs() < 1e-6 && (a.length - b.length).abs() < 1e-6
}

/// A print option with no constraints, for a specification that lists none.
fn unconstrained() -> PrintOption {
    PrintOption {
        supported_document_details: Vec::new(),
        supported_dp_is: Vec::new(),
        supported_file_joining_options: Vec::new(),
        supported_page_layouts: Vec::new(),
    }
}

fn print_options(spec: &SupportedDocumentSpecification) -> Vec<PrintOption> {
    if spec.print_options.0.is_empty() {
        vec![unconstrained()]
    } else {
        spec.print_options.0.clone()
    }
}

fn format_size_not_offered(
    rate: &Rate,
    format: Option<&DocumentFormat>,
    size: Option<&DocumentSize>,
) -> Problem {
    Problem::FormatSizeNotOffered {
        format: format.cloned(),
        size: size.cloned(),
        offered: rate
            .supported_document_specifications
            .0
            .iter()
            .filter_map(|s| Some((s.format.clone(), s.size.clone()?)))
            .collect(),
    }
}

/// The rules of one print option a requested specification breaks.
fn print_option_problems(
    spec: &SupportedDocumentSpecification,
    option: &PrintOption,
    requested: &RequestedDocumentSpecification,
) -> Vec<Problem> {
    let specification = specification(&spec.format, spec.size.as_ref());
    let mut problems = Vec::new();
    let dpis: Vec<i64> = option.supported_dp_is.iter().map(|d| d.0).collect();
    if !dpis.is_empty() {
        match requested.dpi.as_ref().map(|d| d.0) {
            None => problems.push(Problem::DpiMissing {
                specification: specification.clone(),
                offered: dpis,
            }),
            Some(dpi) if !dpis.contains(&dpi) => problems.push(Problem::DpiNotOffered {
                dpi,
                specification: specification.clone(),
                offered: dpis,
            }),
            Some(_) => {}
        }
    }
    let layouts: Vec<String> = option
        .supported_page_layouts
        .iter()
        .map(|l| l.0.clone())
        .collect();
    if let Some(layout) = &requested.page_layout
        && !layouts.is_empty()
        && !layouts.contains(&layout.0)
    {
        problems.push(Problem::PageLayoutNotOffered {
            page_layout: layout.0.clone(),
            specification: specification.clone(),
            offered: layouts,
        });
    }
    let joining: Vec<bool> = option
        .supported_file_joining_options
        .iter()
        .map(|j| j.0)
        .collect();
    let join = requested.need_file_joining.0;
    if !joining.is_empty() && !joining.contains(&join) {
        problems.push(Problem::FileJoiningNotOffered {
            need_file_joining: join,
            specification: specification.clone(),
            offered: joining,
        });
    }
    let details = &option.supported_document_details;
    if !details.is_empty() {
        let offered: Vec<DocumentType> = details.iter().map(|d| d.name.clone()).collect();
        for document_type in &requested.requested_document_types {
            if !offered.contains(document_type) {
                problems.push(Problem::DocumentTypeNotOffered {
                    document_type: document_type.clone(),
                    specification: specification.clone(),
                    offered: offered.clone(),
                });
            }
        }
        let mandatory: Vec<DocumentType> = details
            .iter()
            // Unstated: requested, as a mandatory one would be.
            .filter(|d| d.is_mandatory != Some(false))
            .map(|d| d.name.clone())
            .collect();
        for document_type in &mandatory {
            if !requested.requested_document_types.contains(document_type) {
                problems.push(Problem::MandatoryDocumentMissing {
                    document_type: document_type.clone(),
                    specification: specification.clone(),
                    mandatory: mandatory.clone(),
                });
            }
        }
    }
    problems
}

/// The document rules a requested specification breaks: none if one print
/// option of a matching specification takes it, else those of the option
/// it comes closest to.
fn document_problems(rate: &Rate, requested: &RequestedDocumentSpecification) -> Vec<Problem> {
    let mut closest: Option<Vec<Problem>> = None;
    for spec in rate
        .supported_document_specifications
        .0
        .iter()
        .filter(|s| s.format == requested.format && sized(s, &requested.size))
    {
        for option in print_options(spec) {
            let problems = print_option_problems(spec, &option, requested);
            if problems.is_empty() {
                return problems;
            }
            if closest.as_ref().is_none_or(|c| problems.len() < c.len()) {
                closest = Some(problems);
            }
        }
    }
    closest.unwrap_or_else(|| {
        vec![format_size_not_offered(
            rate,
            Some(&requested.format),
            Some(&requested.size),
        )]
    })
}

/// The value-added service rules a request breaks.
fn service_problems(rate: &Rate, requested: &[RequestedValueAddedService]) -> Vec<Problem> {
    let groups = rate
        .available_value_added_service_groups
        .as_ref()
        .map(|g| g.0.as_slice())
        .unwrap_or_default();
    let all: Vec<String> = groups
        .iter()
        .flat_map(|g| g.value_added_services.iter().map(service_id))
        .collect();
    let mut problems = Vec::new();
    for service in requested {
        if !all.contains(&service.id) {
            problems.push(Problem::ServiceNotOffered {
                service_id: service.id.clone(),
                group_id: None,
                offered: all.clone(),
            });
        }
    }
    for group in groups.iter().filter(|g| g.is_required == Some(true)) {
        let answered = group
            .value_added_services
            .iter()
            .any(|s| requested.iter().any(|r| s.id.as_ref() == Some(&r.id)));
        if !answered {
            problems.push(Problem::RequiredGroupUnanswered {
                group_id: group.group_id.clone().unwrap_or_default(),
                offered: group.value_added_services.iter().map(service_id).collect(),
            });
        }
    }
    problems
}

/// Preference among formats when the wishes name none.
fn format_rank(format: &DocumentFormat) -> u8 {
    match format {
        DocumentFormat::Pdf => 0,
        DocumentFormat::Png => 1,
        DocumentFormat::Zpl => 2,
        DocumentFormat::Unknown(_) => 3,
    }
}

/// The requested specification for one print option: the wishes, and the
/// defaults of the module docs for what they leave open.
fn requested_for(
    spec: &SupportedDocumentSpecification,
    option: &PrintOption,
    wishes: &Wishes,
) -> RequestedDocumentSpecification {
    let dpis = option.supported_dp_is.iter().map(|d| d.0);
    let dpi = wishes.dpi.or_else(|| {
        if spec.format == DocumentFormat::Zpl {
            dpis.min()
        } else {
            dpis.max()
        }
    });
    let page_layout = wishes
        .page_layout
        .clone()
        .or_else(|| option.supported_page_layouts.first().map(|l| l.0.clone()));
    let joining = &option.supported_file_joining_options;
    // `false` when allowed; otherwise every option is `true`.
    let need_file_joining = wishes
        .file_joining
        .unwrap_or_else(|| !(joining.is_empty() || joining.iter().any(|j| !j.0)));
    let mut types: Vec<DocumentType> = option
        .supported_document_details
        .iter()
        // Unstated: requested, as a mandatory one would be.
        .filter(|d| d.is_mandatory != Some(false))
        .map(|d| d.name.clone())
        .collect();
    for wished in &wishes.document_types {
        if !types.contains(wished) {
            types.push(wished.clone());
        }
    }
    if types.is_empty() {
        types.push(DocumentType::Label);
    }
    RequestedDocumentSpecification {
        dpi: dpi.map(Into::into),
        format: spec.format.clone(),
        need_file_joining: need_file_joining.into(),
        page_layout: page_layout.map(Into::into),
        requested_document_types: types,
        requested_label_customization: None,
        // Candidates are only specifications with a stated size.
        size: spec.size.clone().unwrap_or(DocumentSize {
            width: f64::NAN,
            length: f64::NAN,
            unit: DocumentSizeUnit::Inch,
        }),
    }
}

/// The value-added services to request, and their cost; or the rules the
/// wishes break.
fn services_for(rate: &Rate, wishes: &Wishes) -> Result<(Vec<String>, f64), Vec<Problem>> {
    let groups = rate
        .available_value_added_service_groups
        .as_ref()
        .map(|g| g.0.as_slice())
        .unwrap_or_default();
    let mut chosen = Vec::new();
    let mut cost = 0.0;
    let mut problems = Vec::new();
    for (group_id, wished_id) in &wishes.value_added_services {
        let Some(group) = groups
            .iter()
            .find(|g| g.group_id.as_ref() == Some(group_id))
        else {
            problems.push(Problem::GroupNotOffered {
                group_id: group_id.clone(),
                offered: groups.iter().filter_map(|g| g.group_id.clone()).collect(),
            });
            continue;
        };
        match group
            .value_added_services
            .iter()
            .find(|s| s.id.as_ref() == Some(wished_id))
        {
            Some(service) => {
                chosen.push(wished_id.clone());
                cost += service_cost(service);
                problems.extend(service_currency(rate, service));
            }
            None => problems.push(Problem::ServiceNotOffered {
                service_id: wished_id.clone(),
                group_id: Some(group_id.clone()),
                offered: group.value_added_services.iter().map(service_id).collect(),
            }),
        }
    }
    for group in groups.iter().filter(|g| g.is_required == Some(true)) {
        if wishes
            .value_added_services
            .iter()
            .any(|(g, _)| group.group_id.as_ref() == Some(g))
        {
            continue;
        }
        let cheapest = group
            .value_added_services
            .iter()
            .filter(|s| s.id.is_some())
            .reduce(|a, b| {
                if service_cost(b) < service_cost(a) {
                    b
                } else {
                    a
                }
            });
        match (wishes.required_groups, cheapest) {
            (RequiredGroups::AnswerCheapest, Some(service)) => {
                chosen.push(service_id(service));
                cost += service_cost(service);
                problems.extend(service_currency(rate, service));
            }
            _ => problems.push(Problem::RequiredGroupUnanswered {
                group_id: group.group_id.clone().unwrap_or_default(),
                offered: group.value_added_services.iter().map(service_id).collect(),
            }),
        }
    }
    if problems.is_empty() {
        Ok((chosen, cost))
    } else {
        Err(problems)
    }
}

/// The request buying `rate` as wished and what it costs, or every rule the
/// wishes break.
fn plan_rate(
    rate: &Rate,
    token: &RequestToken,
    wishes: &Wishes,
    choice: Choice,
) -> Result<(PurchaseShipmentRequest, f64), Vec<Problem>> {
    let mut candidates: Vec<&SupportedDocumentSpecification> = rate
        .supported_document_specifications
        .0
        .iter()
        .filter(|s| wishes.format.as_ref().is_none_or(|f| *f == s.format))
        .filter(|s| s.size.is_some())
        .filter(|s| wishes.size.as_ref().is_none_or(|z| sized(s, z)))
        .collect();
    let four_by_six = DocumentSize {
        width: 4.0,
        length: 6.0,
        unit: DocumentSizeUnit::Inch,
    };
    // Stable: the rate's order within each preference.
    candidates.sort_by_key(|s| (format_rank(&s.format), !sized(s, &four_by_six)));

    let mut problems = Vec::new();
    let incomplete = incomplete(rate);
    if !incomplete.is_empty() {
        problems.push(Problem::Incomplete {
            missing: incomplete,
        });
    }
    let currency = charge_currency(rate);
    if let Some(wished) = &wishes.currency
        && !currency.is_empty()
        && !currency.eq_ignore_ascii_case(wished)
    {
        problems.push(Problem::OtherCurrency {
            currency: currency.clone(),
            wished: wished.clone(),
        });
    }
    // A rate the caller names is theirs to judge; the cheapest is chosen
    // only among rates Amazon will take as they stand and that keep
    // Amazon's claims protection, unless the wishes say otherwise.
    if choice == Choice::Cheapest {
        if rate.requires_additional_inputs != Some(false) && wishes.additional_inputs.is_none() {
            problems.push(Problem::AdditionalInputsRequired);
        }
        if !wishes.allow_unprotected && excludes_claims_protection(rate) {
            problems.push(Problem::ClaimsProtectionExcluded);
        }
    }
    let mut document = None;
    let mut closest: Option<Vec<Problem>> = None;
    'search: for spec in &candidates {
        for option in print_options(spec) {
            let requested = requested_for(spec, &option, wishes);
            let broken = print_option_problems(spec, &option, &requested);
            if broken.is_empty() {
                document = Some(requested);
                break 'search;
            }
            if closest.as_ref().is_none_or(|c| broken.len() < c.len()) {
                closest = Some(broken);
            }
        }
    }
    if document.is_none() {
        problems.extend(closest.unwrap_or_else(|| {
            vec![format_size_not_offered(
                rate,
                wishes.format.as_ref(),
                wishes.size.as_ref(),
            )]
        }));
    }
    let services = services_for(rate, wishes).map_err(|broken| problems.extend(broken));
    let charge = rate.total_charge.as_ref().map_or(f64::NAN, |c| c.value);
    if let Ok((_, extra)) = &services
        && !extra.is_finite()
        && problems.is_empty()
    {
        problems.push(Problem::Incomplete {
            missing: vec!["valueAddedServices[].cost".to_owned()],
        });
    }
    match (document, services, rate.rate_id.as_ref()) {
        (Some(document), Ok((services, extra)), Some(rate_id)) if problems.is_empty() => {
            let requested_value_added_services = (!services.is_empty()).then(|| {
                RequestedValueAddedServiceList(
                    services
                        .into_iter()
                        .map(|id| RequestedValueAddedService { id })
                        .collect(),
                )
            });
            let request = PurchaseShipmentRequest {
                additional_inputs: wishes.additional_inputs.clone().unwrap_or_default(),
                rate_id: rate_id.clone(),
                request_token: token.clone(),
                requested_document_specification: document,
                requested_value_added_services,
            };
            Ok((request, charge + extra))
        }
        _ => Err(problems),
    }
}

/// A value-added service priced in another currency than its rate.
fn service_currency(rate: &Rate, service: &crate::types::ValueAddedService) -> Option<Problem> {
    let rate_currency = charge_currency(rate);
    let currency = service.cost.as_ref()?.unit.to_string();
    (!rate_currency.is_empty() && !currency.eq_ignore_ascii_case(&rate_currency)).then(|| {
        Problem::ServiceCurrency {
            service_id: service_id(service),
            currency,
            rate_currency,
        }
    })
}

/// The currency of a rate's charge (`""` when Amazon left it out).
fn charge_currency(rate: &Rate) -> String {
    rate.total_charge
        .as_ref()
        .map(|c| c.unit.to_string())
        .unwrap_or_default()
}

/// Whether the rate's benefits exclude Amazon's claims protection.
fn excludes_claims_protection(rate: &Rate) -> bool {
    rate.benefits.as_ref().is_some_and(|b| {
        b.excluded_benefits
            .iter()
            .any(|e| e.benefit.eq_ignore_ascii_case("CLAIMS_PROTECTED"))
    })
}

/// How the rate being planned was chosen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// By the caller ([`Quote::plan`]).
    Named,
    /// By [`Quote::cheapest`].
    Cheapest,
}

/// What a purchase or comparison of `rate` needs that Amazon's answer left
/// out: its id, or a charge with a currency and a number.
fn incomplete(rate: &Rate) -> Vec<String> {
    let mut missing = Vec::new();
    if rate.rate_id.is_none() {
        missing.push("rateId".to_owned());
    }
    match &rate.total_charge {
        None => missing.push("totalCharge".to_owned()),
        Some(charge) => {
            if !charge.value.is_finite() {
                missing.push("totalCharge.value".to_owned());
            }
            if charge.unit.is_empty() {
                missing.push("totalCharge.unit".to_owned());
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::types::GetRatesResult;

    /// A print option as Amazon writes it.
    fn option(dpis: &[i64], layouts: &[&str], joining: &[bool], docs: &[(&str, bool)]) -> Value {
        let docs: Vec<Value> = docs
            .iter()
            .map(|(name, mandatory)| json!({ "name": name, "isMandatory": mandatory }))
            .collect();
        json!({
            "supportedDPIs": dpis,
            "supportedPageLayouts": layouts,
            "supportedFileJoiningOptions": joining,
            "supportedDocumentDetails": docs,
        })
    }

    fn spec(format: &str, width: f64, length: f64, options: Vec<Value>) -> Value {
        json!({
            "format": format,
            "size": { "width": width, "length": length, "unit": "INCH" },
            "printOptions": options,
        })
    }

    /// A rate like Amazon's UK ones: PDF 4x6 needs a packing slip and joined
    /// files; PNG 4x6 at 203/300 dpi; ZPL 4x6 without dpis; a required
    /// delivery confirmation group and an optional signature group.
    fn rate(id: &str, total: f64) -> Value {
        json!({
            "rateId": id,
            "carrierId": "AMZN_UK",
            "carrierName": "Amazon Shipping",
            "serviceId": "SWA-UK-STD",
            "serviceName": "Standard",
            "totalCharge": { "value": total, "unit": "GBP" },
            "promise": {},
            "requiresAdditionalInputs": false,
            "supportedDocumentSpecifications": [
                spec("PNG", 4.0, 6.0, vec![option(&[203, 300], &["LEFT", "RIGHT"], &[false, true],
                    &[("LABEL", true), ("RECEIPT", false)])]),
                spec("PDF", 4.0, 6.0, vec![option(&[203, 300], &["LEFT"], &[true],
                    &[("LABEL", true), ("PACKSLIP", true), ("RECEIPT", false)])]),
                spec("ZPL", 4.0, 6.0, vec![option(&[], &["LEFT"], &[false], &[("LABEL", true)])]),
            ],
            "availableValueAddedServiceGroups": [
                {
                    "groupId": "DELIVERY_CONFIRMATION", "groupDescription": "Delivery confirmation",
                    "isRequired": true,
                    "valueAddedServices": [
                        { "id": "SIGNATURE_ADULT", "name": "Adult signature", "cost": { "value": 2.5, "unit": "GBP" } },
                        { "id": "NO_CONFIRMATION", "name": "None", "cost": { "value": 0.0, "unit": "GBP" } },
                    ],
                },
                {
                    "groupId": "SIG_VERIFICATION", "groupDescription": "Signature verification",
                    "isRequired": false,
                    "valueAddedServices": [
                        { "id": "CUST_SIG_VERIFICATION", "name": "Signature", "cost": { "value": 1.6, "unit": "GBP" } },
                    ],
                },
            ],
        })
    }

    fn quote_of(rates: Vec<Value>) -> Quote {
        let result: GetRatesResult =
            serde_json::from_value(json!({ "requestToken": "TOKEN-1", "rates": rates })).unwrap();
        Quote::new(result)
    }

    fn quote() -> Quote {
        quote_of(vec![rate("RATE-A", 5.0)])
    }

    fn problems(error: PlanError) -> Vec<String> {
        match error {
            PlanError::Rules(rate) => rate
                .problems
                .iter()
                .map(|p| p.message(&rate.rate_id))
                .collect(),
            other => panic!("expected broken rules, got {other}"),
        }
    }

    fn json_of(request: &PurchaseShipmentRequest) -> Value {
        serde_json::to_value(request).unwrap()
    }

    // --- Defaults --------------------------------------------------------

    #[test]
    fn no_wishes_give_a_pdf_4x6_with_every_mandatory_document_and_the_cheapest_required_service() {
        let request = quote().plan("RATE-A", &Wishes::new()).unwrap();
        assert_eq!(
            json_of(&request),
            json!({
                "requestToken": "TOKEN-1",
                "rateId": "RATE-A",
                "requestedDocumentSpecification": {
                    "format": "PDF",
                    "size": { "width": 4.0, "length": 6.0, "unit": "INCH" },
                    "dpi": 300,
                    "pageLayout": "LEFT",
                    "needFileJoining": true,
                    "requestedDocumentTypes": ["LABEL", "PACKSLIP"],
                },
                "requestedValueAddedServices": [{ "id": "NO_CONFIRMATION" }],
            })
        );
        assert!(quote().check(&request).is_ok());
    }

    #[test]
    fn png_defaults_to_separate_files_and_the_highest_dpi() {
        let request = quote()
            .plan("RATE-A", &Wishes::new().format(DocumentFormat::Png))
            .unwrap();
        let spec = &request.requested_document_specification;
        assert_eq!(spec.dpi.as_ref().map(|d| d.0), Some(300));
        assert!(!spec.need_file_joining.0);
        assert_eq!(spec.page_layout.as_ref().unwrap().0, "LEFT");
        assert_eq!(spec.requested_document_types, [DocumentType::Label]);
    }

    #[test]
    fn zpl_without_supported_dpis_sends_no_dpi() {
        let request = quote()
            .plan("RATE-A", &Wishes::new().format(DocumentFormat::Zpl))
            .unwrap();
        assert_eq!(request.requested_document_specification.dpi, None);
        assert!(
            json_of(&request)["requestedDocumentSpecification"]
                .get("dpi")
                .is_none()
        );
    }

    #[test]
    fn zpl_defaults_to_the_lowest_dpi_offered() {
        let mut zpl_rate = rate("RATE-Z", 5.0);
        zpl_rate["supportedDocumentSpecifications"][2]["printOptions"][0]["supportedDPIs"] =
            json!([300, 203]);
        let request = quote_of(vec![zpl_rate])
            .plan("RATE-Z", &Wishes::new().format(DocumentFormat::Zpl))
            .unwrap();
        assert_eq!(
            request.requested_document_specification.dpi.map(|d| d.0),
            Some(203)
        );
    }

    #[test]
    fn wished_documents_are_added_to_the_mandatory_ones() {
        let request = quote()
            .plan(
                "RATE-A",
                &Wishes::new()
                    .format(DocumentFormat::Pdf)
                    .document_type(DocumentType::Receipt),
            )
            .unwrap();
        assert_eq!(
            request
                .requested_document_specification
                .requested_document_types,
            [
                DocumentType::Label,
                DocumentType::Packslip,
                DocumentType::Receipt
            ]
        );
    }

    #[test]
    fn answered_groups_are_requested_as_answered() {
        let wishes = Wishes::new()
            .value_added_service("DELIVERY_CONFIRMATION", "SIGNATURE_ADULT")
            .value_added_service("SIG_VERIFICATION", "CUST_SIG_VERIFICATION");
        let request = quote().plan("RATE-A", &wishes).unwrap();
        assert_eq!(
            json_of(&request)["requestedValueAddedServices"],
            json!([{ "id": "SIGNATURE_ADULT" }, { "id": "CUST_SIG_VERIFICATION" }])
        );
    }

    #[test]
    fn a_rate_with_nothing_required_requests_no_value_added_services() {
        let mut plain = rate("RATE-P", 5.0);
        plain["availableValueAddedServiceGroups"][0]["isRequired"] = json!(false);
        let request = quote_of(vec![plain])
            .plan("RATE-P", &Wishes::new())
            .unwrap();
        assert_eq!(request.requested_value_added_services, None);
        assert!(
            json_of(&request)
                .get("requestedValueAddedServices")
                .is_none()
        );
    }

    // --- Each rule, each message -----------------------------------------

    #[test]
    fn a_format_and_size_the_rate_does_not_offer_names_what_it_offers() {
        let mut rate = rate("RATE-A", 5.0);
        rate["supportedDocumentSpecifications"]
            .as_array_mut()
            .unwrap()
            .remove(2);
        let error = quote_of(vec![rate])
            .plan(
                "RATE-A",
                &Wishes::new()
                    .format(DocumentFormat::Zpl)
                    .size_inches(4.0, 6.0),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            [
                "format ZPL size 4x6 INCH is not offered by rate RATE-A; offered: PNG 4x6 INCH, PDF 4x6 INCH"
            ]
        );
    }

    #[test]
    fn a_size_is_matched_with_its_unit() {
        let error = quote()
            .plan(
                "RATE-A",
                &Wishes::new().size(DocumentSize {
                    width: 10.0,
                    length: 15.0,
                    unit: DocumentSizeUnit::Centimeter,
                }),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            [
                "size 10x15 CENTIMETER is not offered by rate RATE-A; offered: PNG 4x6 INCH, PDF 4x6 INCH, ZPL 4x6 INCH"
            ]
        );
    }

    #[test]
    fn a_dpi_outside_supported_dpis_is_refused() {
        let error = quote()
            .plan(
                "RATE-A",
                &Wishes::new().format(DocumentFormat::Png).dpi(600),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            ["dpi 600 is not offered for PNG 4x6 INCH by rate RATE-A; offered: 203, 300"]
        );
    }

    #[test]
    fn a_page_layout_outside_supported_page_layouts_is_refused() {
        // #4903 sent "DEFAULT", a layout of Amazon's docs, not of the rate.
        let error = quote()
            .plan(
                "RATE-A",
                &Wishes::new()
                    .format(DocumentFormat::Pdf)
                    .page_layout("DEFAULT"),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            ["pageLayout DEFAULT is not offered for PDF 4x6 INCH by rate RATE-A; offered: LEFT"]
        );
    }

    #[test]
    fn separate_files_are_refused_where_only_joining_is_offered() {
        let error = quote()
            .plan(
                "RATE-A",
                &Wishes::new()
                    .format(DocumentFormat::Pdf)
                    .file_joining(false),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            ["needFileJoining false is not offered for PDF 4x6 INCH by rate RATE-A; offered: true"]
        );
    }

    #[test]
    fn a_document_type_the_specification_does_not_list_is_refused() {
        let error = quote()
            .plan(
                "RATE-A",
                &Wishes::new()
                    .format(DocumentFormat::Zpl)
                    .document_type(DocumentType::CustomForm),
            )
            .unwrap_err();
        assert_eq!(
            problems(error),
            [
                "document type CUSTOM_FORM is not offered for ZPL 4x6 INCH by rate RATE-A; offered: LABEL"
            ]
        );
    }

    #[test]
    fn an_unanswered_required_group_is_refused_when_asked_to() {
        let wishes = Wishes::new().required_groups(RequiredGroups::Refuse);
        let error = quote().plan("RATE-A", &wishes).unwrap_err();
        assert_eq!(
            problems(error),
            [
                "value-added service group DELIVERY_CONFIRMATION is required by rate RATE-A and not answered; offered: SIGNATURE_ADULT, NO_CONFIRMATION"
            ]
        );
    }

    #[test]
    fn value_added_services_must_exist_in_their_group() {
        let wishes = Wishes::new()
            .value_added_service("DELIVERY_CONFIRMATION", "CUST_SIG_VERIFICATION")
            .value_added_service("INSURANCE", "FULL_COVER");
        let error = quote().plan("RATE-A", &wishes).unwrap_err();
        assert_eq!(
            problems(error),
            [
                "value-added service CUST_SIG_VERIFICATION is not offered in group DELIVERY_CONFIRMATION by rate RATE-A; offered: SIGNATURE_ADULT, NO_CONFIRMATION",
                "value-added service group INSURANCE is not offered by rate RATE-A; offered: DELIVERY_CONFIRMATION, SIG_VERIFICATION",
            ]
        );
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let wishes = Wishes::new()
            .format(DocumentFormat::Pdf)
            .dpi(150)
            .page_layout("RIGHT")
            .file_joining(false)
            .required_groups(RequiredGroups::Refuse);
        let error = quote().plan("RATE-A", &wishes).unwrap_err();
        let messages = problems(error.clone());
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(
            messages[0].starts_with("dpi 150 is not offered"),
            "{messages:#?}"
        );
        assert!(messages[1].starts_with("pageLayout RIGHT is not offered"));
        assert!(messages[2].starts_with("needFileJoining false is not offered"));
        assert!(
            messages[3].starts_with("value-added service group DELIVERY_CONFIRMATION is required")
        );
        let shown = error.to_string();
        assert!(
            shown.starts_with(
                "Amazon would refuse this purchase: Standard (Amazon Shipping): dpi 150"
            ),
            "{shown}"
        );
    }

    // --- Checking a hand-built request -----------------------------------

    /// The body of #4759 and #4903: a PDF label alone, separate files, no
    /// value-added services.
    fn hand_built(
        format: &str,
        layout: &str,
        join: bool,
        types: &[&str],
    ) -> PurchaseShipmentRequest {
        serde_json::from_value(json!({
            "requestToken": "TOKEN-1",
            "rateId": "RATE-A",
            "requestedDocumentSpecification": {
                "format": format,
                "size": { "width": 4, "length": 6, "unit": "INCH" },
                "pageLayout": layout,
                "needFileJoining": join,
                "requestedDocumentTypes": types,
            },
        }))
        .unwrap()
    }

    #[test]
    fn check_names_every_rule_a_hand_built_request_breaks() {
        let request = hand_built("PDF", "DEFAULT", false, &["LABEL"]);
        let error = quote().check(&request).unwrap_err();
        assert_eq!(
            problems(error),
            [
                "dpi is missing; rate RATE-A requires one for PDF 4x6 INCH; offered: 203, 300",
                "pageLayout DEFAULT is not offered for PDF 4x6 INCH by rate RATE-A; offered: LEFT",
                "needFileJoining false is not offered for PDF 4x6 INCH by rate RATE-A; offered: true",
                "requestedDocumentTypes lacks PACKSLIP, mandatory for PDF 4x6 INCH by rate RATE-A; mandatory: LABEL, PACKSLIP",
                "value-added service group DELIVERY_CONFIRMATION is required by rate RATE-A and not answered; offered: SIGNATURE_ADULT, NO_CONFIRMATION",
            ]
        );
    }

    #[test]
    fn check_accepts_what_the_rate_offers_and_refuses_unknown_services_and_tokens() {
        let mut request = hand_built("ZPL", "LEFT", false, &["LABEL"]);
        request.requested_value_added_services = Some(RequestedValueAddedServiceList(vec![
            RequestedValueAddedService {
                id: "NO_CONFIRMATION".into(),
            },
        ]));
        assert_eq!(quote().check(&request), Ok(()));

        request.request_token = "OTHER".to_owned().into();
        request
            .requested_value_added_services
            .as_mut()
            .unwrap()
            .0
            .push(RequestedValueAddedService {
                id: "GIFT_WRAP".into(),
            });
        assert_eq!(
            problems(quote().check(&request).unwrap_err()),
            [
                "requestToken OTHER is not the token TOKEN-1 of the quote with rate RATE-A",
                "value-added service GIFT_WRAP is not offered by rate RATE-A; offered: SIGNATURE_ADULT, NO_CONFIRMATION, CUST_SIG_VERIFICATION",
            ]
        );
    }

    #[test]
    fn check_and_plan_name_an_unknown_rate_with_the_quote_s_rates() {
        let mut request = hand_built("ZPL", "LEFT", false, &["LABEL"]);
        request.rate_id = "NOT-A-RATE".to_owned().into();
        let error = quote().check(&request).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the quote has no rate NOT-A-RATE; its rates: RATE-A"
        );
        assert_eq!(
            quote().plan("NOT-A-RATE", &Wishes::new()).unwrap_err(),
            error
        );
    }

    // --- Quote age ---------------------------------------------------------

    #[test]
    fn a_quote_older_than_ten_minutes_is_refused_with_its_age() {
        let mut quote = quote();
        quote.received_at = Utc::now() - chrono::Duration::seconds(11 * 60 + 5);
        assert!(quote.is_expired());
        let error = quote.plan("RATE-A", &Wishes::new()).unwrap_err();
        let PlanError::QuoteExpired { age } = &error else {
            panic!("expected an expired quote, got {error}");
        };
        assert!((665..=667).contains(&age.as_secs()), "{age:?}");
        assert!(
            error.to_string().starts_with("the quote is 11m05s old"),
            "{error}"
        );
        let request = hand_built("ZPL", "LEFT", false, &["LABEL"]);
        assert!(matches!(
            quote.check(&request),
            Err(PlanError::QuoteExpired { .. })
        ));
        assert!(matches!(
            quote.cheapest(&Wishes::new()),
            Err(PlanError::QuoteExpired { .. })
        ));

        quote.received_at = Utc::now() - chrono::Duration::seconds(8 * 60);
        assert!(!quote.is_expired());
        assert!(quote.plan("RATE-A", &Wishes::new()).is_ok());
    }

    // --- Choosing the cheapest rate ---------------------------------------

    #[test]
    fn cheapest_takes_the_lowest_total_among_rates_that_fit_the_wishes() {
        // RATE-B is cheapest but offers no PDF; RATE-C fits; RATE-A fits but costs more.
        let mut no_pdf = rate("RATE-B", 3.0);
        no_pdf["supportedDocumentSpecifications"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        let quote = quote_of(vec![rate("RATE-A", 5.0), no_pdf, rate("RATE-C", 4.0)]);
        let wishes = Wishes::new()
            .format(DocumentFormat::Pdf)
            .size_inches(4.0, 6.0);
        let planned = quote.cheapest(&wishes).unwrap();
        assert_eq!(planned.rate.rate_id.as_deref().unwrap(), "RATE-C");
        assert_eq!(planned.request.rate_id.as_str(), "RATE-C");
        assert_eq!(planned.cost, 4.0);
        assert_eq!(
            planned.request.requested_document_specification.format,
            DocumentFormat::Pdf
        );
    }

    #[test]
    fn cheapest_counts_the_services_a_plan_adds_and_keeps_the_first_on_a_tie() {
        let quote = quote_of(vec![rate("RATE-A", 4.0), rate("RATE-B", 4.0)]);
        let wishes = Wishes::new().value_added_service("DELIVERY_CONFIRMATION", "SIGNATURE_ADULT");
        let planned = quote.cheapest(&wishes).unwrap();
        assert_eq!(planned.rate.rate_id.as_deref().unwrap(), "RATE-A");
        assert_eq!(planned.cost, 6.5);
    }

    #[test]
    fn cheapest_lists_each_rate_s_problems_when_none_fits() {
        let quote = quote_of(vec![rate("RATE-A", 5.0), rate("RATE-B", 4.0)]);
        let error = quote
            .cheapest(&Wishes::new().format(DocumentFormat::Png).dpi(600))
            .unwrap_err();
        let PlanError::NoRate(rates) = &error else {
            panic!("expected no rate, got {error}");
        };
        assert_eq!(rates.len(), 2);
        assert_eq!(
            error.to_string(),
            "no rate can be bought as wished:\n\
             - Standard (Amazon Shipping): dpi 600 is not offered for PNG 4x6 INCH by rate RATE-A; offered: 203, 300\n\
             - Standard (Amazon Shipping): dpi 600 is not offered for PNG 4x6 INCH by rate RATE-B; offered: 203, 300"
        );
        assert_eq!(
            quote_of(vec![])
                .cheapest(&Wishes::new())
                .unwrap_err()
                .to_string(),
            "the quote has no rates"
        );
    }

    #[test]
    fn a_specification_with_several_print_options_takes_the_one_that_fits() {
        let mut two = rate("RATE-A", 5.0);
        two["supportedDocumentSpecifications"][0]["printOptions"] = json!([
            option(&[203], &["LEFT"], &[false], &[("LABEL", true)]),
            option(&[600], &["RIGHT"], &[false], &[("LABEL", true)]),
        ]);
        let quote = quote_of(vec![two]);
        let request = quote
            .plan(
                "RATE-A",
                &Wishes::new().format(DocumentFormat::Png).dpi(600),
            )
            .unwrap();
        let spec = &request.requested_document_specification;
        assert_eq!(
            (
                spec.dpi.as_ref().map(|d| d.0),
                spec.page_layout.as_ref().map(|l| l.0.as_str())
            ),
            (Some(600), Some("RIGHT"))
        );
        assert_eq!(quote.check(&request), Ok(()));
    }

    #[test]
    fn sizes_parse_in_inches_or_centimetres() {
        let size = parse_size("4x6").unwrap();
        assert_eq!(
            (size.width, size.length, size.unit),
            (4.0, 6.0, DocumentSizeUnit::Inch)
        );
        let size = parse_size("10x15cm").unwrap();
        assert_eq!(
            (size.width, size.length, size.unit),
            (10.0, 15.0, DocumentSizeUnit::Centimeter)
        );
        assert_eq!(parse_size("4.0x6in").unwrap().length, 6.0);
        assert!(parse_size("4 by 6").unwrap_err().contains("WIDTHxLENGTH"));
        assert!(parse_size("0x6").is_err());
    }

    // --- Money defects (issue 19, item 4) -----------------------------------

    #[test]
    fn rates_in_different_currencies_are_never_compared() {
        let mut euro = rate("RATE-EUR", 9.0);
        euro["totalCharge"]["unit"] = json!("EUR");
        for group in euro["availableValueAddedServiceGroups"]
            .as_array_mut()
            .unwrap()
        {
            for service in group["valueAddedServices"].as_array_mut().unwrap() {
                service["cost"]["unit"] = json!("EUR");
            }
        }
        let quote = quote_of(vec![rate("RATE-GBP", 10.0), euro]);
        // 9 EUR is not "cheaper" than 10 GBP: refused, both named.
        let refused = quote.cheapest(&Wishes::new()).unwrap_err();
        assert_eq!(
            refused,
            PlanError::MixedCurrencies {
                currencies: vec!["EUR".into(), "GBP".into()]
            }
        );
        assert!(refused.to_string().contains("EUR and GBP"), "{refused}");
        // Named, only that currency's rates compete.
        let planned = quote.cheapest(&Wishes::new().currency("GBP")).unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-GBP");
        let planned = quote.cheapest(&Wishes::new().currency("EUR")).unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-EUR");
    }

    #[test]
    fn a_service_priced_in_another_currency_is_not_added_to_the_rate() {
        let mut odd = rate("RATE-A", 5.0);
        odd["availableValueAddedServiceGroups"][0]["valueAddedServices"][1]["cost"]["unit"] =
            json!("USD");
        let messages = problems(
            quote_of(vec![odd])
                .plan("RATE-A", &Wishes::new())
                .unwrap_err(),
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("NO_CONFIRMATION") && m.contains("USD")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_rate_that_needs_additional_inputs_is_only_planned_with_them() {
        let mut needs = rate("RATE-NEEDS", 3.0);
        needs["requiresAdditionalInputs"] = json!(true);
        let mut unknown = rate("RATE-UNSAID", 3.5);
        unknown
            .as_object_mut()
            .unwrap()
            .remove("requiresAdditionalInputs");
        let quote = quote_of(vec![needs, unknown, rate("RATE-PLAIN", 6.0)]);
        // The cheaper rates would fail at Amazon with a 400: skipped.
        let planned = quote.cheapest(&Wishes::new()).unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-PLAIN");
        let mut inputs = serde_json::Map::new();
        inputs.insert("SENDER_TAX_ID".into(), json!("GB123"));
        let planned = quote
            .cheapest(&Wishes::new().additional_inputs(inputs.clone()))
            .unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-NEEDS");
        assert_eq!(planned.request.additional_inputs, inputs);
    }

    #[test]
    fn a_rate_without_claims_protection_is_refused_unless_allowed() {
        let mut unprotected = rate("RATE-CHEAP", 2.0);
        unprotected["benefits"] = json!({"includedBenefits": [],
            "excludedBenefits": [{"benefit": "CLAIMS_PROTECTED", "reasonCodes": ["LATE_DELIVERY_RISK"]}]});
        let quote = quote_of(vec![unprotected, rate("RATE-SAFE", 4.0)]);
        let planned = quote.cheapest(&Wishes::new()).unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-SAFE");
        let planned = quote
            .cheapest(&Wishes::new().allow_unprotected(true))
            .unwrap();
        assert_eq!(planned.request.rate_id.as_str(), "RATE-CHEAP");
    }

    #[test]
    fn a_quote_expires_a_safety_margin_before_the_token_and_a_future_one_is_skew() {
        let result = |_: ()| -> GetRatesResult {
            serde_json::from_value(json!({ "requestToken": "T", "rates": [rate("RATE-A", 5.0)] }))
                .unwrap()
        };
        // 9m30s old: the token still lives, but a purchase planned now may
        // reach Amazon after it dies.
        let late = Quote::received_at(result(()), Utc::now() - chrono::Duration::seconds(570));
        assert!(late.is_expired());
        assert!(matches!(
            late.cheapest(&Wishes::new()),
            Err(PlanError::QuoteExpired { .. })
        ));
        let fresh = Quote::received_at(result(()), Utc::now() - chrono::Duration::seconds(500));
        assert!(!fresh.is_expired());
        // Received an hour from now: not fresh, clock skew.
        let future = Quote::received_at(result(()), Utc::now() + chrono::Duration::hours(1));
        assert!(future.is_expired());
        let err = future.plan("RATE-A", &Wishes::new()).unwrap_err();
        assert!(matches!(err, PlanError::ClockSkew { .. }), "{err}");
        assert!(err.to_string().contains("in the future"), "{err}");
    }

    #[test]
    fn a_quote_without_a_request_token_plans_nothing() {
        let result: GetRatesResult =
            serde_json::from_value(json!({ "requestToken": null, "rates": [rate("RATE-A", 5.0)] }))
                .unwrap();
        let quote = Quote::new(result);
        assert_eq!(
            quote.cheapest(&Wishes::new()),
            Err(PlanError::NoRequestToken)
        );
        assert_eq!(
            quote.plan("RATE-A", &Wishes::new()),
            Err(PlanError::NoRequestToken)
        );
    }
}
