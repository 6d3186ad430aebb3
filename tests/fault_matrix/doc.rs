//! `docs/fault-matrix.md` shows the same table the cells check. This test reads the
//! document and writes nothing: when a cell changes, change the row by hand.

use std::collections::BTreeSet;

use crate::expect::{Expect, MATRIX};
use crate::{FAULTS, Protocol, fault_named, needs_a_row};

const DOC: &str = include_str!("../../docs/fault-matrix.md");

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Markdown code for `text`; a double backtick fence when the text holds a backtick.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// A cell as its row in the document reads.
fn render(e: &Expect) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        e.fault,
        e.protocol.name(),
        code(e.text),
        yes_no(e.counted),
        yes_no(e.falls_back),
        e.gives_up.describe(),
        yes_no(e.server_told),
    )
}

/// The rows of the document's table, without its header.
fn doc_rows() -> Vec<String> {
    DOC.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("| ") && !l.starts_with("| fault ") && !l.starts_with("|--"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_document_shows_every_tested_cell_and_nothing_else() {
    let rendered: Vec<String> = MATRIX.iter().map(render).collect();
    let expected: Vec<String> = rendered
        .iter()
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        doc_rows() == expected,
        "docs/fault-matrix.md is out of step with the tests; its rows should read:\n{}",
        rendered.join("\n")
    );
}

#[test]
fn every_fault_has_one_row_per_protocol_and_a_test_per_row() {
    let cells: BTreeSet<(&str, &str)> = MATRIX
        .iter()
        .map(|e| (e.fault, e.protocol.name()))
        .collect();
    assert_eq!(cells.len(), MATRIX.len(), "a cell appears twice");
    let tested: BTreeSet<(&str, &str)> = FAULTS
        .iter()
        .flat_map(|f| Protocol::ALL.iter().map(move |p| (*f, p.name())))
        .collect();
    assert_eq!(cells, tested, "every row has a test and every test a row");
    for name in FAULTS {
        let fault = fault_named(name);
        assert_eq!(fault.name(), *name);
        assert!(needs_a_row(&fault));
    }
}

#[test]
fn the_readme_shows_the_same_matrix_as_the_document() {
    let readme = include_str!("../../README.md");
    let table_rows = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("| ") && l.split('|').count() == 9)
            .filter(|l| !l.starts_with("| fault ") && !l.starts_with("|--"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        table_rows(readme),
        doc_rows(),
        "README.md's fault matrix differs from the document's"
    );
}
