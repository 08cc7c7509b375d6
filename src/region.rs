//! SP-API regions, their hosts, and which shipping business belongs where.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;
use crate::types::ShippingBusinessId;

/// A Selling Partner API region: each has its own host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// North America (`sellingpartnerapi-na.amazon.com`).
    NorthAmerica,
    /// Europe, Middle East, India (`sellingpartnerapi-eu.amazon.com`).
    Europe,
    /// Far East (`sellingpartnerapi-fe.amazon.com`).
    FarEast,
}

impl Region {
    /// The region's base URL; Amazon's sandbox host when `sandbox`.
    pub fn endpoint(self, sandbox: bool) -> &'static str {
        match (self, sandbox) {
            (Region::NorthAmerica, false) => "https://sellingpartnerapi-na.amazon.com",
            (Region::Europe, false) => "https://sellingpartnerapi-eu.amazon.com",
            (Region::FarEast, false) => "https://sellingpartnerapi-fe.amazon.com",
            (Region::NorthAmerica, true) => "https://sandbox.sellingpartnerapi-na.amazon.com",
            (Region::Europe, true) => "https://sandbox.sellingpartnerapi-eu.amazon.com",
            (Region::FarEast, true) => "https://sandbox.sellingpartnerapi-fe.amazon.com",
        }
    }

    /// The short code used by `SP_API_REGION`: `na`, `eu` or `fe`.
    pub fn code(self) -> &'static str {
        match self {
            Region::NorthAmerica => "na",
            Region::Europe => "eu",
            Region::FarEast => "fe",
        }
    }

    /// The region whose host serves a shipping business (US: NA; UK, IT,
    /// ES, FR, IN, UAE, SA, EG: EU; JP: FE).
    pub fn of_business(business: ShippingBusinessId) -> Region {
        use ShippingBusinessId as B;
        match business {
            B::AmazonShippingUs => Region::NorthAmerica,
            B::AmazonShippingJp => Region::FarEast,
            B::AmazonShippingUk
            | B::AmazonShippingIt
            | B::AmazonShippingEs
            | B::AmazonShippingFr
            | B::AmazonShippingIn
            | B::AmazonShippingUae
            | B::AmazonShippingSa
            | B::AmazonShippingEg => Region::Europe,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Region {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "na" => Ok(Region::NorthAmerica),
            "eu" => Ok(Region::Europe),
            "fe" => Ok(Region::FarEast),
            other => Err(ConfigError::new(
                "region",
                format!("{other:?} is not a region; expected na, eu or fe"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_and_name_their_hosts() {
        let eu: Region = "EU".parse().unwrap();
        assert_eq!(eu, Region::Europe);
        assert_eq!(
            eu.endpoint(false),
            "https://sellingpartnerapi-eu.amazon.com"
        );
        assert_eq!(
            Region::FarEast.endpoint(true),
            "https://sandbox.sellingpartnerapi-fe.amazon.com"
        );
        let err = "us".parse::<Region>().unwrap_err();
        assert!(err.to_string().contains("\"us\" is not a region"), "{err}");
    }

    #[test]
    fn every_business_belongs_to_one_region() {
        use ShippingBusinessId as B;
        assert_eq!(
            Region::of_business(B::AmazonShippingUs),
            Region::NorthAmerica
        );
        assert_eq!(Region::of_business(B::AmazonShippingJp), Region::FarEast);
        for b in [
            B::AmazonShippingUk,
            B::AmazonShippingIn,
            B::AmazonShippingEg,
        ] {
            assert_eq!(Region::of_business(b), Region::Europe);
        }
    }
}
