//! SUMO traffic: floating-car data (`sumo --fcd-output`) turned into cross-border events.
//!
//! Each vehicle position is placed in a district: a rectangle of a districts file, or a
//! cell of a `rows x cols` grid over the bounding box of all positions. When a vehicle's
//! district changes between two of its samples, it crossed: one event (vehicle, time,
//! from, to).

use std::collections::HashMap;
use std::io::BufRead;

use quick_xml::events::Event;

use crate::traffic::Crossing;

/// Most vehicle samples read from one FCD file.
pub const MAX_SAMPLES: usize = 50_000_000;
/// Most districts in a districts file.
pub const MAX_DISTRICTS: usize = 256;

/// An FCD or districts file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SumoError {
    /// Not well-formed XML.
    #[error("FCD file: {0}")]
    Xml(String),
    /// A sample lacks a field or has a bad one.
    #[error("FCD file, sample {sample}: {reason}")]
    Sample {
        /// 1-based sample number.
        sample: usize,
        /// What is wrong.
        reason: String,
    },
    /// More than [`MAX_SAMPLES`] samples.
    #[error("FCD file has more than {MAX_SAMPLES} samples")]
    TooLarge,
    /// An element has more than [`MAX_ATTRIBUTES`] attributes.
    #[error("FCD file, sample {sample}: more than {MAX_ATTRIBUTES} attributes in one element")]
    TooManyAttributes {
        /// 1-based sample number.
        sample: usize,
    },
    /// The file ends inside an element (a cut-off file).
    #[error("FCD file is truncated: it ends inside {open} open element(s)")]
    Truncated {
        /// Elements opened and not closed.
        open: usize,
    },
    /// The districts file is wrong.
    #[error("districts file line {line}: {reason}")]
    Districts {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// An axis-aligned rectangle of the network plane (SUMO's metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Smallest x.
    pub xmin: f64,
    /// Smallest y.
    pub ymin: f64,
    /// Largest x.
    pub xmax: f64,
    /// Largest y.
    pub ymax: f64,
}

impl Rect {
    fn contains(&self, x: f64, y: f64) -> bool {
        (self.xmin..=self.xmax).contains(&x) && (self.ymin..=self.ymax).contains(&y)
    }
}

/// How positions map to districts.
#[derive(Debug, Clone, PartialEq)]
pub enum Districts {
    /// District `i` is the `i`-th rectangle (the first that contains a point wins).
    Rectangles(Vec<Rect>),
    /// A `rows x cols` grid over the bounding box of all positions, row-major from the
    /// smallest y.
    Grid {
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
    },
}

/// The header of a districts file.
pub const DISTRICTS_HEADER: &str = "xmin,ymin,xmax,ymax";

impl Districts {
    /// Parses a districts file: the header `xmin,ymin,xmax,ymax`, then one rectangle per
    /// line; district `i` is the `i`-th rectangle.
    pub fn parse(text: &str) -> Result<Self, SumoError> {
        let bad = |line: usize, reason: &str| SumoError::Districts {
            line,
            reason: reason.into(),
        };
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l.trim()) != Some(DISTRICTS_HEADER) {
            return Err(bad(1, "the first line must be `xmin,ymin,xmax,ymax`"));
        }
        let mut rects = Vec::new();
        for (n, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            if rects.len() == MAX_DISTRICTS {
                return Err(bad(n + 1, "too many districts"));
            }
            let v: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad(n + 1, "expected four numbers"))?;
            let [xmin, ymin, xmax, ymax] = v[..] else {
                return Err(bad(n + 1, "expected four numbers"));
            };
            if !(v.iter().all(|x| x.is_finite()) && xmin < xmax && ymin < ymax) {
                return Err(bad(n + 1, "need finite xmin < xmax and ymin < ymax"));
            }
            rects.push(Rect {
                xmin,
                ymin,
                xmax,
                ymax,
            });
        }
        if rects.len() < 2 {
            return Err(bad(1, "need at least two districts"));
        }
        Ok(Self::Rectangles(rects))
    }

    /// Number of districts.
    pub fn len(&self) -> usize {
        match self {
            Self::Rectangles(r) => r.len(),
            Self::Grid { rows, cols } => (rows * cols) as usize,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Sample {
    time: f64,
    vehicle: u32,
    x: f64,
    y: f64,
}

/// Most attributes of one element (SUMO writes about a dozen).
pub const MAX_ATTRIBUTES: usize = 64;

/// The values of the attributes `names` of `e`, in one pass over its attributes (linear
/// in their number, which is bounded).
fn attributes<const N: usize>(
    e: &quick_xml::events::BytesStart<'_>,
    names: [&[u8]; N],
    sample: usize,
) -> Result<[Option<String>; N], SumoError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (count, a) in e.attributes().with_checks(false).enumerate() {
        if count == MAX_ATTRIBUTES {
            return Err(SumoError::TooManyAttributes { sample });
        }
        let a = a.map_err(|err| SumoError::Xml(err.to_string()))?;
        if let Some(i) = names.iter().position(|n| *n == a.key.as_ref())
            && values[i].is_none()
        {
            let value = a
                .unescape_value()
                .map_err(|err| SumoError::Xml(err.to_string()))?;
            values[i] = Some(value.into_owned());
        }
    }
    Ok(values)
}

/// Reads SUMO floating-car data and returns the crossings between `districts`, sorted by
/// time, with vehicles numbered in order of first appearance.
pub fn import_fcd(input: impl BufRead, districts: &Districts) -> Result<Vec<Crossing>, SumoError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut time = None;
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut samples = Vec::new();
    let mut open = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| SumoError::Xml(e.to_string()))?;
        match &event {
            Event::Start(_) => open += 1,
            Event::End(_) => open = open.saturating_sub(1),
            _ => {}
        }
        match &event {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"timestep" => {
                let [t] = attributes(e, [b"time"], samples.len() + 1)?;
                let t = t
                    .and_then(|t| t.parse::<f64>().ok())
                    .filter(|t| t.is_finite() && *t >= 0.0);
                time = Some(t.ok_or_else(|| SumoError::Sample {
                    sample: samples.len() + 1,
                    reason: "timestep without a valid time".into(),
                })?);
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"vehicle" => {
                let sample = samples.len() + 1;
                if sample > MAX_SAMPLES {
                    return Err(SumoError::TooLarge);
                }
                let bad = |reason: &str| SumoError::Sample {
                    sample,
                    reason: reason.into(),
                };
                let time = time.ok_or_else(|| bad("vehicle outside a timestep"))?;
                let [id, x, y] = attributes(e, [b"id", b"x", b"y"], sample)?;
                let id = id.ok_or_else(|| bad("vehicle without an id"))?;
                let coordinate = |value: Option<String>| -> Result<f64, SumoError> {
                    value
                        .and_then(|v| v.parse::<f64>().ok())
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| bad("vehicle without finite x and y"))
                };
                let (x, y) = (coordinate(x)?, coordinate(y)?);
                let next = ids.len() as u32;
                let vehicle = *ids.entry(id).or_insert(next);
                samples.push(Sample {
                    time,
                    vehicle,
                    x,
                    y,
                });
            }
            Event::Eof if open > 0 => return Err(SumoError::Truncated { open }),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(crossings(&samples, districts))
}

fn crossings(samples: &[Sample], districts: &Districts) -> Vec<Crossing> {
    let bounds = samples.iter().fold(
        (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ),
        |(x0, y0, x1, y1), s| (x0.min(s.x), y0.min(s.y), x1.max(s.x), y1.max(s.y)),
    );
    let district_of = |x: f64, y: f64| -> Option<usize> {
        match districts {
            Districts::Rectangles(rects) => rects.iter().position(|r| r.contains(x, y)),
            Districts::Grid { rows, cols } => {
                let (x0, y0, x1, y1) = bounds;
                let cell = |v: f64, lo: f64, hi: f64, n: u32| {
                    let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
                    ((f * f64::from(n)) as usize).min(n as usize - 1)
                };
                Some(cell(y, y0, y1, *rows) * *cols as usize + cell(x, x0, x1, *cols))
            }
        }
    };
    let mut last: HashMap<u32, usize> = HashMap::new();
    let mut events = Vec::new();
    for s in samples {
        let Some(d) = district_of(s.x, s.y) else {
            continue;
        };
        match last.insert(s.vehicle, d) {
            Some(previous) if previous != d => events.push(Crossing {
                at: s.time,
                vehicle: u64::from(s.vehicle),
                from: previous,
                to: d,
            }),
            _ => {}
        }
    }
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const FCD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<fcd-export>
    <timestep time="0.00">
        <vehicle id="a" x="10.0" y="10.0" angle="90" speed="10"/>
        <vehicle id="b" x="290.0" y="10.0"/>
    </timestep>
    <timestep time="1.00">
        <vehicle id="a" x="160.0" y="10.0"/>
        <vehicle id="b" x="290.0" y="290.0"/>
    </timestep>
    <timestep time="2.00">
        <vehicle id="a" x="170.0" y="10.0"/>
    </timestep>
</fcd-export>"#;

    #[test]
    fn a_cut_off_file_is_refused_not_read_as_a_shorter_one() {
        let grid = Districts::Grid { rows: 2, cols: 2 };
        let cut = &FCD[..FCD.find("<timestep time=\"2.00\">").unwrap()];
        assert!(matches!(
            import_fcd(cut.as_bytes(), &grid),
            Err(SumoError::Truncated { open: 1 })
        ));
    }

    #[test]
    fn an_element_with_too_many_attributes_is_refused() {
        let many: String = (0..MAX_ATTRIBUTES + 1)
            .map(|i| format!(" a{i}=\"1\""))
            .collect();
        let xml = format!(
            "<fcd-export><timestep time=\"0\"><vehicle id=\"a\" x=\"1\" y=\"1\"{many}/></timestep></fcd-export>"
        );
        let grid = Districts::Grid { rows: 2, cols: 2 };
        assert!(matches!(
            import_fcd(xml.as_bytes(), &grid),
            Err(SumoError::TooManyAttributes { sample: 1 })
        ));
    }

    #[test]
    fn crossings_on_a_grid_over_the_bounding_box() {
        let events = import_fcd(FCD.as_bytes(), &Districts::Grid { rows: 2, cols: 2 }).unwrap();
        // a: cell (0,0) -> (0,1) at 1.0; b: (0,1) -> (1,1) at 1.0.
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].vehicle, events[0].from, events[0].to), (0, 0, 1));
        assert_eq!((events[1].vehicle, events[1].from, events[1].to), (1, 1, 3));
        assert!(events.iter().all(|e| e.at == 1.0));
    }

    #[test]
    fn crossings_between_rectangles() {
        let districts =
            Districts::parse("xmin,ymin,xmax,ymax\n0,0,150,300\n150,0,300,300\n").unwrap();
        let events = import_fcd(FCD.as_bytes(), &districts).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].from, events[0].to), (0, 1));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let grid = Districts::Grid { rows: 2, cols: 2 };
        assert!(matches!(
            import_fcd(
                &b"<fcd-export><vehicle id='a' x='1' y='2'/></fcd-export>"[..],
                &grid
            ),
            Err(SumoError::Sample { sample: 1, .. })
        ));
        assert!(matches!(
            import_fcd(&b"<fcd-export><timestep time='0'><vehicle id='a' x='NaN' y='2'/></timestep></fcd-export>"[..], &grid),
            Err(SumoError::Sample { .. })
        ));
        assert!(import_fcd(&b"<a><b></a>"[..], &grid).is_err());
        assert!(Districts::parse("x\n").is_err());
        assert!(Districts::parse("xmin,ymin,xmax,ymax\n0,0,1,1\n").is_err());
        assert!(Districts::parse("xmin,ymin,xmax,ymax\n0,0,1,1\n1,1,0,0\n").is_err());
    }
}
