//! JUnit XML (quick-junit): one test suite per scenario, one test case per
//! property id (plus `expected-unique-states` when the scenario pins a
//! count). A failure carries the trace summary and the folder of its traces.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::ci::{one_line, trace_summary, Checked};
use crate::escape::{xml_attr as x, xml_text};

/// The JUnit report of `checked`; `timed` adds each suite's search time
/// (left out for reproducible output).
pub fn junit(checked: &[Checked], timed: bool) -> String {
    let mut report = Report::new("klpcheck");
    for c in checked {
        let r = c.report;
        let mut suite = TestSuite::new(x(&r.spec.name));
        if timed {
            suite.set_time(Duration::from_secs_f64(r.stats.seconds.max(0.0)));
        }
        suite.add_property(quick_junit::Property::new("path", x(&r.spec.path)));
        suite.add_property(quick_junit::Property::new("engine", x(&r.engine)));
        if !r.complete {
            suite.add_property(quick_junit::Property::new(
                "incomplete",
                x(r.incomplete_reason
                    .as_deref()
                    .unwrap_or("search stopped early")),
            ));
        }
        for p in &r.properties {
            let status = if p.ok {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(x(&one_line(p)));
                s.set_type(x(&format!("{} property", p.kind)));
                let mut description = trace_summary(p);
                if let Some(folder) = c.folders.get(&p.id) {
                    description += &format!("traces: {folder}\n");
                }
                if !description.is_empty() {
                    s.set_description(xml_text(&description));
                }
                s
            };
            let mut case = TestCase::new(x(&p.id), status);
            case.set_classname(x(&r.spec.name));
            suite.add_test_case(case);
        }
        if let Some(n) = r.expected_unique_states {
            let status = if r.count_ok() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "expected {n} unique states, got {}",
                    r.stats.unique_states
                ));
                s
            };
            let mut case = TestCase::new("expected-unique-states", status);
            case.set_classname(x(&r.spec.name));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().expect("JUnit XML serializes")
}
