//! Calibrations: the time elements as a plain JSON file a user can read and edit.

use serde::{Deserialize, Serialize};

use crate::cost::{CostModel, Structure, TimeElements};

/// A named set of time elements, with where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Short name (`paper`, `measured`, ...).
    pub name: String,
    /// Where the numbers come from.
    pub source: String,
    /// The time elements.
    #[serde(flatten)]
    pub elements: TimeElements,
    /// Free-form remarks (assumptions, fits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A calibration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// Not JSON of the calibration shape.
    #[error("not a calibration file: {0}")]
    Parse(#[from] serde_json::Error),
    /// A time is negative or not finite.
    #[error("calibration {0:?} has a negative or non-finite time")]
    Invalid(String),
}

impl Calibration {
    /// Table IV of the paper, its mining time, a fit of Fig. 8, and assumed network delays
    /// (`calibrations/paper.json`).
    pub fn paper() -> Self {
        match Self::from_json(include_str!("../calibrations/paper.json")) {
            Ok(calibration) => calibration,
            Err(e) => unreachable_paper(&e),
        }
    }

    /// Parses and validates a calibration file.
    pub fn from_json(text: &str) -> Result<Self, CalibrationError> {
        let calibration: Self = serde_json::from_str(text)?;
        if !calibration.elements.is_valid() {
            return Err(CalibrationError::Invalid(calibration.name));
        }
        Ok(calibration)
    }

    /// The file form, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cold]
fn unreachable_paper(e: &CalibrationError) -> ! {
    panic!("the built-in paper calibration is invalid: {e}")
}

impl CostModel for Calibration {
    fn processing_s(&self, structure: Structure, transactions: f64) -> f64 {
        self.elements.processing_s(structure, transactions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::PrepModel;

    #[test]
    fn paper_calibration_reproduces_its_sources() {
        let paper = Calibration::paper();
        assert_eq!(paper.elements.verify_s, 0.00110171);
        let prep = paper.elements.prep;
        assert!((prep.seconds(400.0) - 0.10).abs() < 0.002);
        assert!((prep.seconds(1000.0) - 0.95).abs() < 0.01);
        assert!(prep.seconds(300.0) < 0.07);
        assert_eq!(prep.seconds(0.0), 0.0);
        // Fig. 9(a): about 0.8 s for 500 transactions in the blockchain structure, nearly
        // double in the traditional same-domain structure.
        let chain = paper.processing_s(Structure::Blockchain, 500.0);
        let same = paper.processing_s(Structure::SameDomain, 500.0);
        assert!((0.6..0.9).contains(&chain), "{chain}");
        assert!((1.6..2.2).contains(&(same / chain)), "{}", same / chain);
        assert!(paper.processing_s(Structure::CrossDomain, 500.0) > 1.9 * same);
    }

    #[test]
    fn json_round_trip_and_validation() {
        let paper = Calibration::paper();
        assert_eq!(Calibration::from_json(&paper.to_json()).unwrap(), paper);
        let mut bad = paper.clone();
        bad.elements.prep = PrepModel::Linear {
            fixed_s: -1.0,
            per_transaction_s: 0.0,
        };
        assert!(matches!(
            Calibration::from_json(&bad.to_json()),
            Err(CalibrationError::Invalid(_))
        ));
        assert!(Calibration::from_json("{}").is_err());
    }
}
